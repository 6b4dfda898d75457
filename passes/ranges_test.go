package passes

import (
	"math"
	"math/rand/v2"
	"testing"
)

// extremes takes four chains at once: the least and largest values must
// be those one pass in order finds, bit for bit (−0 below +0, NaN
// winning), at every length.
func TestExtremesMatchesOnePass(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	specials := []float64{math.Copysign(0, -1), 0, math.NaN(), math.Inf(1), math.Inf(-1)}
	for n := range 11 {
		for trial := range 40 {
			v := make([]float64, n)
			for i := range v {
				v[i] = rng.NormFloat64()
				if rng.IntN(3) == 0 {
					v[i] = specials[rng.IntN(len(specials)-trial%2*3)] // half the trials without NaN nor infinities
				}
			}
			for _, start := range [][2]float64{{math.Inf(1), math.Inf(-1)}, {0, math.Copysign(0, -1)}, {-0.5, 0.5}} {
				l, h := start[0], start[1]
				for _, x := range v {
					l, h = min(l, x), max(h, x)
				}
				gl, gh := extremes(v, start[0], start[1])
				if math.Float64bits(gl) != math.Float64bits(l) && !(math.IsNaN(l) && math.IsNaN(gl)) ||
					math.Float64bits(gh) != math.Float64bits(h) && !(math.IsNaN(h) && math.IsNaN(gh)) {
					t.Fatalf("%v from %v: extremes %v, %v; one pass %v, %v", v, start, gl, gh, l, h)
				}
			}
		}
	}
}
