package plan

import (
	"math"
	"testing"
)

// TestOutputStep: the step is a power of two, at least twice the bound
// and less than four times it.
func TestOutputStep(t *testing.T) {
	for _, bound := range []float64{1e-9, 0.003, 0.25, 1, 3, 1000} {
		step := OutputStep(bound)
		if f, _ := math.Frexp(step); f != 0.5 || step < 2*bound || step >= 4*bound {
			t.Errorf("bound %g: step %g", bound, step)
		}
	}
}
