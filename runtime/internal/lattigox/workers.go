package lattigox

import (
	"context"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
)

// Workers are the evaluators a function splits its work over, one per
// goroutine, sharing their keys, the pool it borrows extended-basis
// elements from, and the context that stops the work between rotations
// and between giant steps.
type Workers struct {
	Evals []*hefloat.Evaluator
	Pool  Pool            // nil: allocate every element
	Ctx   context.Context // nil: never stopped
}

// stopped is Ctx's error once it is done.
func (w Workers) stopped() error {
	if w.Ctx == nil {
		return nil
	}
	return w.Ctx.Err()
}

// Pool lends degree-1 elements in QP at levelQ and every P prime. An
// element handed out is the borrower's alone, with arbitrary contents.
type Pool interface {
	Element(p *hefloat.Parameters, levelQ int) *rlwe.Element[ringqp.Poly]
	Release(els ...*rlwe.Element[ringqp.Poly]) // nil elements are skipped
}

func (w Workers) element(p *hefloat.Parameters, levelQ int) *rlwe.Element[ringqp.Poly] {
	return borrow(w.Pool, p, levelQ)
}

func (w Workers) release(els ...*rlwe.Element[ringqp.Poly]) { giveBack(w.Pool, els...) }

func borrow(pool Pool, p *hefloat.Parameters, levelQ int) *rlwe.Element[ringqp.Poly] {
	if pool == nil {
		return rlwe.NewElementExtended(p, 1, levelQ, p.MaxLevelP())
	}
	return pool.Element(p, levelQ)
}

func giveBack(pool Pool, els ...*rlwe.Element[ringqp.Poly]) {
	if pool != nil {
		pool.Release(els...)
	}
}
