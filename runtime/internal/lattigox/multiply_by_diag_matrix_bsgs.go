// Mirrors lattigo/v5@v5.0.7 he/linear_transformation_evaluator.go:
// MultiplyByDiagMatrixBSGS: the inner sums of plaintext-rotation products
// in QP with Lattigo's overflow margins, each giant step's c1 brought down
// and key-switched lazily, the automorphism applied on the way into the
// accumulator, and one ModDown at the end. hecc's copy takes any split of
// the diagonals into giant and baby steps (Lattigo's splits at a power of
// two), runs the giant steps on every worker, each with its own
// accumulator, and encodes the diagonals a term carries as values on the
// worker that multiplies them (OnDemand).

package lattigox

import (
	"fmt"
	"slices"

	"github.com/hecc-dev/hecc/runtime/internal/parallel"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
)

// BabyTerm is a diagonal, pre-rotated by minus its giant step and encoded
// in QP (NTT and Montgomery form), and the baby step it multiplies. A term
// encoded on demand carries the diagonal's values instead of Pt: the
// worker that multiplies it embeds them first (OnDemand).
type BabyTerm struct {
	Baby   int
	Pt     ringqp.Poly
	Values []float64
}

// TermEmbedder encodes a term's values as Pt would hold them; one per
// goroutine.
type TermEmbedder interface {
	Embed(values []float64, meta *rlwe.MetaData, out ringqp.Poly) error
}

// OnDemand embeds the terms that carry values: worker k with Embedders[k],
// with Meta's scale and flags, into a polynomial of its own that each
// term then overwrites.
type OnDemand struct {
	Embedders []TermEmbedder
	Meta      *rlwe.MetaData
}

// MultiplyByDiagMatrixBSGS returns Σ_g rot_g(Σ_b pt ⊙ rot_b(ct)) over the
// giant steps g of blocks and their terms, not rescaled, with the scale
// ct's times scale (the diagonals'). The workers take the giant steps in
// the order giants lists them. od, needed when a term carries values,
// holds an embedder per worker.
func MultiplyByDiagMatrixBSGS(w Workers, ct *rlwe.Ciphertext, giants []int, blocks map[int][]BabyTerm, scale rlwe.Scale, od *OnDemand) (*rlwe.Ciphertext, error) {
	evals := w.Evals
	var babies []int
	for _, terms := range blocks {
		for _, t := range terms {
			if t.Baby != 0 && !slices.Contains(babies, t.Baby) {
				babies = append(babies, t.Baby)
			}
		}
	}
	slices.Sort(babies)
	rotated, err := RotateHoistedQP(w, ct, babies)
	if err != nil {
		return nil, err
	}
	defer w.ReleaseAll(rotated)
	p := evals[0].GetParameters()
	levelQ, levelP := ct.Level(), p.MaxLevelP()
	accs := make([]*GiantAccumulator, len(evals))
	defer func() {
		for _, acc := range accs {
			if acc != nil {
				acc.release(w.Pool)
			}
		}
	}()
	if err := parallel.ForEach(len(evals), len(giants), func(k, i int) error {
		if err := w.stopped(); err != nil {
			return err
		}
		if accs[k] == nil {
			accs[k] = NewGiantAccumulator(p, w.Pool, levelQ, levelP)
			if od != nil {
				accs[k].embedWith(p, w.Pool, od.Embedders[k], od.Meta)
			}
		}
		return accs[k].Add(evals[k], giants[i], blocks[giants[i]], rotated)
	}); err != nil {
		if stop := w.stopped(); stop != nil {
			return nil, stop // every worker's error is this one
		}
		return nil, err
	}
	ringQP := p.RingQP().AtLevel(levelQ, levelP)
	var sum *rlwe.Element[ringqp.Poly]
	for _, acc := range accs {
		if acc == nil { // a worker left without a giant step
			continue
		}
		ringQP.Reduce(acc.out.Value[0], acc.out.Value[0])
		ringQP.Reduce(acc.out.Value[1], acc.out.Value[1])
		if sum == nil {
			sum = acc.out
		} else {
			ringQP.Add(sum.Value[0], acc.out.Value[0], sum.Value[0])
			ringQP.Add(sum.Value[1], acc.out.Value[1], sum.Value[1])
		}
	}
	out := hefloat.NewCiphertext(*p, 1, levelQ)
	*out.MetaData = *ct.MetaData
	out.Scale = ct.Scale.Mul(scale)
	_ = parallel.ForEach(len(evals), len(out.Value), func(k, i int) error {
		evals[k].ModDownQPtoQNTT(levelQ, levelP, sum.Value[i].Q, sum.Value[i].P, out.Value[i])
		return nil
	})
	return out, nil
}

// GiantAccumulator sums one worker's giant steps in QP, reducing before
// the lazy sums could overflow 64 bits.
type GiantAccumulator struct {
	ringQP               ringqp.Ring
	levelQ, levelP       int
	margin               int // lazy additions allowed between reductions
	inner, switched, out *rlwe.Element[ringqp.Poly]
	n                    int // giant steps accumulated
	// On demand: the embedder of the terms that carry values, and the
	// element whose first polynomial each of them is embedded into.
	embedder TermEmbedder
	meta     *rlwe.MetaData
	plain    *rlwe.Element[ringqp.Poly]
}

