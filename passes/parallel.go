package passes

import (
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

// errorChunk is how many samples sumPolyErrors evaluates between sums.
const errorChunk = 64

// sumPolyErrors adds to sums[i][j], for every sample, p(t) − exact(t) of
// target i's polynomial p at element j of its input t, index giving the
// target of each polynomial's input node. Samples are evaluated on every
// core, a chunk at a time, and their errors summed in sample order: the
// sums round as a loop over the samples rounds them.
func (s *search) sumPolyErrors(samples []*ir.Tensor, index map[*ir.Node]int, sums [][]float64) error {
	in := s.g.Inputs()[0]
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
		forSamples(n, sampleWorkers(n), func(_, k int) {
			_, errs[lo+k] = ir.InterpretObserved(s.g, map[string]*ir.Tensor{in.Name: samples[lo+k]}, func(n *ir.Node, v []float64) {
				i, ok := index[n]
				if !ok {
					return
				}
				p, d := s.targets[i].node.Poly, diffs[k][i]
				p.EvalSlice(d, v)
				for j, t := range v {
					d[j] -= p.EvalExact(t)
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
