// Mirrors lattigo/v5@v5.0.7 core/rlwe/evaluator_evaluationkey.go:
// Evaluator.Relinearize for a key with one P prime and no base-2
// decomposition (the keys of hecc's batch parameters), through
// core/rlwe/evaluator_gadget_product.go: Evaluator.GadgetProduct and
// gadgetProductSinglePAndBitDecompLazy, and ring/basis_extension.go:
// BasisExtender.ModDownQPtoQNTT, with package ntt's transforms and
// products by constants for the primes it covers.

package lattigox

import (
	"github.com/hecc-dev/hecc/runtime/internal/ntt"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
)

// singleP reports whether relinearizeSingleP computes eval.Relinearize(ct,
// out) with gadget, the relinearization key.
func singleP(gadget *rlwe.GadgetCiphertext, ct, out *rlwe.Ciphertext) bool {
	return ct.Degree() == 2 && ct.IsNTT && ct.MetaData != nil && out.MetaData != nil &&
		gadget.LevelP() == 0 && gadget.BaseTwoDecomposition == 0 && gadget.LevelQ() >= min(ct.Level(), out.Level())
}

// relinearizeSingleP is eval.Relinearize(ct, out) where singleP holds. The
// transforms' fully reduced outputs only feed Montgomery products and
// reductions, which give the same residues as from Lattigo's lazy ones;
// P's inverse transform stays Lattigo's, whose lazy representatives the
// basis extension reads as integers.
func relinearizeSingleP(eval *hefloat.Evaluator, gadget *rlwe.GadgetCiphertext, ct, out *rlwe.Ciphertext) {
	p := eval.GetParameters()
	level := min(ct.Level(), out.Level())
	ringQP := p.RingQP().AtLevel(level, 0)
	ringQ, ringP := ringQP.RingQ, ringQP.RingP
	acc := [2]ringqp.Poly{{Q: eval.BuffQP[0].Q, P: eval.BuffQP[0].P}, {Q: eval.BuffQP[1].Q, P: eval.BuffQP[1].P}}

	cx := eval.BuffInvNTT
	for u, s := range ringQ.SubRings[:level+1] {
		if t := ntt.For(s); t != nil {
			t.Inverse(ct.Value[2].Coeffs[u], cx.Coeffs[u])
		} else {
			s.INTT(ct.Value[2].Coeffs[u], cx.Coeffs[u])
		}
	}
	c2, cw := eval.BuffDecompQP[0], eval.BuffBitDecomp
	qMargin, pMargin := p.QiOverflowMargin(level)>>1, p.PiOverflowMargin(0)>>1
	multiply := func(s *ring.SubRing, first bool, in []uint64, key [2][]uint64, acc [2][]uint64) {
		for k := range 2 {
			if first {
				s.MulCoeffsMontgomeryLazy(key[k], in, acc[k])
			} else {
				s.MulCoeffsMontgomeryLazyThenAddLazy(key[k], in, acc[k])
			}
		}
	}
	for i := 0; i <= level; i++ {
		eval.Decomposer.DecomposeAndSplit(level, 0, 1, i, cx, c2.Q, c2.P)
		key := gadget.Value[i][0]
		for u, s := range ringQ.SubRings[:level+1] {
			if t := ntt.For(s); t != nil {
				t.Forward(c2.Q.Coeffs[u], cw)
			} else {
				s.NTTLazy(c2.Q.Coeffs[u], cw)
			}
			multiply(s, i == 0, cw, [2][]uint64{key[0].Q.Coeffs[u], key[1].Q.Coeffs[u]}, [2][]uint64{acc[0].Q.Coeffs[u], acc[1].Q.Coeffs[u]})
		}
		s := ringP.SubRings[0]
		s.NTTLazy(c2.P.Coeffs[0], cw)
		multiply(s, i == 0, cw, [2][]uint64{key[0].P.Coeffs[0], key[1].P.Coeffs[0]}, [2][]uint64{acc[0].P.Coeffs[0], acc[1].P.Coeffs[0]})
		if i%qMargin == qMargin-1 {
			ringQ.Reduce(acc[0].Q, acc[0].Q)
			ringQ.Reduce(acc[1].Q, acc[1].Q)
		}
		if i%pMargin == pMargin-1 {
			ringP.Reduce(acc[0].P, acc[0].P)
			ringP.Reduce(acc[1].P, acc[1].P)
		}
	}
	if (level+1)%qMargin != 0 {
		ringQ.Reduce(acc[0].Q, acc[0].Q)
		ringQ.Reduce(acc[1].Q, acc[1].Q)
	}
	if (level+1)%pMargin != 0 {
		ringP.Reduce(acc[0].P, acc[0].P)
		ringP.Reduce(acc[1].P, acc[1].P)
	}

	buff := eval.BuffQP[2]
	for _, a := range acc {
		modDownQPtoQNTT(eval, ringQ, ringP, a.Q, a.P, a.Q, buff)
	}
	ringQ.Add(ct.Value[0], acc[0].Q, out.Value[0])
	ringQ.Add(ct.Value[1], acc[1].Q, out.Value[1])
	out.Resize(1, level)
	*out.MetaData = *ct.MetaData
}

// modDownQPtoQNTT is eval.BasisExtender.ModDownQPtoQNTT(level, 0, p1Q,
// p1P, p2Q) for one P prime, with buff's polynomials for the extender's.
func modDownQPtoQNTT(eval *hefloat.Evaluator, ringQ, ringP *ring.Ring, p1Q, p1P, p2Q ring.Poly, buff ringqp.Poly) {
	level := ringQ.Level()
	ringP.INTTLazy(p1P, buff.P)
	eval.BasisExtender.ModUpPtoQ(0, level, buff.P, buff.Q)
	pj := ringP.SubRings[0].Modulus
	for i, s := range ringQ.SubRings[:level+1] {
		c := s.Modulus - ring.MForm(ring.ModExp(pj, s.Modulus-2, s.Modulus), s.Modulus, s.BRedConstant) // -P^-1, Montgomery form
		if t := ntt.For(s); t != nil {
			t.Forward(buff.Q.Coeffs[i], buff.Q.Coeffs[i])
			t.SubMul(buff.Q.Coeffs[i], p1Q.Coeffs[i], ring.MRed(c, 1, s.Modulus, s.MRedConstant), p2Q.Coeffs[i])
			continue
		}
		s.NTTLazy(buff.Q.Coeffs[i], buff.Q.Coeffs[i])
		s.SubThenMulScalarMontgomeryTwoModulus(buff.Q.Coeffs[i], p1Q.Coeffs[i], c, p2Q.Coeffs[i])
	}
}