// NewGiantAccumulator borrows its elements from pool (nil: allocates);
// every one is written before it is read.
func NewGiantAccumulator(p *hefloat.Parameters, pool Pool, levelQ, levelP int) *GiantAccumulator {
	a := &GiantAccumulator{
		ringQP: p.RingQP().AtLevel(levelQ, levelP),
		levelQ: levelQ, levelP: levelP,
		margin:   lazyMargin(p, levelQ, levelP),
		inner:    borrow(pool, p, levelQ),
		switched: borrow(pool, p, levelQ),
		out:      borrow(pool, p, levelQ),
	}
	a.switched.IsNTT, a.out.IsNTT = true, true
	return a
}

func (a *GiantAccumulator) release(pool Pool) { giveBack(pool, a.inner, a.switched, a.out, a.plain) }

// embedWith has a embed the terms that carry values with e, into an
// element borrowed from pool.
func (a *GiantAccumulator) embedWith(p *hefloat.Parameters, pool Pool, e TermEmbedder, meta *rlwe.MetaData) {
	a.embedder, a.meta, a.plain = e, meta, borrow(pool, p, a.levelQ)
}

// embedTerm embeds a term's values into a's own polynomial.
func (a *GiantAccumulator) embedTerm(values []float64) (ringqp.Poly, error) {
	if a.embedder == nil {
		return ringqp.Poly{}, fmt.Errorf("a diagonal encoded on demand, and no embedder")
	}
	pt := a.plain.Value[0]
	return pt, a.embedder.Embed(values, a.meta, pt)
}

// Add accumulates rot_g(Σ_b pt_b ⊙ rot_b(x)), with rot_b(x) in rotated
// (RotateHoistedQP's): the inner sum in QP, then, for g ≠ 0, c1 brought
// down to Q and key-switched lazily into QP, and the automorphism applied
// on the way into the accumulator.
func (a *GiantAccumulator) Add(eval *hefloat.Evaluator, g int, terms []BabyTerm, rotated map[int]*rlwe.Element[ringqp.Poly]) error {
	rq := a.ringQP
	for i, t := range terms {
		pt := t.Pt
		if t.Values != nil {
			var err error
			if pt, err = a.embedTerm(t.Values); err != nil {
				return fmt.Errorf("giant step %d, baby step %d: %w", g, t.Baby, err)
			}
		}
		x := rotated[t.Baby]
		mulAccumulate(rq, a.margin, i, pt, x.Value[0], a.inner.Value[0])
		mulAccumulate(rq, a.margin, i, pt, x.Value[1], a.inner.Value[1])
	}
	rq.Reduce(a.inner.Value[0], a.inner.Value[0])
	rq.Reduce(a.inner.Value[1], a.inner.Value[1])
	if g == 0 {
		if a.n == 0 {
			a.out.Value[0].Copy(a.inner.Value[0])
			a.out.Value[1].Copy(a.inner.Value[1])
		} else {
			rq.AddLazy(a.out.Value[0], a.inner.Value[0], a.out.Value[0])
			rq.AddLazy(a.out.Value[1], a.inner.Value[1], a.out.Value[1])
		}
	} else {
		p := eval.GetParameters()
		galEl := p.GaloisElement(g)
		evk, err := eval.CheckAndGetGaloisKey(galEl)
		if err != nil {
			return fmt.Errorf("giant step %d: %w", g, err)
		}
		eval.ModDownQPtoQNTT(a.levelQ, a.levelP, a.inner.Value[1].Q, a.inner.Value[1].P, a.inner.Value[1].Q)
		eval.GadgetProductLazy(a.levelQ, a.inner.Value[1].Q, &evk.GadgetCiphertext, a.switched)
		rq.Add(a.switched.Value[0], a.inner.Value[0], a.switched.Value[0])
		index := eval.AutomorphismIndex(galEl)
		if a.n == 0 {
			rq.AutomorphismNTTWithIndex(a.switched.Value[0], index, a.out.Value[0])
			rq.AutomorphismNTTWithIndex(a.switched.Value[1], index, a.out.Value[1])
		} else {
			rq.AutomorphismNTTWithIndexThenAddLazy(a.switched.Value[0], index, a.out.Value[0])
			rq.AutomorphismNTTWithIndexThenAddLazy(a.switched.Value[1], index, a.out.Value[1])
		}
	}
	a.n++
	if a.n%a.margin == 0 {
		rq.Reduce(a.out.Value[0], a.out.Value[0])
		rq.Reduce(a.out.Value[1], a.out.Value[1])
	}
	return nil
}

// lazyMargin is how many lazy products (each below 2q) a 64-bit sum holds
// in every prime of QP before it must be reduced: Lattigo's
// QiOverflowMargin and PiOverflowMargin, halved as Lattigo's lazy paths
// halve them.
func lazyMargin(p *hefloat.Parameters, levelQ, levelP int) int {
	return max(1, min(p.QiOverflowMargin(levelQ), p.PiOverflowMargin(levelP))>>1)
}

// mulAccumulate is the k-th term of acc = Σ a⊙b in Montgomery form: it
// sets acc at k = 0, adds lazily after, and reduces every margin terms.
func mulAccumulate(rq ringqp.Ring, margin, k int, a, b, acc ringqp.Poly) {
	if k == 0 {
		rq.MulCoeffsMontgomeryLazy(a, b, acc)
	} else {
		rq.MulCoeffsMontgomeryLazyThenAddLazy(a, b, acc)
	}
	if k%margin == margin-1 {
		rq.Reduce(acc, acc)
	}
}
