package runtime

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hecc-dev/hecc/plan"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
)

// linearTransform is an encoded transformation: for each giant step, the
// baby steps and the pre-rotated diagonals they multiply. The diagonals are
// encoded in the extended basis QP (NTT and Montgomery form) because the
// products are accumulated there, as in Lattigo's own BSGS evaluator: baby
// steps stay in QP (no ModDown each), every giant step brings down only the
// c1 it key-switches, and the result comes down once at the end.
type linearTransform struct {
	split  plan.Split
	level  int
	slots  int
	scale  rlwe.Scale         // of the encoded diagonals
	blocks map[int][]babyTerm // giant step → terms
}

type babyTerm struct {
	baby int
	pt   ringqp.Poly
}

// encodeLinearTransform encodes the diagonals at level with scale, on
// workers goroutines with an encoder each.
func encodeLinearTransform(p hefloat.Parameters, ecd *hefloat.Encoder, diags map[int][]float64, sp plan.Split, level, logSlots int, scale rlwe.Scale, workers int) (*linearTransform, error) {
	slots := 1 << logSlots
	lt := &linearTransform{split: sp, level: level, slots: slots, scale: scale, blocks: map[int][]babyTerm{}}
	if len(diags) == 0 {
		// An all-zero map still multiplies by a plaintext, so the result
		// carries the scale the following rescale expects.
		diags = map[int][]float64{0: make([]float64, slots)}
	}
	keys := make([]int, 0, len(diags))
	for k := range diags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	meta := &rlwe.MetaData{
		PlaintextMetaData:  rlwe.PlaintextMetaData{Scale: scale, LogDimensions: ring.Dimensions{Rows: 0, Cols: logSlots}, IsBatched: true},
		CiphertextMetaData: rlwe.CiphertextMetaData{IsNTT: true, IsMontgomery: true},
	}
	ringQP := p.RingQP().AtLevel(level, p.MaxLevelP())
	pts := make([]ringqp.Poly, len(keys))
	workers = max(1, workers)
	embedders, buffers := make([]*embedder, workers), make([][]float64, workers)
	for w := range embedders {
		embedders[w], buffers[w] = newEmbedder(p, ecd, level, p.MaxLevelP()), make([]float64, slots)
	}
	if err := forEach(workers, len(keys), func(w, i int) error {
		d, g, rotated := diags[keys[i]], sp.Steps[keys[i]][0], buffers[w]
		for j := range rotated { // rot_{−g}(D_k)[j] = D_k[j − g]
			rotated[j] = d[((j-g)%slots+slots)%slots]
		}
		pts[i] = ringQP.NewPoly()
		return embedders[w].embed(rotated, meta, pts[i])
	}); err != nil {
		return nil, err
	}
	for i, k := range keys {
		part := sp.Steps[k]
		lt.blocks[part[0]] = append(lt.blocks[part[0]], babyTerm{part[1], pts[i]})
	}
	for g := range lt.blocks {
		slices.SortFunc(lt.blocks[g], func(a, b babyTerm) int { return a.baby - b.baby })
	}
	return lt, nil
}

// count records the primitives one evaluation performs: a baby step per
// non-zero baby rotation, a product per diagonal, a giant step per
// non-zero giant rotation, and the final ModDown.
func (lt *linearTransform) count(c *opCounter) {
	c.add(PrimBabyStep, lt.level, lt.split.Babies())
	diags := 0
	for g, terms := range lt.blocks {
		diags += len(terms)
		if g != 0 {
			c.add(PrimGiantStep, lt.level, 1)
		}
	}
	c.add(PrimMulDiagonal, lt.level, diags)
	c.add(PrimModDown, lt.level, 1)
}

