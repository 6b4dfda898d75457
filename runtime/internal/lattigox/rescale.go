// Mirrors lattigo/v5@v5.0.7 schemes/ckks/evaluator.go: Evaluator.Rescale,
// with the ciphertext's polynomials divided on different workers (each
// division is an INTT and one NTT per prime, and Lattigo's divides them
// one after the other), ring/scaling.go: Ring.DivRoundByLastModulusNTT
// with package ntt's vectorized transforms for the primes it covers, and
// Ring.DivRoundByLastModulusManyNTT for two primes with fewer transforms.

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
		switch primes {
		case 1:
			divRoundByLastModulusNTT(ringQ, ct.Value[i], evals[k].BuffInvNTT, out.Value[i])
		case 2:
			divRoundByLastTwoModuliNTT(ringQ, ct.Value[i], evals[k].BuffInvNTT, out.Value[i])
		default:
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
		// The sums of buff's residues, below the last prime, and half,
		// below s's, must be below the forward transform's bound.
		if fwd := ntt.For(s); fwd != nil && last.Modulus+s.Modulus <= fwd.ForwardBound() {
			fwd.ForwardPlus(buff.Coeffs[level], half, buff.Coeffs[i])
			fwd.SubMul(buff.Coeffs[i], p0.Coeffs[i], ring.MRed(c, 1, s.Modulus, s.MRedConstant), p1.Coeffs[i])
			continue
		}
		s.AddScalarLazy(buff.Coeffs[level], half, buff.Coeffs[i])
		s.NTTLazy(buff.Coeffs[i], buff.Coeffs[i])
		s.SubThenMulScalarMontgomeryTwoModulus(buff.Coeffs[i], p0.Coeffs[i], c, p1.Coeffs[i])
	}
}

// divRoundByLastTwoModuliNTT is r.DivRoundByLastModulusManyNTT(2, p0, buff,
// p1) with two inverse transforms and one forward transform per remaining
// prime, where Lattigo's takes an inverse one per prime and a forward one
// per remaining prime. Lattigo's two rounded divisions subtract r1, the
// centred residue of the value x modulo the last prime qL, then r2, that
// of (x - r1)/qL modulo the prime before, qP: the result is exactly
// (x - r1 - qL·r2)/(qL·qP), and r1 + qL·r2 needs only the last two
// primes' residues in the coefficient domain. The outputs are reduced, as
// Lattigo's forward transform's are. Package ntt's transforms run where
// they cover the primes, as in divRoundByLastModulusNTT.
func divRoundByLastTwoModuliNTT(r *ring.Ring, p0, buff, p1 ring.Poly) {
	level := r.Level()
	last, prev := r.SubRings[level], r.SubRings[level-1]
	qL, qP := last.Modulus, prev.Modulus
	halfL, halfP := (qL-1)>>1, (qP-1)>>1
	// a = r1 + halfL, in [0, qL).
	a := buff.Coeffs[level]
	inverse(last, p0.Coeffs[level], a)
	last.AddScalar(a, halfL, a)
	// b = r2 + halfP, in [0, qP): Lattigo's first division, on qP's
	// residues only, then its centring.
	b := buff.Coeffs[level-1]
	inverse(prev, p0.Coeffs[level-1], b)
	prev.AddScalarLazyThenNegTwoModulusLazy(b, qP-ring.BRedAdd(halfL, qP, prev.BRedConstant), b)
	prev.AddLazyThenMulScalarMontgomery(a, b, r.RescaleConstants[level-1][level-1], b)
	prev.AddScalar(b, halfP, b)
	for i, s := range r.SubRings[:level-1] {
		q, u, m := s.Modulus, s.BRedConstant, s.MRedConstant
		lq := ring.BRedAdd(qL, q, u)
		// r1 + qL·r2 = a + qL·b - (halfL + qL·halfP); off is its
		// constant's negation plus 2q, at most 2q.
		off := 2*q - ring.BRedAdd(halfL, q, u) - ring.BRed(lq, ring.BRedAdd(halfP, q, u), q, u)
		lqMont := ring.MForm(lq, q, u)
		// −1/(qL·qP), in Montgomery form, as Lattigo's RescaleConstants.
		inv := ring.MForm(q-ring.ModExp(ring.BRed(lq, ring.BRedAdd(qP, q, u), q, u), q-2, q), q, u)
		c, fwd := buff.Coeffs[i], ntt.For(s)
		// a + off is below qL + 2q, b below qP.
		if fwd != nil && fwd.Wide() && qL+2*q <= fwd.ForwardBound() && qP <= fwd.ForwardBound() {
			fwd.ForwardMulAdd(a, off, b, lq, c)
			fwd.SubMul(c, p0.Coeffs[i], ring.MRed(inv, 1, q, m), p1.Coeffs[i])
			continue
		}
		for j := range c {
			c[j] = ring.CRed(ring.BRedAdd(a[j]+off, q, u)+ring.MRed(b[j], lqMont, q, m), q)
		}
		if fwd != nil {
			fwd.Forward(c, c)
			fwd.SubMul(c, p0.Coeffs[i], ring.MRed(inv, 1, q, m), p1.Coeffs[i])
			continue
		}
		s.NTTLazy(c, c)
		s.SubThenMulScalarMontgomeryTwoModulus(c, p0.Coeffs[i], inv, p1.Coeffs[i])
	}
}

// inverse is s.INTT(in, out), with package ntt's transform where it covers
// s: both give the fully reduced outputs.
func inverse(s *ring.SubRing, in, out []uint64) {
	if t := ntt.For(s); t != nil {
		t.Inverse(in, out)
		return
	}
	s.INTT(in, out)
}
