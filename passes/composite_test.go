package passes

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/hecc-dev/hecc/ir"
)

// TestCompositeSignErrorBound measures each composite on random points,
// independently of its own grid: within 2^-b of sign wherever |x| ≥ 2^-b,
// never beyond its peak, odd, and as deep and costly as its stages say.
func TestCompositeSignErrorBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, tc := range []struct{ bits, maxStageDepth int }{{2, 7}, {4, 7}, {6, 5}, {8, 7}, {10, 4}, {12, 7}} {
		t.Run(fmt.Sprintf("%d bits, stages of depth ≤ %d", tc.bits, tc.maxStageDepth), func(t *testing.T) {
			c := compositeSign(tc.bits, tc.maxStageDepth)
			if c == nil {
				t.Fatal("no composite")
			}
			eps := math.Ldexp(1, -tc.bits)
			if !(c.err <= eps) {
				t.Fatalf("reported error %g above 2^-%d", c.err, tc.bits)
			}
			depth, mults := 1, 1
			for i, d := range c.degrees {
				p := compositePoly(c, i)
				if p.Degree() != d || depthOf(d) > tc.maxStageDepth {
					t.Fatalf("stage %d: degree %d, listed %d, cap depth %d", i, p.Degree(), d, tc.maxStageDepth)
				}
				if p.Eval(0) != 0 || p.Replaces.Func != "sign" {
					t.Fatalf("stage %d: p(0) = %g, replaces %v", i, p.Eval(0), p.Replaces)
				}
				depth += p.Depth()
				mults += polyMults(d)
			}
			if depth != c.depth() || mults != c.mults() {
				t.Fatalf("depth %d, mults %d; the composite says %d, %d", depth, mults, c.depth(), c.mults())
			}
			var worst, peak float64
			for range 200000 {
				// Half the points spread on a log scale, where s rises.
				x := 2*rng.Float64() - 1
				if rng.IntN(2) == 0 {
					x = math.Copysign(math.Pow(eps, rng.Float64()), x)
				}
				s := c.sign(x)
				if s != -c.sign(-x) {
					t.Fatalf("s(%g) = %g but s(%g) = %g: not odd", x, s, -x, c.sign(-x))
				}
				peak = math.Max(peak, math.Abs(s))
				if math.Abs(x) >= eps {
					want := math.Copysign(1, x)
					worst = math.Max(worst, math.Abs(s-want))
				} else if s*x < 0 {
					t.Fatalf("s(%g) = %g has the wrong sign", x, s)
				}
			}
			if worst > c.err*(1+1e-6) || worst > eps {
				t.Fatalf("measured |s − sign| %g beyond ±2^-%d, the composite reports %g", worst, tc.bits, c.err)
			}
			if peak > c.peak*(1+1e-9) {
				t.Fatalf("|s| reaches %g, the composite reports %g", peak, c.peak)
			}
			// The ReLU built on it stays within its bound.
			relu := (&target{act: &ir.Activation{Func: "relu"}}).compositeFn(c)
			for range 20000 {
				x := 2*rng.Float64() - 1
				if e := math.Abs(relu(x) - max(x, 0)); e > c.reluBound() {
					t.Fatalf("relu error %g at %g beyond the bound %g", e, x, c.reluBound())
				}
			}
		})
	}
}

// TestCompositeDepthGrowsWithPrecision: more bits never cost fewer levels.
func TestCompositeDepthGrowsWithPrecision(t *testing.T) {
	last := 0
	for b := minCompositeBits; b <= 12; b++ {
		c := compositeSign(b, 7)
		if c == nil {
			t.Fatalf("%d bits: none", b)
		}
		if c.depth() < last {
			t.Fatalf("%d bits take %d levels, fewer bits took %d", b, c.depth(), last)
		}
		last = c.depth()
	}
}
