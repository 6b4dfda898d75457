package plan

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/hecc-dev/hecc/ir"
)

// TestDerivative checks derivative against central differences, in both
// bases and on an interval other than [-1, 1].
func TestDerivative(t *testing.T) {
	for _, p := range []*ir.Polynomial{
		{Basis: ir.Monomial, Coeffs: []float64{0.5, 1, 0.25, 0.1}},
		{Basis: ir.Chebyshev, Coeffs: []float64{0.3, 0.5, 0.2, -0.1, 0.05, 0.02, -0.01, 0.01}, Interval: ir.Interval{Lo: -3, Hi: 3}},
		{Basis: ir.Chebyshev, Coeffs: []float64{0, 1.2, 0, -0.4, 0, 0.15}, Interval: ir.Interval{Lo: -1, Hi: 1}},
		{Basis: ir.Chebyshev, Coeffs: []float64{2}, Interval: ir.Interval{Lo: -1, Hi: 1}},
	} {
		d := derivative(p)
		lo, hi := -1.0, 1.0
		if p.Basis == ir.Chebyshev {
			lo, hi = p.Interval.Lo, p.Interval.Hi
		}
		for k := range 21 {
			x := lo + (hi-lo)*float64(k)/20
			const h = 1e-6
			want := (p.Eval(x+h) - p.Eval(x-h)) / (2 * h)
			if got := d.Eval(x); math.Abs(got-want) > 1e-6*max(1, math.Abs(want)) {
				t.Errorf("%v: p'(%g) = %g, differences give %g", p.Coeffs, x, got, want)
			}
		}
	}
}

// TestUniformDiagonal: only a map that scales and shifts every value
// alike is one function of each value.
func TestUniformDiagonal(t *testing.T) {
	build := func(rows, cols int, entries [][3]float64, bias []float64) *ir.Linear {
		b := ir.NewBuilder(rows, cols)
		for _, e := range entries {
			b.Add(int(e[0]), int(e[1]), e[2])
		}
		l, err := b.Build(bias, "test")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, tc := range []struct {
		name string
		l    *ir.Linear
		w, b float64
		ok   bool
	}{
		{"identity", &ir.Linear{Rows: 3, Cols: 3, Identity: true}, 1, 0, true},
		{"uniform", build(2, 2, [][3]float64{{0, 0, 3}, {1, 1, 3}}, []float64{0.5, 0.5}), 3, 0.5, true},
		{"per-value weights", build(2, 2, [][3]float64{{0, 0, 3}, {1, 1, 2}}, nil), 0, 0, false},
		{"per-value bias", build(2, 2, [][3]float64{{0, 0, 3}, {1, 1, 3}}, []float64{0.5, 1}), 0, 0, false},
		{"permutation", build(2, 2, [][3]float64{{0, 1, 1}, {1, 0, 1}}, nil), 0, 0, false},
		{"dense", build(2, 2, [][3]float64{{0, 0, 1}, {0, 1, 1}, {1, 1, 1}}, nil), 0, 0, false},
	} {
		w, b, ok := uniformDiagonal(tc.l)
		if ok != tc.ok || ok && (w != tc.w || b != tc.b) {
			t.Errorf("%s: %g·x + %g (%v), want %g·x + %g (%v)", tc.name, w, b, ok, tc.w, tc.b, tc.ok)
		}
	}
}

// TestPSProgramComputesTheSeries: the Paterson–Stockmeyer program the
// roundings are followed through computes the series itself, for every
// degree up to 70; a·x + b is one rounding (the last rescale), and T_2
// three: its own, the rescale of its coefficient before the product (by
// T_2(x)) and the last.
func TestPSProgramComputesTheSeries(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for d := 1; d <= 70; d++ {
		c := make([]float64, d+1)
		for k := range c {
			c[k] = rng.NormFloat64() / float64(k+1)
		}
		p := newPSProgram(c)
		v, adj := make([]float64, len(p.ops)), make([]float64, len(p.ops))
		q := &ir.Polynomial{Basis: ir.Chebyshev, Coeffs: c, Interval: ir.Interval{Lo: -1, Hi: 1}}
		for _, x := range []float64{-1, -0.7, -0.01, 0, 0.3, 0.99, 1} {
			if got, _ := p.at(x, v, adj); math.Abs(got-q.Eval(x)) > 1e-9 {
				t.Fatalf("degree %d: the program gives %g at %g, the series %g", d, got, x, q.Eval(x))
			}
		}
	}
	for _, x := range []float64{-1, 0.2, 1} {
		t2 := 2*x*x - 1
		for _, tc := range []struct {
			c    []float64
			want float64
		}{{[]float64{0.5, 2}, 1}, {[]float64{0, 0, 1}, math.Sqrt(2 + t2*t2)}} {
			if got := chebyshevOwn(tc.c, []float64{x})[0]; math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("%v at %g: σ %g units, want %g", tc.c, x, got, tc.want)
			}
		}
	}
}
