package runtime

import (
	"sync"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
)

// buffers lends the extended-basis elements an evaluation works in, by
// level, and the workers' evaluators, so that one evaluation reuses what
// the previous one freed. Allocating them afresh cost LeNet-5 2.5 GB an
// evaluation, pages the kernel then faulted in: up to 6 s of system time
// on top of 3 s of work. A nil *buffers allocates every time. Safe for
// concurrent use; an element handed out is the borrower's alone, with
// arbitrary contents.
type buffers struct {
	levels  []freeList[*rlwe.Element[ringqp.Poly]] // degree 1, in QP at that level
	workers freeList[[]*hefloat.Evaluator]
}

// freeList keeps what it is given until it is asked for it again: unlike
// a sync.Pool it drops nothing at a garbage collection, which an
// evaluation's own allocations trigger every time.
type freeList[T any] struct {
	mu    sync.Mutex
	items []T
}

func (f *freeList[T]) get() (T, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var x T
	if len(f.items) == 0 {
		return x, false
	}
	x = f.items[len(f.items)-1]
	f.items = f.items[:len(f.items)-1]
	return x, true
}

func (f *freeList[T]) put(x T) {
	f.mu.Lock()
	f.items = append(f.items, x)
	f.mu.Unlock()
}

func newBuffers(p hefloat.Parameters) *buffers {
	return &buffers{levels: make([]freeList[*rlwe.Element[ringqp.Poly]], p.MaxLevel()+1)}
}

// Element returns a degree-1 element in QP at levelQ (and every P prime).
func (b *buffers) Element(p *hefloat.Parameters, levelQ int) *rlwe.Element[ringqp.Poly] {
	if b != nil {
		if e, ok := b.levels[levelQ].get(); ok {
			return e
		}
	}
	return rlwe.NewElementExtended(p, 1, levelQ, p.MaxLevelP())
}

// Release takes elements back; nil ones are skipped.
func (b *buffers) Release(els ...*rlwe.Element[ringqp.Poly]) {
	if b == nil {
		return
	}
	for _, e := range els {
		if e != nil {
			b.levels[e.Value[0].Q.Level()].put(e)
		}
	}
}

// evaluators returns n evaluators with buffers of their own, sharing the
// keys of eval.
func (b *buffers) evaluators(eval *hefloat.Evaluator, n int) []*hefloat.Evaluator {
	if b != nil {
		if evals, ok := b.workers.get(); ok && len(evals) == n {
			return evals
		}
	}
	evals := make([]*hefloat.Evaluator, n)
	for i := range evals {
		evals[i] = eval.ShallowCopy()
	}
	return evals
}

func (b *buffers) releaseEvaluators(evals []*hefloat.Evaluator) {
	if b != nil {
		b.workers.put(evals)
	}
}
