package passes

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/ir"
)

// TestFitErrorWithinBound checks the reported bound on many random points of
// the interval, for every activation and a range of degrees.
func TestFitErrorWithinBound(t *testing.T) {
	acts := []*ir.Activation{
		{Func: "relu"}, {Func: "leaky_relu", Alpha: 0.1}, {Func: "clip", Lo: 0, Hi: 6},
		{Func: "sigmoid"}, {Func: "tanh"}, {Func: "softplus"},
	}
	intervals := []ir.Interval{{Lo: -8, Hi: 8}, {Lo: -3.5, Hi: 11}, {Lo: 0.5, Hi: 2}}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, a := range acts {
		for _, iv := range intervals {
			for _, d := range []int{3, 7, 15, 31} {
				for _, weighted := range []bool{false, true} {
					t.Run(fmt.Sprintf("%s/[%g,%g]/%d/weighted=%v", a, iv.Lo, iv.Hi, d, weighted), func(t *testing.T) {
						var w []float64
						if weighted { // data piled up near the middle, as pre-activations are
							w = make([]float64, histogramBins)
							for b := range w {
								x := -1 + (float64(b)+0.5)*2/histogramBins
								w[b] = math.Exp(-20 * x * x)
							}
						}
						scale, shift := iv.Width()/2, (iv.Hi+iv.Lo)/2
						p := Fit(a, scale, shift, d, 1, w)
						if p.Degree() > d || p.Interval != (ir.Interval{Lo: -1, Hi: 1}) {
							t.Fatalf("degree %d on %v for requested degree %d", p.Degree(), p.Interval, d)
						}
						for range 20000 {
							x := 2*rng.Float64() - 1
							if e := math.Abs(p.Eval(x) - a.Eval(scale*x+shift)); e > p.MaxErr {
								t.Fatalf("error %g at t=%g exceeds the reported bound %g", e, x, p.MaxErr)
							}
						}
						if p.EvalExact(0.3) != a.Eval(scale*0.3+shift) {
							t.Fatal("EvalExact does not evaluate the replaced activation")
						}
					})
				}
			}
		}
	}
}

// TestWideFitHoldsBeyondInterval checks that a fit on a span wider than
// the calibrated interval, read at x/span, is a polynomial of the degree
// asked whose reported bound holds over the whole span, where the fit on
// [-1, 1] diverges.
func TestWideFitHoldsBeyondInterval(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, a := range []*ir.Activation{{Func: "relu"}, {Func: "sigmoid"}} {
		for _, d := range []int{15, 63} {
			t.Run(fmt.Sprintf("%s/%d", a, d), func(t *testing.T) {
				const span, scale = 1.5, 4.0
				narrow, wide := Fit(a, scale, 0, d, 1, nil), Fit(a, scale, 0, d, span, nil)
				if wide.Degree() > d || wide.Interval != (ir.Interval{Lo: -1, Hi: 1}) {
					t.Fatalf("degree %d on %v for requested degree %d", wide.Degree(), wide.Interval, d)
				}
				var worstNarrow float64
				for range 20000 {
					x := span * (2*rng.Float64() - 1)
					want := a.Eval(scale * x)
					if e := math.Abs(wide.Eval(x/span) - want); e > wide.MaxErr {
						t.Fatalf("error %g at x=%g exceeds the reported bound %g", e, x, wide.MaxErr)
					}
					worstNarrow = math.Max(worstNarrow, math.Abs(narrow.Eval(x)-want))
				}
				if wide.MaxErr > 0.1*scale || worstNarrow < 10*wide.MaxErr {
					t.Errorf("largest error over ±%g: fitted on it %g, fitted on ±1 %g", span, wide.MaxErr, worstNarrow)
				}
			})
		}
	}
}

// reluNet is input → affine → relu → affine → relu → affine → output.
func reluNet(seed uint64) *ir.Graph {
	b := newGB(seed)
	x := b.input(12)
	h := b.add(&ir.Node{Op: ir.OpActivation, Inputs: []*ir.Node{b.affine(x, 10)}, Shape: []int{10}, Act: &ir.Activation{Func: "relu"}})
	h2 := b.add(&ir.Node{Op: ir.OpActivation, Inputs: []*ir.Node{b.affine(h, 8)}, Shape: []int{8}, Act: &ir.Activation{Func: "relu"}})
	return b.output(b.affine(h2, 4))
}

