// Mirrors lattigo/v5@v5.0.7 core/rlwe/evaluator_evaluationkey.go:
// Evaluator.Relinearize, with its gadget product
// (core/rlwe/evaluator_gadget_product.go: gadgetProductMultiplePLazy)
// split over workers: Lattigo's runs on one core, and squares and
// products of polynomials relinearize at every level.

package lattigox

import (
	"fmt"

	"github.com/hecc-dev/hecc/runtime/internal/parallel"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
)

// Relinearize is Lattigo's relinearization split over the workers: the
// gadget product's parts are independent (each decomposes d2 modulo its
// own group of primes and multiplies by its own part of the key), so each
// worker sums its share into its own accumulator, and the two polynomials
// come down from QP on two workers. ct must be a degree-2 ciphertext in the
// NTT domain; out may be ct. Evaluator 0's BuffInvNTT holds d2 out of the
// NTT domain, read by every worker. A key with one P prime has nothing to
// split: relinearizeSingleP relinearizes on evaluator 0, with package
// ntt's transforms.
func Relinearize(w Workers, ct, out *rlwe.Ciphertext) error {
	evals := w.Evals
	rlk, err := evals[0].CheckAndGetRelinearizationKey()
	if err != nil {
		return err
	}
	gadget := &rlk.GadgetCiphertext
	if singleP(gadget, ct, out) {
		relinearizeSingleP(evals[0], gadget, ct, out)
		return nil
	}
	if len(evals) < 2 || ct.Degree() != 2 || !ct.IsNTT || gadget.LevelP() < 1 || gadget.BaseTwoDecomposition != 0 {
		return evals[0].Relinearize(ct, out) // Lattigo's own path: nothing to split
	}
	p := evals[0].GetParameters()
	level, levelP := ct.Level(), gadget.LevelP()
	if gadget.LevelQ() < level {
		return fmt.Errorf("relinearization key made for level %d, ciphertext at %d", gadget.LevelQ(), level)
	}
	ringQP := p.RingQP().AtLevel(level, levelP)
	d2 := evals[0].BuffInvNTT // the decomposition does not write it
	ringQP.RingQ.INTT(ct.Value[2], d2)
	margin := lazyMargin(p, level, levelP)
	acc := make([]*rlwe.Element[ringqp.Poly], len(evals)) // a worker's, once it takes a part
	done := make([]int, len(evals))
	defer func() { w.release(acc...) }()
	parts := p.BaseRNSDecompositionVectorSize(level, levelP)
	_ = parallel.ForEach(len(evals), parts, func(k, i int) error {
		if acc[k] == nil {
			acc[k] = w.element(p, level)
		}
		part := evals[k].BuffDecompQP[0]
		evals[k].DecomposeSingleNTT(level, levelP, levelP+1, i, ct.Value[2], d2, part.Q, part.P)
		for j, key := range gadget.Value[i][0][:2] {
			mulAccumulate(ringQP, margin, done[k], key, part, acc[k].Value[j])
		}
		done[k]++
		return nil
	})
	var sum *rlwe.Element[ringqp.Poly]
	for _, a := range acc {
		if a == nil {
			continue
		}
		ringQP.Reduce(a.Value[0], a.Value[0])
		ringQP.Reduce(a.Value[1], a.Value[1])
		if sum == nil {
			sum = a
		} else {
			ringQP.Add(sum.Value[0], a.Value[0], sum.Value[0])
			ringQP.Add(sum.Value[1], a.Value[1], sum.Value[1])
		}
	}
	switched := w.element(p, level) // its Q parts take the result
	defer w.release(switched)
	_ = parallel.ForEach(len(evals), 2, func(k, j int) error {
		evals[k].ModDownQPtoQNTT(level, levelP, sum.Value[j].Q, sum.Value[j].P, switched.Value[j].Q)
		return nil
	})
	meta := *ct.MetaData
	out.Resize(1, level)
	*out.MetaData = meta
	ringQP.RingQ.Add(ct.Value[0], switched.Value[0].Q, out.Value[0])
	ringQP.RingQ.Add(ct.Value[1], switched.Value[1].Q, out.Value[1])
	return nil
}
