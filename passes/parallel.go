package passes

import (
	"errors"
	"runtime"
	"sync"

	"github.com/hecc-dev/hecc/ir"
)

// sampleWorkers is how many goroutines forSamples runs n samples on: one
// per core, at most one per sample.
func sampleWorkers(n int) int { return max(1, min(runtime.GOMAXPROCS(0), n)) }

// forSamples calls f(w, i) for every i < n on workers goroutines, worker w
// taking every workers-th i from w, and returns when all are done. f may
// only write what belongs to its worker or its sample.
func forSamples(n, workers int, f func(w, i int)) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				f(w, i)
			}
		}()
	}
	wg.Wait()
}

// batchSize is how many samples go through the graph together: each
// affine map's matrix is then read once for them (ir.Linear.ApplyBatch).
const batchSize = 8

// forBatches calls f(w, lo, hi) for every batch [lo, hi) of at most
// batchSize of n samples, on one goroutine per core at most, w being the
// goroutine's index, and returns when all are done. f may only write what
// belongs to its worker or its samples.
func forBatches(n int, f func(w, lo, hi int)) {
	batches := (n + batchSize - 1) / batchSize
	forSamples(batches, sampleWorkers(batches), func(w, b int) {
		f(w, b*batchSize, min(n, (b+1)*batchSize))
	})
}

// batchWorkers is how many goroutines forBatches runs n samples on.
func batchWorkers(n int) int { return sampleWorkers((n + batchSize - 1) / batchSize) }

// interpretBatch interprets samples[lo:hi] on g's one input at once and
// returns their outputs; an error goes to errs at the sample it is about
// (lo for one about the graph), as Interpret gives it.
func interpretBatch(g *ir.Graph, samples []*ir.Tensor, lo, hi int, errs []error, observe func(n *ir.Node, vs [][]float64)) []map[string]*ir.Tensor {
	in := g.Inputs()[0].Name
	inputs := make([]map[string]*ir.Tensor, hi-lo)
	for k, x := range samples[lo:hi] {
		inputs[k] = map[string]*ir.Tensor{in: x}
	}
	outs, err := ir.InterpretBatch(g, inputs, ir.BatchOptions{Observe: observe})
	var se *ir.SampleError
	switch {
	case errors.As(err, &se):
		errs[lo+se.Sample] = se.Err
	case err != nil:
		errs[lo] = err
	}
	return outs
}

// errorChunk is how many samples sumPolyErrors evaluates between sums.
const errorChunk = 64

// sumPolyErrors adds to sums[i][j], for every sample, p(t) − exact(t) of
// target i's polynomial p at element j of its input t, index giving the
// target of each polynomial's input node. Samples are evaluated on every
// core, a chunk at a time, and their errors summed in sample order: the
// sums round as a loop over the samples rounds them.
func (s *search) sumPolyErrors(samples []*ir.Tensor, index map[*ir.Node]int, sums [][]float64) error {
	errs := make([]error, len(samples))
	diffs := make([][][]float64, min(errorChunk, len(samples))) // [sample in chunk][target]
	for k := range diffs {
		diffs[k] = make([][]float64, len(sums))
		for i, sum := range sums {
			if sum != nil {
				diffs[k][i] = make([]float64, len(sum))
			}
		}
	}
	for lo := 0; lo < len(samples); lo += errorChunk {
		n := min(errorChunk, len(samples)-lo)
		forBatches(n, func(_, blo, bhi int) {
			interpretBatch(s.g, samples, lo+blo, lo+bhi, errs, func(n *ir.Node, vs [][]float64) {
				i, ok := index[n]
				if !ok {
					return
				}
				p := s.targets[i].node.Poly
				for k, v := range vs {
					d := diffs[blo+k][i]
					p.EvalSlice(d, v)
					for j, t := range v {
						d[j] -= p.EvalExact(t)
					}
				}
			})
		})
		for k := range n {
			if errs[lo+k] != nil {
				return errs[lo+k]
			}
			for i, sum := range sums {
				for j, d := range diffs[k][i] {
					sum[j] += d
				}
			}
		}
	}
	return nil
}
