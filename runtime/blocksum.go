package runtime

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
)

// evaluateBlockSum applies the stages to ct: per stage, the rotations of
// one shared decomposition split over the workers (rotateHoistedQP), summed
// with P·ct in QP and brought down to Q once. Scale and level are kept.
func evaluateBlockSum(evals []*hefloat.Evaluator, buf *buffers, stages [][]int, ct *rlwe.Ciphertext) (*rlwe.Ciphertext, error) {
	p := evals[0].GetParameters()
	levelQ, levelP := ct.Level(), p.MaxLevelP()
	ringQP := p.RingQP().AtLevel(levelQ, levelP)
	for _, stage := range stages {
		rotated, err := rotateHoistedQP(evals, buf, ct, stage)
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
		_ = forEach(len(evals), len(out.Value), func(w, i int) error {
			evals[w].ModDownQPtoQNTT(levelQ, levelP, sum.Value[i].Q, sum.Value[i].P, out.Value[i])
			return nil
		})
		releaseAll(buf, rotated)
		ct = out
	}
	return ct, nil
}

// countBlockSum records a baby step per rotation and a ModDown per stage.
func countBlockSum(c *opCounter, stages [][]int, level int) {
	for _, stage := range stages {
		c.add(PrimBabyStep, level, len(stage))
		c.add(PrimModDown, level, 1)
	}
}
