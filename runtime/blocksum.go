package runtime

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
)

// blockSumStages splits the sum of the slots/R blocks of R slots into
// stages that each add up four (or, last, two) rotations of the previous
// stage's result: y ← y + rot_s(y) + rot_2s(y) + rot_3s(y) with stride s =
// R, 4R, 16R… Each stage is one hoisted decomposition, its rotations kept
// in QP and one ModDown, with no plaintext product and so no level. A
// stage adding m terms (m − 1 rotations) costs 1 − babyWeight +
// babyWeight·(m − 1) key switches, so four terms are the cheapest per
// doubling (0.8, against 1 for two, the log-step chain of an InnerSum, and
// 0.93 for eight): LeNet-5's fc1 sums 128 blocks in 10 rotations instead of
// 22 and 128 products.
func blockSumStages(block, slots int) [][]int {
	var stages [][]int
	for stride := block; stride < slots; {
		m := 4
		if stride*4 > slots {
			m = 2
		}
		stage := make([]int, 0, m-1)
		for j := 1; j < m; j++ {
			stage = append(stage, j*stride)
		}
		stages = append(stages, stage)
		stride *= m
	}
	return stages
}

// stagesCost is the block sum's cost in key switches.
func stagesCost(stages [][]int) float64 {
	c := 0.0
	for _, st := range stages {
		c += 1 - babyWeight + babyWeight*float64(len(st))
	}
	return c
}

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
