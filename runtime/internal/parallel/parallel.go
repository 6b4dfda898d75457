// Package parallel runs independent pieces of work on a fixed set of
// goroutines, one per worker, so that each piece can use its worker's own
// Lattigo evaluator (Lattigo is not thread-safe).
package parallel

import (
	"errors"
	"sync"
	"sync/atomic"
)

// ForEach calls f(w, i) for i in [0, n) on workers goroutines, each
// taking the next i as soon as it is free (worker w uses evaluator w, where
// there is one), and joins the errors. Taking items in order lets a caller
// put the costly ones first.
func ForEach(workers, n int, f func(w, i int) error) error {
	errs := make([]error, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for errs[w] == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				errs[w] = f(w, i)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
