package benchmarks

import (
	"sync"
	"time"
)

// Roofline is what this machine's memory and integer units sustain, the
// physical floor of a batch evaluation (see BatchWork).
type Roofline struct {
	Workers int
	// Bandwidth is bytes per second read and written by y[i] += x[i] over
	// buffers far larger than the caches, all workers at once.
	Bandwidth float64
	// MACRate is uint64 multiply-adds per second, all workers at once, in
	// the batch accumulation's loop (four products summed into one
	// accumulator per element) on data in the first-level cache.
	MACRate float64
}

// Floor is the least time work takes on m: its multiply-adds and its
// bytes overlap at best, so the larger of the two.
func (m *Roofline) Floor(w BatchWork) float64 {
	return max(w.MACs/m.MACRate, w.Bytes/m.Bandwidth)
}

// streamWords is each worker's buffer length in uint64s (128 MiB): far
// beyond any cache.
const streamWords = 16 << 20

// MeasureRoofline measures m with workers goroutines, the best of reps
// runs of each loop.
func MeasureRoofline(workers, reps int) *Roofline {
	m := &Roofline{Workers: workers}
	xs, ys := make([][]uint64, workers), make([][]uint64, workers)
	for w := range workers {
		xs[w], ys[w] = make([]uint64, streamWords), make([]uint64, streamWords)
		for i := range xs[w] {
			xs[w][i] = uint64(i)
		}
	}
	for range reps {
		secs := parallelSeconds(workers, func(w int) {
			x, y := xs[w], ys[w][:len(xs[w])]
			for i := range x {
				y[i] += x[i]
			}
		})
		m.Bandwidth = max(m.Bandwidth, float64(workers*streamWords*24)/secs)
	}
	xs, ys = nil, nil
	const words, rounds = 256, 1 << 15 // 2 KiB per operand, four operands
	sink := make([]uint64, workers)
	for range reps {
		secs := parallelSeconds(workers, func(w int) {
			var x [4][words]uint64
			var acc [words]uint64
			for k := range x {
				for t := range x[k] {
					x[k][t] = uint64(t*k + w)
				}
			}
			w0, w1, w2, w3 := uint64(3), uint64(5), uint64(7), uint64(11)
			for range rounds {
				for t := range acc {
					acc[t] += x[0][t]*w0 + x[1][t]*w1 + x[2][t]*w2 + x[3][t]*w3
				}
				w0++
			}
			sink[w] = acc[words-1]
		})
		m.MACRate = max(m.MACRate, float64(workers*words*rounds*4)/secs)
	}
	return m
}

// parallelSeconds runs f(w) on workers goroutines at once and returns the
// wall time until the last one ends.
func parallelSeconds(workers int, f func(w int)) float64 {
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(w)
		}()
	}
	wg.Wait()
	return time.Since(start).Seconds()
}
