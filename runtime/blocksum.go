package runtime

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

// countBlockSum records a baby step per rotation and a ModDown per stage.
func countBlockSum(c *opCounter, stages [][]int, level int) {
	for _, stage := range stages {
		c.add(PrimBabyStep, level, len(stage))
		c.add(PrimModDown, level, 1)
	}
}
