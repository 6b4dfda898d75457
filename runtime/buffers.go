package runtime

import (
	"sync"
	"sync/atomic"

	"github.com/hecc-dev/hecc/runtime/internal/lattigox"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
)

// buffers lends the extended-basis elements an evaluation works in, by
// level, and the workers' evaluators, so that one evaluation reuses what
// the previous one freed. Allocating them afresh cost LeNet-5 2.5 GB an
// evaluation, pages the kernel then faulted in: up to 6 s of system time
// on top of 3 s of work. Neither holds a key: a prepared circuit keeps one
// buffers for the servers of every key set, so what they hold grows with
// the evaluations running at once, not with the key sets. A nil *buffers
// allocates every element afresh. Safe for concurrent use; an element or evaluator
// handed out is the borrower's alone, with arbitrary contents.
type buffers struct {
	params hefloat.Parameters
	base   *hefloat.Evaluator // keyless: copied for the workers, and bound to servers' keys
	// levels holds the free elements, degree 1, in QP, by the level they
	// were allocated at; one is lent at that level or below, its limbs
	// above hidden until it comes back, so that what a deep circuit keeps
	// is what its evaluations borrow at once, not that at every level.
	mu        sync.Mutex
	levels    [][]*rlwe.Element[ringqp.Poly]
	allocated map[*rlwe.Element[ringqp.Poly]]int // every element's level
	workers   freeList[*hefloat.Evaluator]       // keyless
	bytes     atomic.Int64                       // of everything allocated, lent or not
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
	b := &buffers{params: p, base: hefloat.NewEvaluator(p, nil), levels: make([][]*rlwe.Element[ringqp.Poly], p.MaxLevel()+1),
		allocated: map[*rlwe.Element[ringqp.Poly]]int{}}
	b.bytes.Store(evaluatorBytes(p))
	return b
}

// Element returns a degree-1 element in QP at levelQ (and every P prime):
// a free one of the lowest level at or above levelQ, else a new one.
func (b *buffers) Element(p *hefloat.Parameters, levelQ int) *rlwe.Element[ringqp.Poly] {
	if b == nil {
		return rlwe.NewElementExtended(p, 1, levelQ, p.MaxLevelP())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for l := levelQ; l < len(b.levels); l++ {
		if n := len(b.levels[l]); n > 0 {
			e := b.levels[l][n-1]
			b.levels[l] = b.levels[l][:n-1]
			for i := range e.Value {
				e.Value[i].Q.Coeffs = e.Value[i].Q.Coeffs[:levelQ+1]
			}
			return e
		}
	}
	b.bytes.Add(2 * polyBytes(*p, levelQ+1+p.PCount()))
	e := rlwe.NewElementExtended(p, 1, levelQ, p.MaxLevelP())
	b.allocated[e] = levelQ
	return e
}

// Release takes elements back, with every limb they were allocated with;
// nil ones are skipped.
func (b *buffers) Release(els ...*rlwe.Element[ringqp.Poly]) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range els {
		if e == nil {
			continue
		}
		l, ok := b.allocated[e]
		if !ok {
			continue // not lent by b
		}
		for i := range e.Value {
			e.Value[i].Q.Coeffs = e.Value[i].Q.Coeffs[:l+1]
		}
		b.levels[l] = append(b.levels[l], e)
	}
}

// evaluators returns n evaluators with buffers of their own, bound to the
// keys of keyed (see lattigox.WithKeysOf).
func (b *buffers) evaluators(keyed *hefloat.Evaluator, n int) []*hefloat.Evaluator {
	evals := make([]*hefloat.Evaluator, n)
	for i := range evals {
		e, ok := b.workers.get()
		if !ok {
			e = b.base.ShallowCopy()
			b.bytes.Add(evaluatorBytes(b.params))
		}
		evals[i] = lattigox.WithKeysOf(e, keyed)
	}
	return evals
}

// releaseEvaluators takes back what evaluators lent, unbound from their
// keys: the pool keeps no key set alive.
func (b *buffers) releaseEvaluators(evals []*hefloat.Evaluator) {
	for _, e := range evals {
		b.workers.put(lattigox.WithKeysOf(e, b.base))
	}
}

// polyBytes is the size of a polynomial of limbs residues per coefficient.
func polyBytes(p hefloat.Parameters, limbs int) int64 { return int64(limbs) * int64(p.N()) * 8 }

// evaluatorBytes is what one evaluator's buffers take: Lattigo's
// key-switching buffers (a degree-2 ciphertext, six elements of QP, one
// per decomposition part, a polynomial and a digit vector), the scheme's
// three polynomials, and the encoder's slot buffer.
func evaluatorBytes(p hefloat.Parameters) int64 {
	q, qp := p.QCount(), p.QCount()+p.PCount()
	parts := p.BaseRNSDecompositionVectorSize(p.MaxLevelQ(), 0)
	return polyBytes(p, 3*q+6*qp+parts*qp+q+1+3*q) + int64(p.N())*16
}
