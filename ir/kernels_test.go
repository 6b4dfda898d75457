package ir

import (
	"errors"
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

// Clenshaw runs sixteen values at a time in vector registers where the
// processor has them, the rest four or one at a time: every value, special
// ones included, at every number of steps, must be the scalar loop's.
func TestClenshawMatchesScalarLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	specials := []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 1e300, 5e-324}
	for _, terms := range []int{1, 2, 3, 8, 33, 64} {
		c := randomVector(rng, terms)
		for _, n := range []int{15, 16, 17, 35, 48, 70} {
			x := randomVector(rng, n)
			for k, v := range specials {
				x[(k*7)%n] = v
			}
			y := make([]float64, n)
			Clenshaw(y, c, x)
			for i, v := range x {
				var a, b float64
				for k := terms - 1; k >= 1; k-- {
					a, b = 2*v*a-b+c[k], a
				}
				want := v*a - b + c[0]
				if math.Float64bits(y[i]) != math.Float64bits(want) && !(math.IsNaN(want) && math.IsNaN(y[i])) {
					t.Fatalf("%d terms, %d values: value %d at %v is %v, the scalar loop gives %v", terms, n, i, v, y[i], want)
				}
			}
			Clenshaw(x, c, x) // in place
			for i := range x {
				if math.Float64bits(x[i]) != math.Float64bits(y[i]) && !(math.IsNaN(x[i]) && math.IsNaN(y[i])) {
					t.Fatalf("%d terms, %d values: value %d in place is %v, %v otherwise", terms, n, i, x[i], y[i])
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

func TestApplyBatchMatchesRowByRowSums(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	// Rows of unequal lengths, some empty, in groups of four and not;
	// dense enough for the vector kernels, or not.
	uneven := NewBuilder(21, 7)
	for r := range 21 {
		for c := range []int{7, 0, 7, 3, 7, 5, 2}[r%7] {
			uneven.Add(r, (c*3+r)%7, rng.NormFloat64())
		}
	}
	unevenMap, err := uneven.Build(randomVector(rng, 21), "uneven")
	if err != nil {
		t.Fatal(err)
	}
	maps := []*Linear{randomLinear(rng, 11, 17, 0.5, true), randomLinear(rng, 6, 13, 0.7, false), randomLinear(rng, 9, 5, 0.2, true),
		randomLinear(rng, 13, 9, 0.95, true), unevenMap, NewIdentity(17, "id")}
	maps[len(maps)-1].Bias = randomVector(rng, 17)
	for _, l := range maps {
		for _, k := range []int{0, 1, 3, 4, 5, 8, 9} {
			xs, ys := make([][]float64, k), make([][]float64, k)
			for s := range xs {
				xs[s], ys[s] = randomVector(rng, l.Cols), make([]float64, l.Rows)
			}
			l.ApplyBatch(ys, xs)
			for s, x := range xs {
				for r := range l.Rows {
					var want float64
					l.Row(r, func(c int, v float64) { want += v * x[c] })
					if l.Bias != nil {
						want += l.Bias[r]
					}
					if math.Float64bits(ys[s][r]) != math.Float64bits(want) {
						t.Fatalf("%s, %d samples: sample %d row %d = %v, summed in order %v", l.Desc, k, s, r, ys[s][r], want)
					}
				}
			}
		}
	}
}

// BenchmarkApply compares a sample at a time with the batch kernel on a
// 1000×1000 map with one entry in twenty.
func BenchmarkApply(b *testing.B) {
	rng := rand.New(rand.NewPCG(11, 12))
	l := randomLinear(rng, 1000, 1000, 0.05, true)
	xs, ys := make([][]float64, 8), make([][]float64, 8)
	for s := range xs {
		xs[s], ys[s] = randomVector(rng, l.Cols), make([]float64, l.Rows)
	}
	b.Run("one", func(b *testing.B) {
		for b.Loop() {
			for s := range xs {
				l.ApplyTo(ys[s], xs[s])
			}
		}
	})
	b.Run("batch", func(b *testing.B) {
		for b.Loop() {
			l.ApplyBatch(ys, xs)
		}
	})
}

func TestInterpretBatchMatchesInterpret(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	g := &Graph{}
	in := g.Add(&Node{Op: OpInput, Name: "x", Shape: []int{1, 9}})
	a := g.Add(&Node{Op: OpAffine, Inputs: []*Node{in}, Shape: []int{1, 7}, Linear: randomLinear(rng, 7, 9, 0.6, true)})
	r := g.Add(&Node{Op: OpActivation, Inputs: []*Node{a}, Shape: []int{1, 7}, Act: &Activation{Func: "tanh"}})
	p := g.Add(&Node{Op: OpPoly, Inputs: []*Node{a}, Shape: []int{1, 7}, Poly: &Polynomial{Basis: Chebyshev, Coeffs: randomVector(rng, 6),
		Interval: Interval{Lo: -1, Hi: 1}, Replaces: &Activation{Func: "relu"}, ArgScale: 2, ArgShift: 0.5, Correction: randomVector(rng, 7)}})
	sum := g.Add(&Node{Op: OpAdd, Inputs: []*Node{r, p}, Shape: []int{1, 7}})
	prod := g.Add(&Node{Op: OpMul, Inputs: []*Node{sum, p}, Shape: []int{1, 7}})
	b := g.Add(&Node{Op: OpAffine, Inputs: []*Node{prod}, Shape: []int{3}, Linear: randomLinear(rng, 3, 7, 0.8, false)})
	g.Add(&Node{Op: OpOutput, Name: "y", Inputs: []*Node{b}, Shape: []int{3}})
	if err := Verify(g); err != nil {
		t.Fatal(err)
	}
	for _, exact := range []bool{false, true} {
		for _, k := range []int{1, 4, 6, 9} {
			inputs := make([]map[string]*Tensor, k)
			for s := range inputs {
				inputs[s] = map[string]*Tensor{"x": {Shape: []int{1, 9}, Data: randomVector(rng, 9)}}
			}
			seen := map[*Node][][]float64{}
			outs, err := InterpretBatch(g, inputs, BatchOptions{Exact: exact, Observe: func(n *Node, vs [][]float64) {
				for _, v := range vs {
					seen[n] = append(seen[n], append([]float64(nil), v...))
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			for s, x := range inputs {
				want, err := InterpretWith(g, x, InterpretOptions{Exact: exact, Observe: func(n *Node, v []float64) {
					for i := range v {
						if math.Float64bits(seen[n][s][i]) != math.Float64bits(v[i]) {
							t.Fatalf("exact %v, %d samples: sample %d, node %s value %d: batch %v, alone %v", exact, k, s, n.Label(), i, seen[n][s][i], v[i])
						}
					}
				}})
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range want["y"].Data {
					if math.Float64bits(outs[s]["y"].Data[i]) != math.Float64bits(v) {
						t.Fatalf("exact %v, %d samples: sample %d output %d: batch %v, alone %v", exact, k, s, i, outs[s]["y"].Data[i], v)
					}
				}
			}
		}
	}
	bad := []map[string]*Tensor{{"x": {Shape: []int{1, 9}, Data: make([]float64, 9)}}, {"x": {Shape: []int{8}, Data: make([]float64, 8)}}}
	var se *SampleError
	if _, err := InterpretBatch(g, bad, BatchOptions{}); !errors.As(err, &se) || se.Sample != 1 {
		t.Fatalf("a batch whose sample 1 has the wrong size: %v", err)
	}
}

func BenchmarkClenshaw(b *testing.B) {
	rng := rand.New(rand.NewPCG(17, 18))
	c, t := randomVector(rng, 43), make([]float64, 4096)
	for i := range t {
		t[i] = 2*rng.Float64() - 1
	}
	y := make([]float64, len(t))
	for b.Loop() {
		Clenshaw(y, c, t)
	}
}
