package ir

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The slice kernels interleave several values or rows for speed; each
// value must still be rounded exactly as the one-at-a-time code rounds
// it, since compiled circuits depend on these values bit for bit.

func TestApplyMatchesRowByRowSums(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, rows := range []int{1, 3, 4, 5, 8, 11} {
		// Rows of unequal lengths exercise the tails after the shared part.
		l := randomLinear(rng, rows, 17, 0.5, true)
		x := randomVector(rng, 17)
		got := l.Apply(x)
		for r := range rows {
			var s float64
			l.Row(r, func(c int, v float64) { s += v * x[c] })
			s += l.Bias[r]
			if math.Float64bits(got[r]) != math.Float64bits(s) {
				t.Fatalf("%d rows: row %d = %v, summed in order %v", rows, r, got[r], s)
			}
		}
	}
}

func TestEvalSliceMatchesEval(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	polys := []*Polynomial{
		{Basis: Chebyshev, Coeffs: randomVector(rng, 32), Interval: Interval{-3, 5}},
		{Basis: Chebyshev, Coeffs: []float64{0.25}, Interval: Interval{-1, 1}},
		{Basis: Monomial, Coeffs: randomVector(rng, 6)},
	}
	for _, p := range polys {
		for _, n := range []int{0, 1, 3, 4, 7, 9} {
			x := randomVector(rng, n)
			x = append(x, math.NaN(), math.Inf(1))
			y := make([]float64, len(x))
			p.EvalSlice(y, x)
			for i, v := range x {
				if want := p.Eval(v); math.Float64bits(y[i]) != math.Float64bits(want) && !(math.IsNaN(want) && math.IsNaN(y[i])) {
					t.Fatalf("%s at %v: slice %v, Eval %v", p, v, y[i], want)
				}
			}
		}
	}
}

func TestActivationEvalSliceMatchesEval(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	x := append(randomVector(rng, 9), 0, math.Copysign(0, -1), math.NaN())
	for name := range activationFuncs {
		a := &Activation{Func: name, Alpha: 0.1, Lo: -0.5, Hi: 0.5}
		y := make([]float64, len(x))
		a.EvalSlice(y, x)
		for i, v := range x {
			if want := a.Eval(v); math.Float64bits(y[i]) != math.Float64bits(want) && !(math.IsNaN(want) && math.IsNaN(y[i])) {
				t.Fatalf("%s at %v: slice %v, Eval %v", name, v, y[i], want)
			}
		}
	}
}
