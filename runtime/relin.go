package runtime

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
)

// relinearize is Lattigo's relinearization split over the workers: the
// gadget product's parts are independent (each decomposes d2 modulo its own
// group of primes and multiplies by its own part of the key), so each
// worker sums its share into its own accumulator, and the two
// polynomials come down from QP on two workers. Squares and the
// polynomials' products would otherwise run on one core. ct must be a
// degree-2 ciphertext in the NTT domain; out may be ct.
func relinearize(evals []*hefloat.Evaluator, ct, out *rlwe.Ciphertext) error {
	rlk, err := evals[0].CheckAndGetRelinearizationKey()
	if err != nil {
		return err
	}
	gadget := &rlk.GadgetCiphertext
	if len(evals) < 2 || ct.Degree() != 2 || !ct.IsNTT || gadget.LevelP() < 1 || gadget.BaseTwoDecomposition != 0 {
		return evals[0].Relinearize(ct, out) // Lattigo's own path: nothing to split
	}
	p := evals[0].GetParameters()
	level, levelP := ct.Level(), gadget.LevelP()
	if gadget.LevelQ() < level {
		return fmt.Errorf("relinearization key made for level %d, ciphertext at %d", gadget.LevelQ(), level)
	}
	ringQP := p.RingQP().AtLevel(level, levelP)
	d2 := evals[0].BuffInvNTT // read by every worker; the decomposition does not write it
	ringQP.RingQ.INTT(ct.Value[2], d2)
	margin := lazyMargin(p, level, levelP)
	acc := make([][2]ringqp.Poly, len(evals))
	done := make([]int, len(evals))
	for w := range acc {
		acc[w] = [2]ringqp.Poly{ringQP.NewPoly(), ringQP.NewPoly()}
	}
	parts := p.BaseRNSDecompositionVectorSize(level, levelP)
	_ = forEach(len(evals), parts, func(w, i int) error {
		part := evals[w].BuffDecompQP[0]
		evals[w].DecomposeSingleNTT(level, levelP, levelP+1, i, ct.Value[2], d2, part.Q, part.P)
		for j, key := range gadget.Value[i][0][:2] {
			mulAccumulate(ringQP, margin, done[w], key, part, acc[w][j])
		}
		done[w]++
		return nil
	})
	for w := range acc {
		ringQP.Reduce(acc[w][0], acc[w][0])
		ringQP.Reduce(acc[w][1], acc[w][1])
		if w > 0 && done[w] > 0 {
			ringQP.Add(acc[0][0], acc[w][0], acc[0][0])
			ringQP.Add(acc[0][1], acc[w][1], acc[0][1])
		}
	}
	switched := []ring.Poly{ringQP.RingQ.NewPoly(), ringQP.RingQ.NewPoly()}
	_ = forEach(len(evals), 2, func(w, j int) error {
		evals[w].ModDownQPtoQNTT(level, levelP, acc[0][j].Q, acc[0][j].P, switched[j])
		return nil
	})
	meta := *ct.MetaData
	out.Resize(1, level)
	*out.MetaData = meta
	ringQP.RingQ.Add(ct.Value[0], switched[0], out.Value[0])
	ringQP.RingQ.Add(ct.Value[1], switched[1], out.Value[1])
	return nil
}

// rescale is Lattigo's Rescale with the ciphertext's polynomials divided on
// different workers: each division is an INTT and one NTT per prime,
// compute-bound work that two cores do speed up. out may be ct.
func rescale(evals []*hefloat.Evaluator, ct, out *rlwe.Ciphertext) error {
	p := evals[0].GetParameters()
	if len(evals) < 2 || p.LevelsConsumedPerRescaling() != 1 || ct.Level() < 1 || ct.MetaData == nil || out.MetaData == nil {
		return evals[0].Rescale(ct, out)
	}
	level := ct.Level()
	ringQ := p.RingQ().AtLevel(level)
	if ct != out {
		out.Resize(ct.Degree(), level-1)
	}
	*out.MetaData = *ct.MetaData
	out.Scale = out.Scale.Div(rlwe.NewScale(ringQ.SubRings[level].Modulus))
	_ = forEach(len(evals), len(ct.Value), func(w, i int) error {
		ringQ.DivRoundByLastModulusManyNTT(1, ct.Value[i], evals[w].BuffInvNTT, out.Value[i])
		return nil
	})
	if ct == out {
		out.Resize(ct.Degree(), level-1)
	}
	return nil
}