// evaluate computes the transformation of ct (not rescaled): the baby
// steps and then the giant steps split over workers, each with its own
// evaluator and accumulator, in elements borrowed from buf.
func (lt *linearTransform) evaluate(evals []*hefloat.Evaluator, buf *buffers, ct *rlwe.Ciphertext) (*rlwe.Ciphertext, error) {
	if ct.Level() != lt.level {
		return nil, fmt.Errorf("input at level %d, the transformation is encoded for level %d", ct.Level(), lt.level)
	}
	if ct.Degree() != 1 || !ct.IsNTT {
		return nil, fmt.Errorf("input of degree %d (NTT %v): a relinearized ciphertext in the NTT domain is expected", ct.Degree(), ct.IsNTT)
	}
	var babies []int
	for _, b := range lt.split.Baby {
		if b != 0 {
			babies = append(babies, b)
		}
	}
	rotated, err := rotateHoistedQP(evals, buf, ct, babies)
	if err != nil {
		return nil, err
	}
	defer releaseAll(buf, rotated)
	// The costliest giant steps first, so that the workers finish together:
	// those with a rotation before the one without, then by their terms.
	giants := make([]int, 0, len(lt.blocks))
	for g := range lt.blocks {
		giants = append(giants, g)
	}
	slices.SortFunc(giants, func(a, b int) int {
		if (a == 0) != (b == 0) {
			return map[bool]int{true: 1, false: -1}[a == 0]
		}
		if c := cmp.Compare(len(lt.blocks[b]), len(lt.blocks[a])); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	p := evals[0].GetParameters()
	levelQ, levelP := lt.level, p.MaxLevelP()
	accs := make([]*giantAccumulator, len(evals))
	defer func() {
		for _, acc := range accs {
			if acc != nil {
				buf.release(acc.inner, acc.switched, acc.out)
			}
		}
	}()
	if err := forEach(len(evals), len(giants), func(w, i int) error {
		if accs[w] == nil {
			accs[w] = newGiantAccumulator(p, buf, levelQ, levelP)
		}
		return accs[w].add(evals[w], giants[i], lt.blocks[giants[i]], rotated)
	}); err != nil {
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
	out.Scale = ct.Scale.Mul(lt.scale)
	_ = forEach(len(evals), len(out.Value), func(w, i int) error {
		evals[w].ModDownQPtoQNTT(levelQ, levelP, sum.Value[i].Q, sum.Value[i].P, out.Value[i])
		return nil
	})
	return out, nil
}

// forEach calls f(w, i) for i in [0, n) on workers goroutines, each
// taking the next i as soon as it is free (worker w uses evaluator w, where
// there is one), and joins the errors. Taking items in order lets a caller
// put the costly ones first.
func forEach(workers, n int, f func(w, i int) error) error {
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

// rotateHoistedQP returns ct multiplied by P in the extended basis (baby
// step 0) and rotated by every baby step, still in QP, in elements borrowed
// from buf (releaseAll gives them back): one decomposition of ct shared
// read-only, the key switches split over the workers, each with its own
// evaluator's buffers.
func rotateHoistedQP(evals []*hefloat.Evaluator, buf *buffers, ct *rlwe.Ciphertext, babies []int) (map[int]*rlwe.Element[ringqp.Poly], error) {
	p := evals[0].GetParameters()
	levelQ, levelP := ct.Level(), p.MaxLevelP()
	ringQP := p.RingQP().AtLevel(levelQ, levelP)
	rotated := make(map[int]*rlwe.Element[ringqp.Poly], len(babies)+1)
	zero := buf.element(p, levelQ)
	for i := range zero.Value {
		ringQP.RingQ.MulScalarBigint(ct.Value[i], ringQP.RingP.ModulusAtLevel[levelP], zero.Value[i].Q)
		zero.Value[i].P.Zero() // P·ct is 0 modulo P
	}
	rotated[0] = zero
	if len(babies) == 0 {
		return rotated, nil
	}
	// The decomposition's parts are independent: each worker extends and
	// transforms its share of them from c1, brought out of NTT once.
	decomp := evals[0].BuffDecompQP
	c1 := evals[0].BuffInvNTT
	ringQP.RingQ.INTT(ct.Value[1], c1)
	parts := p.BaseRNSDecompositionVectorSize(levelQ, levelP)
	_ = forEach(len(evals), parts, func(w, i int) error {
		evals[w].DecomposeSingleNTT(levelQ, levelP, levelP+1, i, ct.Value[1], c1, decomp[i].Q, decomp[i].P)
		return nil
	})
	out := make([]*rlwe.Element[ringqp.Poly], len(babies))
	for i := range out {
		out[i] = buf.element(p, levelQ)
	}
	for i, b := range babies {
		rotated[b] = out[i]
	}
	if err := forEach(len(evals), len(babies), func(w, i int) error {
		return evals[w].AutomorphismHoistedLazy(levelQ, ct, decomp, p.GaloisElement(babies[i]), out[i])
	}); err != nil {
		releaseAll(buf, rotated)
		return nil, fmt.Errorf("cannot rotate: %w", err)
	}
	return rotated, nil
}

// releaseAll gives rotateHoistedQP's elements back to buf.
func releaseAll(buf *buffers, rotated map[int]*rlwe.Element[ringqp.Poly]) {
	for _, el := range rotated {
		buf.release(el)
	}
}

// giantAccumulator sums one worker's giant steps in QP, reducing before
// the lazy sums could overflow 64 bits.
type giantAccumulator struct {
	ringQP               ringqp.Ring
	levelQ, levelP       int
	margin               int // lazy additions allowed between reductions
	inner, switched, out *rlwe.Element[ringqp.Poly]
	n                    int // giant steps accumulated
}

// newGiantAccumulator borrows its elements from buf; every one is written
// before it is read.
func newGiantAccumulator(p *hefloat.Parameters, buf *buffers, levelQ, levelP int) *giantAccumulator {
	a := &giantAccumulator{
		ringQP: p.RingQP().AtLevel(levelQ, levelP),
		levelQ: levelQ, levelP: levelP,
		margin:   lazyMargin(p, levelQ, levelP),
		inner:    buf.element(p, levelQ),
		switched: buf.element(p, levelQ),
		out:      buf.element(p, levelQ),
	}
	a.switched.IsNTT, a.out.IsNTT = true, true
	return a
}

// add accumulates rot_g(Σ_b pt_b ⊙ rot_b(x)): the inner sum in QP, then,
// for g ≠ 0, c1 brought down to Q and key-switched lazily into QP, and the
// automorphism applied on the way into the accumulator.
func (a *giantAccumulator) add(eval *hefloat.Evaluator, g int, terms []babyTerm, rotated map[int]*rlwe.Element[ringqp.Poly]) error {
	rq := a.ringQP
	for i, t := range terms {
		x := rotated[t.baby]
		mulAccumulate(rq, a.margin, i, t.pt, x.Value[0], a.inner.Value[0])
		mulAccumulate(rq, a.margin, i, t.pt, x.Value[1], a.inner.Value[1])
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
// in every prime of QP before it must be reduced.
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
