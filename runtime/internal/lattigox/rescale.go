// Mirrors lattigo/v5@v5.0.7 schemes/ckks/evaluator.go: Evaluator.Rescale,
// with the ciphertext's polynomials divided on different workers (each
// division is an INTT and one NTT per prime, and Lattigo's divides them
// one after the other), and ring/scaling.go: Ring.DivRoundByLastModulusNTT
// with package ntt's vectorized transforms for the primes it covers.

package lattigox

import (
	"github.com/hecc-dev/hecc/runtime/internal/ntt"
	"github.com/hecc-dev/hecc/runtime/internal/parallel"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// Rescale is Lattigo's Rescale with each polynomial of ct divided by the
// last prime (the last two, in Lattigo's PREC128 mode) on its own worker.
// out may be ct.
func Rescale(w Workers, ct, out *rlwe.Ciphertext) error {
	evals := w.Evals
	p := evals[0].GetParameters()
	primes := p.LevelsConsumedPerRescaling()
	if ct.Level() < primes || ct.MetaData == nil || out.MetaData == nil {
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
	divide := func(k, i int) error {
		if primes == 1 {
			divRoundByLastModulusNTT(ringQ, ct.Value[i], evals[k].BuffInvNTT, out.Value[i])
		} else {
			ringQ.DivRoundByLastModulusManyNTT(primes, ct.Value[i], evals[k].BuffInvNTT, out.Value[i])
		}
		return nil
	}
	if len(evals) == 1 {
		for i := range ct.Value {
			_ = divide(0, i)
		}
	} else {
		_ = parallel.ForEach(len(evals), len(ct.Value), divide)
	}
	if ct == out {
		out.Resize(ct.Degree(), level-primes)
	}
	return nil
}

// divRoundByLastModulusNTT is r.DivRoundByLastModulusNTT(p0, buff, p1)
// with package ntt's transforms, and its products by the rescaling
// constants, where they cover the primes. Lattigo's lazy transforms give
// other representatives than these fully reduced ones, with the same
// result: its lazy INTT's outputs are the reduced ones but for 0, which it
// gives as q (a Montgomery product below 2^64 lands in [1, q]), and
// AddScalar's reduction makes both pHalf; its lazy NTT's outputs are only
// multiplied by a constant and reduced.
func divRoundByLastModulusNTT(r *ring.Ring, p0, buff, p1 ring.Poly) {
	level := r.Level()
	last := r.SubRings[level]
	inv := ntt.For(last)
	if inv == nil {
		r.DivRoundByLastModulusNTT(p0, buff, p1)
		return
	}
	inv.Inverse(p0.Coeffs[level], buff.Coeffs[level])
	pHalf := (last.Modulus - 1) >> 1
	last.AddScalar(buff.Coeffs[level], pHalf, buff.Coeffs[level])
	for i, s := range r.SubRings[:level] {
		half, c := s.Modulus-ring.BRedAdd(pHalf, s.Modulus, s.BRedConstant), r.RescaleConstants[level-1][i]
		if fwd := ntt.For(s); fwd != nil {
			fwd.ForwardPlus(buff.Coeffs[level], half, buff.Coeffs[i])
			fwd.SubMul(buff.Coeffs[i], p0.Coeffs[i], ring.MRed(c, 1, s.Modulus, s.MRedConstant), p1.Coeffs[i])
			continue
		}
		s.AddScalarLazy(buff.Coeffs[level], half, buff.Coeffs[i])
		s.NTTLazy(buff.Coeffs[i], buff.Coeffs[i])
		s.SubThenMulScalarMontgomeryTwoModulus(buff.Coeffs[i], p0.Coeffs[i], c, p1.Coeffs[i])
	}
}
