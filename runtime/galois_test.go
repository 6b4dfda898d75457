package runtime

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/plan"
)

// TestGaloisElementsMatchLattigo pins the planner's Galois elements, which
// every spec's rotation keys are, to Lattigo's at every ring degree a
// parameter set may have, for rotations of either sign and any size.
func TestGaloisElementsMatchLattigo(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for logN := 4; logN <= 17; logN++ {
		set := params.InsecureTestSet(logN, 1, 30)
		if err := set.Validate(); err != nil {
			t.Fatalf("logN=%d: %v", logN, err)
		}
		p, err := newParameters(set)
		if err != nil {
			t.Fatal(err)
		}
		twoN := 2 << logN
		steps := []int{math.MinInt, math.MaxInt, math.MinInt + 1}
		for k := -2*twoN - 3; k <= 2*twoN+3; k += 1 + twoN/512 {
			steps = append(steps, k)
		}
		for range 1000 {
			steps = append(steps, int(rng.Int64()), -int(rng.Int64()), rng.IntN(2*twoN)-twoN)
		}
		for _, k := range steps {
			if got, want := plan.GaloisElement(logN, k), p.GaloisElement(k); got != want {
				t.Fatalf("logN=%d, rotation %d: Galois element %d, Lattigo's is %d", logN, k, got, want)
			}
		}
	}
}
