package runtime

// countBlockSum records a baby step per rotation and a ModDown per stage.
func countBlockSum(c *opCounter, stages [][]int, level int) {
	for _, stage := range stages {
		c.add(PrimBabyStep, level, len(stage))
		c.add(PrimModDown, level, 1)
	}
}
