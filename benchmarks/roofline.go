package benchmarks

import (
	"sync"
	"time"

	"github.com/hecc-dev/hecc/runtime"
)

// Roofline is what this machine's memory and integer units sustain, the
// physical floor of a batch evaluation (see BatchWork).
type Roofline struct {
	Workers int
	// Bandwidth is bytes per second read and written by y[i] += x[i] over
	// buffers far larger than the caches, all workers at once.
	Bandwidth float64
	// MACRate is multiply-adds per second, all workers at once, of the
	// batch accumulation's kernel on data in the first-level cache
	// (runtime.BatchKernelMACs).
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
	const rounds = 1 << 11
	for range reps {
		macs := make([]float64, workers)
		secs := parallelSeconds(workers, func(w int) { macs[w] = runtime.BatchKernelMACs(rounds) })
		m.MACRate = max(m.MACRate, float64(workers)*macs[0]/secs)
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