func samples(n, size int, seed uint64) []*ir.Tensor {
	rng := rand.New(rand.NewPCG(seed, 3))
	out := make([]*ir.Tensor, n)
	for i := range out {
		out[i] = ir.NewTensor(size)
		for j := range out[i].Data {
			out[i].Data[j] = 2*rng.Float64() - 1
		}
	}
	return out
}

func TestApproxSearchMeetsAgreement(t *testing.T) {
	g := reluNet(11)
	exact := reluNet(11)
	calib := samples(200, 12, 5)
	// Random weights leave some logits nearly tied: 95% on new inputs,
	// bounded from 100 held-out samples, is a demanding target for such a
	// net.
	cfg := &Config{Ranges: &RangeSource{Samples: calib, Margin: 0.1}, Approx: ApproxConfig{Agreement: 0.95}}
	if err := Run(g, Pipeline, cfg); err != nil {
		t.Fatal(err)
	}
	if n := g.Counts()["activation"]; n != 0 {
		t.Fatalf("%d activations left", n)
	}
	// Agreement on held-out samples drawn from the same distribution.
	test := samples(300, 12, 77)
	same := 0
	for _, x := range test {
		a, err := ir.Interpret(g, map[string]*ir.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		b, err := ir.Interpret(exact, map[string]*ir.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		if argmax(a["y"].Data) == argmax(b["y"].Data) {
			same++
		}
		// The circuit evaluated exactly is the model.
		c, err := ir.InterpretWith(g, map[string]*ir.Tensor{"x": x}, ir.InterpretOptions{Exact: true})
		if err != nil {
			t.Fatal(err)
		}
		for i := range c["y"].Data {
			if math.Abs(c["y"].Data[i]-b["y"].Data[i]) > 1e-9 {
				t.Fatalf("exact interpretation of the circuit differs from the model: %v vs %v", c["y"].Data, b["y"].Data)
			}
		}
	}
	if frac := float64(same) / float64(len(test)); frac < 0.93 {
		t.Fatalf("held-out agreement %.3f", frac)
	}
	// The maps onto [-1, 1] were folded: one affine node per layer.
	if n := g.Counts()["affine"]; n != 3 {
		t.Fatalf("%d affine nodes, want 3 (basis maps squashed)\n%s", n, g)
	}
}

func TestApproxNeedsARange(t *testing.T) {
	err := Run(reluNet(1), Pipeline, &Config{})
	if !errors.Is(err, ErrNoRange) || !strings.Contains(err.Error(), "--calibration") || !strings.Contains(err.Error(), "--input-range") {
		t.Fatalf("err = %v", err)
	}
}

func TestApproxFixedDegree(t *testing.T) {
	g := reluNet(2)
	cfg := &Config{Ranges: &RangeSource{Input: &ir.Interval{Lo: -1, Hi: 1}}, Approx: ApproxConfig{Degree: 9}}
	if err := Run(g, Pipeline, cfg); err != nil {
		t.Fatal(err)
	}
	for _, n := range g.Nodes {
		if n.Op == ir.OpPoly && n.Poly.Degree() > 9 {
			t.Fatalf("degree %d with --degree 9", n.Poly.Degree())
		}
	}
	if g.Depth != 3+4+4 {
		t.Fatalf("depth %d, want 3 affine + 2×4 for degree 9", g.Depth)
	}
}

// TestApproxSearchCountsTiesAsAgreement: a saturated Clip gives several
// classes the exact model's maximum; the circuit picking any of them
// agrees, so the search must not chase an unreachable tie-break. Clip is
// not homogeneous, so this also checks that the reference is the model's
// own function, not the activation applied to its normalized argument.
func TestApproxSearchCountsTiesAsAgreement(t *testing.T) {
	b := newGB(12)
	x := b.input(4)
	clip := b.add(&ir.Node{Op: ir.OpActivation, Inputs: []*ir.Node{x}, Shape: []int{4}, Act: &ir.Activation{Func: "clip", Lo: 0, Hi: 1}})
	g := b.output(clip)
	calib := samples(100, 4, 9)
	for _, s := range calib[:50] { // every class saturated: a four-way tie
		for j := range s.Data {
			s.Data[j] = 2 + s.Data[j]
		}
	}
	cfg := &Config{Ranges: &RangeSource{Samples: calib, Margin: 0.1}, Approx: ApproxConfig{Agreement: 0.99, MaxDepth: 6}}
	if err := Run(g, Pipeline, cfg); err != nil {
		t.Fatal(err)
	}
	if n := g.Counts()["activation"]; n != 0 {
		t.Fatalf("%d activations left", n)
	}
}

// wideNet is input → dense → act → dense → output, fed inputs u⁵ (u
// uniform on [-1, 1]): most pre-activations sit near 0, a few reach the
// ends of their neuron's range.
func wideNet(act ir.Activation) *ir.Graph {
	b := newGB(21)
	x := b.input(6)
	h := b.add(&ir.Node{Op: ir.OpActivation, Inputs: []*ir.Node{b.affine(x, 12)}, Shape: []int{12}, Act: &act})
	return b.output(b.affine(h, 3))
}

func wideSamples(n int, seed uint64) []*ir.Tensor {
	out := samples(n, 6, seed)
	for _, x := range out {
		for j, v := range x.Data {
			x.Data[j] = v * v * v * v * v
		}
	}
	return out
}

// relError is the largest output error of g on xs, relative to the
// range of the model's outputs there.
func relError(t *testing.T, g, exact *ir.Graph, xs []*ir.Tensor) float64 {
	t.Helper()
	var worst float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		a, err := ir.Interpret(g, map[string]*ir.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		b, err := ir.Interpret(exact, map[string]*ir.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		c, err := ir.InterpretWith(g, map[string]*ir.Tensor{"x": x}, ir.InterpretOptions{Exact: true})
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range b["y"].Data {
			worst = math.Max(worst, math.Abs(a["y"].Data[i]-v))
			lo, hi = math.Min(lo, v), math.Max(hi, v)
			if math.Abs(c["y"].Data[i]-v) > 1e-9 {
				t.Fatalf("exact interpretation of the circuit gives %g, the model %g", c["y"].Data[i], v)
			}
		}
	}
	return worst / (hi - lo)
}

// TestApproxCompositeWhereSingleFitFails: on wideNet, a single fit within
// the depth cap cannot hold a tight tolerance; the composite form does, on
// samples the search never saw. Where a single fit holds it, it stays:
// it is the cheaper form.
func TestApproxCompositeWhereSingleFitFails(t *testing.T) {
	relu, leaky := ir.Activation{Func: "relu"}, ir.Activation{Func: "leaky_relu", Alpha: 0.2}
	for _, tc := range []struct {
		act       ir.Activation
		maxDepth  int
		tolerance float64
		composite bool
	}{
		{relu, 4, 1e-2, true},
		{relu, 5, 1e-2, false},
		{relu, 5, 1e-3, true},
		{leaky, 4, 1e-2, true},
	} {
		t.Run(fmt.Sprintf("%s, depth ≤ %d, tolerance %g", &tc.act, tc.maxDepth, tc.tolerance), func(t *testing.T) {
			g, exact := wideNet(tc.act), wideNet(tc.act)
			var log []string
			// The margin covers held-out inputs beyond the calibrated
			// ranges, where any polynomial diverges.
			cfg := &Config{Ranges: &RangeSource{Samples: wideSamples(400, 5), Margin: 0.5},
				Approx: ApproxConfig{Criterion: Tolerance, Tolerance: tc.tolerance, MaxDepth: tc.maxDepth},
				Log:    func(pass, msg string) { log = append(log, msg) }}
			if err := Run(g, Pipeline, cfg); err != nil {
				t.Fatal(err)
			}
			report := strings.Join(log, "\n")
			signs := 0
			for _, n := range g.Nodes {
				if n.Op == ir.OpPoly && n.Poly.Func == "sign" {
					signs++
					if n.Poly.Depth() > tc.maxDepth {
						t.Fatalf("a stage of depth %d, over the cap %d", n.Poly.Depth(), tc.maxDepth)
					}
				}
			}
			if got := signs > 0 && g.Counts()["mul"] == 1; got != tc.composite || strings.Contains(report, "composite sign [") != tc.composite {
				t.Fatalf("composite form chosen: %v, want %v\n%s\n%s", got, tc.composite, report, g)
			}
			fresh := wideSamples(300, 77)
			if e := relError(t, g, exact, fresh); e > 2*tc.tolerance {
				t.Fatalf("relative error %.3g on fresh samples, target %g\n%s", e, tc.tolerance, report)
			}
			if !tc.composite {
				return
			}
			// The deepest single fit the cap allows misses the target.
			single := wideNet(tc.act)
			cfg.Approx.Degree = 1<<tc.maxDepth - 1
			if err := Run(single, Pipeline, cfg); err != nil {
				t.Fatal(err)
			}
			if e := relError(t, single, exact, fresh); e <= tc.tolerance {
				t.Fatalf("degree %d reaches %.3g, within the tolerance %g: the composite was not needed", cfg.Approx.Degree, e, tc.tolerance)
			}
		})
	}
}
