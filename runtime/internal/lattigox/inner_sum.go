// Mirrors lattigo/v5@v5.0.7 core/rlwe/inner_sum.go: Evaluator.InnerSum,
// its rotations of one decomposition accumulated in QP and brought down
// once per step. hecc's copy adds the rotations of each stage it is given
// (four terms a stage where InnerSum adds two) and splits them over the
// workers.

package lattigox

import (
	"fmt"

	"github.com/hecc-dev/hecc/runtime/internal/parallel"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
)

// SumRotations applies each stage to ct in turn, ct ← ct + Σ_{r ∈ stage}
// rot_r(ct): the rotations of one shared decomposition split over the
// workers (RotateHoistedQP), summed with P·ct in QP and brought down to Q
// once. Scale and level are kept.
func SumRotations(w Workers, stages [][]int, ct *rlwe.Ciphertext) (*rlwe.Ciphertext, error) {
	evals := w.Evals
	p := evals[0].GetParameters()
	levelQ, levelP := ct.Level(), p.MaxLevelP()
	ringQP := p.RingQP().AtLevel(levelQ, levelP)
	for _, stage := range stages {
		rotated, err := RotateHoistedQP(w, ct, stage)
		if err != nil {
			return nil, fmt.Errorf("block sum: %w", err)
		}
		sum := rotated[0]
		for _, r := range stage {
			for i := range sum.Value {
				ringQP.Add(sum.Value[i], rotated[r].Value[i], sum.Value[i])
			}
		}
		out := hefloat.NewCiphertext(*p, 1, levelQ)
		*out.MetaData = *ct.MetaData
		_ = parallel.ForEach(len(evals), len(out.Value), func(k, i int) error {
			evals[k].ModDownQPtoQNTT(levelQ, levelP, sum.Value[i].Q, sum.Value[i].P, out.Value[i])
			return nil
		})
		w.ReleaseAll(rotated)
		ct = out
	}
	return ct, nil
}
