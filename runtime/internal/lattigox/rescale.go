// Mirrors lattigo/v5@v5.0.7 schemes/ckks/evaluator.go: Evaluator.Rescale,
// with the ciphertext's polynomials divided on different workers: each
// division is an INTT and one NTT per prime, and Lattigo's divides them
// one after the other.

package lattigox

import (
	"github.com/hecc-dev/hecc/runtime/internal/parallel"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// Rescale is Lattigo's Rescale with each polynomial of ct divided by the
// last prime (the last two, in Lattigo's PREC128 mode) on its own worker.
// out may be ct.
func Rescale(w Workers, ct, out *rlwe.Ciphertext) error {
	evals := w.Evals
	p := evals[0].GetParameters()
	primes := p.LevelsConsumedPerRescaling()
	if len(evals) < 2 || ct.Level() < primes || ct.MetaData == nil || out.MetaData == nil {
		return evals[0].Rescale(ct, out)
	}
	level := ct.Level()
	ringQ := p.RingQ().AtLevel(level)
	if ct != out {
		out.Resize(ct.Degree(), level-primes)
	}
	*out.MetaData = *ct.MetaData
	for i := range primes {
		out.Scale = out.Scale.Div(rlwe.NewScale(ringQ.SubRings[level-i].Modulus))
	}
	_ = parallel.ForEach(len(evals), len(ct.Value), func(k, i int) error {
		ringQ.DivRoundByLastModulusManyNTT(primes, ct.Value[i], evals[k].BuffInvNTT, out.Value[i])
		return nil
	})
	if ct == out {
		out.Resize(ct.Degree(), level-primes)
	}
	return nil
}
