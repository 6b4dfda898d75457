// Mirrors lattigo/v5@v5.0.7 he/linear_transformation_evaluator.go:
// GetPreRotatedCiphertextForDiagonalMatrixMultiplication, with its
// decomposition (core/rlwe/evaluator_gadget_product.go: DecomposeNTT) and
// its rotations split over workers, and P·ct kept as rotation 0.

package lattigox

import (
	"fmt"

	"github.com/hecc-dev/hecc/runtime/internal/parallel"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
)

// RotateHoistedQP returns ct multiplied by P in the extended basis
// (rotation 0) and rotated by every step of rots (none 0), still in QP, in
// elements borrowed from w's pool (ReleaseAll gives them back): one
// decomposition of ct, into evaluator 0's BuffDecompQP and shared
// read-only, its parts and the key switches split over the workers.
func RotateHoistedQP(w Workers, ct *rlwe.Ciphertext, rots []int) (map[int]*rlwe.Element[ringqp.Poly], error) {
	evals := w.Evals
	p := evals[0].GetParameters()
	levelQ, levelP := ct.Level(), p.MaxLevelP()
	ringQP := p.RingQP().AtLevel(levelQ, levelP)
	rotated := make(map[int]*rlwe.Element[ringqp.Poly], len(rots)+1)
	zero := w.element(p, levelQ)
	for i := range zero.Value {
		ringQP.RingQ.MulScalarBigint(ct.Value[i], ringQP.RingP.ModulusAtLevel[levelP], zero.Value[i].Q)
		zero.Value[i].P.Zero() // P·ct is 0 modulo P
	}
	rotated[0] = zero
	if len(rots) == 0 {
		return rotated, nil
	}
	// The decomposition's parts are independent: each worker extends and
	// transforms its share of them from c1, brought out of NTT once.
	decomp := evals[0].BuffDecompQP
	c1 := evals[0].BuffInvNTT
	ringQP.RingQ.INTT(ct.Value[1], c1)
	parts := p.BaseRNSDecompositionVectorSize(levelQ, levelP)
	_ = parallel.ForEach(len(evals), parts, func(k, i int) error {
		evals[k].DecomposeSingleNTT(levelQ, levelP, levelP+1, i, ct.Value[1], c1, decomp[i].Q, decomp[i].P)
		return nil
	})
	out := make([]*rlwe.Element[ringqp.Poly], len(rots))
	for i := range out {
		out[i] = w.element(p, levelQ)
	}
	for i, r := range rots {
		rotated[r] = out[i]
	}
	if err := parallel.ForEach(len(evals), len(rots), func(k, i int) error {
		if err := w.stopped(); err != nil {
			return err
		}
		return evals[k].AutomorphismHoistedLazy(levelQ, ct, decomp, p.GaloisElement(rots[i]), out[i])
	}); err != nil {
		w.ReleaseAll(rotated)
		if stop := w.stopped(); stop != nil {
			return nil, stop // every worker's error is this one
		}
		return nil, fmt.Errorf("cannot rotate: %w", err)
	}
	return rotated, nil
}

// ReleaseAll gives RotateHoistedQP's elements back to w's pool.
func (w Workers) ReleaseAll(rotated map[int]*rlwe.Element[ringqp.Poly]) {
	for _, el := range rotated {
		w.release(el)
	}
}
