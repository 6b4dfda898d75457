package runtime

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
)

// relinearize is Lattigo's relinearization split over the workers: the
// gadget product's parts are independent (each decomposes d2 modulo its own
// group of primes and multiplies by its own part of the key), so each
// worker sums its share into its own accumulator, borrowed from buf, and
// the two polynomials come down from QP on two workers. Squares and the
// polynomials' products would otherwise run on one core. ct must be a
// degree-2 ciphertext in the NTT domain; out may be ct.
func relinearize(evals []*hefloat.Evaluator, buf *buffers, ct, out *rlwe.Ciphertext) error {
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
	acc := make([]*rlwe.Element[ringqp.Poly], len(evals)) // a worker's, once it takes a part
	done := make([]int, len(evals))
	defer func() { buf.release(acc...) }()
	parts := p.BaseRNSDecompositionVectorSize(level, levelP)
	_ = forEach(len(evals), parts, func(w, i int) error {
		if acc[w] == nil {
			acc[w] = buf.element(p, level)
		}
		part := evals[w].BuffDecompQP[0]
		evals[w].DecomposeSingleNTT(level, levelP, levelP+1, i, ct.Value[2], d2, part.Q, part.P)
		for j, key := range gadget.Value[i][0][:2] {
			mulAccumulate(ringQP, margin, done[w], key, part, acc[w].Value[j])
		}
		done[w]++
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
	switched := buf.element(p, level) // its Q parts take the result
	defer buf.release(switched)
	_ = forEach(len(evals), 2, func(w, j int) error {
		evals[w].ModDownQPtoQNTT(level, levelP, sum.Value[j].Q, sum.Value[j].P, switched.Value[j].Q)
		return nil
	})
	meta := *ct.MetaData
	out.Resize(1, level)
	*out.MetaData = meta
	ringQP.RingQ.Add(ct.Value[0], switched.Value[0].Q, out.Value[0])
	ringQP.RingQ.Add(ct.Value[1], switched.Value[1].Q, out.Value[1])
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
