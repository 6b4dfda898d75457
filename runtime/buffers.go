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
// evaluation, pages the kernel then faulted in: up to 3 s of system time
// on top of 3 s of work. A nil *buffers allocates every time. Safe for
// concurrent use; an element handed out is the borrower's alone, with
// arbitrary contents.
type buffers struct {
	params  hefloat.Parameters
	levels  []sync.Pool // of *rlwe.Element[ringqp.Poly], degree 1, in QP at that level
	workers sync.Pool   // of []*hefloat.Evaluator
}

func newBuffers(p hefloat.Parameters) *buffers {
	b := &buffers{params: p, levels: make([]sync.Pool, p.MaxLevel()+1)}
	for l := range b.levels {
		b.levels[l].New = func() any { return rlwe.NewElementExtended(p, 1, l, p.MaxLevelP()) }
	}
	return b
}

// element returns a degree-1 element in QP at levelQ (and every P prime).
func (b *buffers) element(p *hefloat.Parameters, levelQ int) *rlwe.Element[ringqp.Poly] {
	if b == nil {
		return rlwe.NewElementExtended(p, 1, levelQ, p.MaxLevelP())
	}
	return b.levels[levelQ].Get().(*rlwe.Element[ringqp.Poly])
}

// release takes elements back; nil ones are skipped.
func (b *buffers) release(els ...*rlwe.Element[ringqp.Poly]) {
	if b == nil {
		return
	}
	for _, e := range els {
		if e != nil {
			b.levels[e.Value[0].Q.Level()].Put(e)
		}
	}
}

// evaluators returns n evaluators with buffers of their own, sharing the
// keys of eval.
func (b *buffers) evaluators(eval *hefloat.Evaluator, n int) []*hefloat.Evaluator {
	if b != nil {
		if evals, ok := b.workers.Get().([]*hefloat.Evaluator); ok && len(evals) == n {
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
		b.workers.Put(evals)
	}
}
