package passes

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/ir"
)

func TestCriteriaDetection(t *testing.T) {
	act := func(b *gb, in *ir.Node, f string) *ir.Node {
		return b.add(&ir.Node{Op: ir.OpActivation, Inputs: []*ir.Node{in}, Shape: in.Shape, Act: &ir.Activation{Func: f}})
	}
	reshape := func(b *gb, in *ir.Node, shape ...int) *ir.Node {
		return b.add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{in}, Shape: shape, Linear: ir.NewIdentity(in.Size(), "reshape")})
	}
	cases := []struct {
		name      string
		build     func(b *gb) *ir.Node
		post      string
		want      Criterion
		threshold float64
	}{
		{"class vector", func(b *gb) *ir.Node { return reshape(b, b.affine(b.input(12), 10), 1, 10) }, "", Top1, 0},
		{"class vector after ReLU", func(b *gb) *ir.Node { return act(b, b.affine(b.input(12), 10), "relu") }, "", Top1, 0},
		{"softmax rows", func(b *gb) *ir.Node { return reshape(b, b.affine(b.input(12), 10), 2, 5) }, ir.PostSoftmax, Top1, 0},
		{"one sigmoid output", func(b *gb) *ir.Node { return reshape(b, act(b, b.affine(b.input(12), 1), "sigmoid"), 1, 1) }, "", Threshold, 0.5},
		{"one sigmoid output, approximated and masked", func(b *gb) *ir.Node {
			p := b.poly(b.affine(b.input(12), 1), &ir.Polynomial{Basis: ir.Chebyshev, Coeffs: []float64{0.5, 0.4}, Interval: ir.Interval{Lo: -1, Hi: 1},
				Replaces: &ir.Activation{Func: "sigmoid"}, ArgScale: 4})
			return b.add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{p}, Shape: p.Shape, Linear: diagonal([]float64{1}, nil, "output mask")})
		}, "", Threshold, 0.5},
		{"one logit", func(b *gb) *ir.Node { return reshape(b, b.affine(b.input(12), 1), 1, 1) }, "", Tolerance, 0},
		{"one value scaled after a sigmoid", func(b *gb) *ir.Node { return b.affine(act(b, b.affine(b.input(12), 1), "sigmoid"), 1) }, "", Tolerance, 0},
		{"regression vector", func(b *gb) *ir.Node { return reshape(b, b.affine(b.input(12), 3), 3, 1) }, "", Tolerance, 0},
		{"feature map", func(b *gb) *ir.Node { return reshape(b, act(b, b.affine(b.input(12), 24), "tanh"), 1, 2, 3, 4) }, "", Tolerance, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newGB(1)
			g := b.output(c.build(b))
			g.Outputs()[0].Post = c.post
			got := DetectOutput(g)
			if got.Criterion != c.want || got.Threshold != c.threshold || got.Reason == "" {
				t.Fatalf("detected %+v, want %s at %g", got, c.want, c.threshold)
			}
		})
	}
}

// TestCriteriaOverride: --criterion wins over detection, and a threshold
// decides at 0.5 after a Sigmoid, else at 0.
func TestCriteriaOverride(t *testing.T) {
	b := newGB(1)
	logit := b.output(b.affine(b.input(4), 1))
	c := newCriterion(logit, ApproxConfig{Criterion: Threshold, Agreement: 0.9})
	if c.Criterion != Threshold || c.Threshold != 0 || c.detected || c.target != 0.9 {
		t.Fatalf("logit with --criterion threshold: %+v", c)
	}
	b = newGB(1)
	h := b.affine(b.input(4), 1)
	prob := b.output(b.add(&ir.Node{Op: ir.OpActivation, Inputs: []*ir.Node{h}, Shape: h.Shape, Act: &ir.Activation{Func: "sigmoid"}}))
	c = newCriterion(prob, ApproxConfig{Criterion: Cosine, Cosine: 0.99})
	if c.Criterion != Cosine || c.target != 0.99 {
		t.Fatalf("sigmoid with --criterion cosine: %+v", c)
	}
	if _, err := ParseCriterion("top5"); err == nil {
		t.Fatal("top5 accepted")
	}
}

func TestCriteriaMeasure(t *testing.T) {
	ex := newExact([][]float64{{0.7, 0.2}, {0.5, 0.1}}, 2)
	cases := []struct {
		name  string
		crit  criterion
		outs  [][]float64
		agree float64
	}{
		{"threshold: same sides", criterion{OutputKind: OutputKind{Criterion: Threshold, Threshold: 0.5}}, [][]float64{{0.6, 0.4}, {0.9, 0.2}}, 1},
		{"threshold: a flip", criterion{OutputKind: OutputKind{Criterion: Threshold, Threshold: 0.5}}, [][]float64{{0.4, 0.2}, {0.1, 0.2}}, 0.5},
		{"threshold: not finite", criterion{OutputKind: OutputKind{Criterion: Threshold, Threshold: 0.5}}, [][]float64{{math.NaN(), 0.2}, {0.1, 0.2}}, 0.5},
		{"top1: a swap", criterion{OutputKind: OutputKind{Criterion: Top1}, shape: []int{2}}, [][]float64{{0.1, 0.2}, {0.5, 0.1}}, 0.5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if r := c.crit.measure(c.outs, ex); r.agreement != c.agree {
				t.Fatalf("agreement %g, want %g", r.agreement, c.agree)
			}
		})
	}
	tol := criterion{OutputKind: OutputKind{Criterion: Tolerance}, target: 0.1}
	r := tol.measure([][]float64{{0.7, 0.26}, {0.5, 0.1}}, ex)
	if want := 0.06 / 0.6; math.Abs(r.relErr-want) > 1e-12 || math.Abs(r.maxErr-0.06) > 1e-12 || tol.met(r) != (want <= 0.1) {
		t.Fatalf("relative error %g (max %g), want %g of the range 0.6", r.relErr, r.maxErr, want)
	}
	cos := criterion{OutputKind: OutputKind{Criterion: Cosine}, target: 0.999}
	if r := cos.measure([][]float64{{-0.7, -0.2}, {0.5, 0.1}}, ex); r.cosine > -0.99 || cos.met(r) {
		t.Fatalf("opposite output has cosine %g", r.cosine)
	}
}

// TestCriteriaHeadroom: a decision the circuit keeps by less than its
// error's share of the margin counts as kept in the agreement, but as at
// risk with the error scaled by the headroom, which is what the target is
// met on.
func TestCriteriaHeadroom(t *testing.T) {
	ex := newExact([][]float64{{1.0, 0.0}, {0.7, 0.2}}, 2)
	cases := []struct {
		name     string
		crit     criterion
		outs     [][]float64
		agree    float64
		atRisk   int
		targetOK bool
	}{
		// Sample 0 keeps its top class with a quarter of the gap left:
		// an error twice as large flips it.
		{"top1: narrow", criterion{OutputKind: OutputKind{Criterion: Top1}, shape: []int{2}, headroom: 2, confidence: 0.9, target: 1}, [][]float64{{0.6, 0.35}, {0.7, 0.2}}, 1, 1, false},
		{"top1: wide", criterion{OutputKind: OutputKind{Criterion: Top1}, shape: []int{2}, headroom: 2, confidence: 0.9, target: 1}, [][]float64{{0.9, 0.1}, {0.7, 0.2}}, 1, 0, true},
		{"top1: no headroom", criterion{OutputKind: OutputKind{Criterion: Top1}, shape: []int{2}, headroom: 1, confidence: 0.9, target: 1}, [][]float64{{0.6, 0.35}, {0.7, 0.2}}, 1, 0, true},
		{"threshold: narrow", criterion{OutputKind: OutputKind{Criterion: Threshold, Threshold: 0.5}, headroom: 3, confidence: 0.9, target: 1}, [][]float64{{0.8, 0.0}, {0.7, 0.25}}, 1, 1, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.crit.measure(c.outs, ex)
			if r.agreement != c.agree || r.atRisk != c.atRisk || c.crit.met(r) != c.targetOK {
				t.Fatalf("agreement %g, %d at risk with headroom %g, met %v; want %g, %d, %v", r.agreement, r.atRisk, c.crit.headroom, c.crit.met(r), c.agree, c.atRisk, c.targetOK)
			}
			if miss := c.crit.misses(c.outs[0], 0, ex); miss != (c.atRisk == 1) {
				t.Fatalf("sample 0 misses: %v, want %v", miss, c.atRisk == 1)
			}
		})
	}
}

// TestUpperRate: the Clopper–Pearson bound leaves 1 − confidence of
// probability to seeing k or fewer, and none seen in n gives the closed
// form 1 − (1 − confidence)^(1/n).
func TestUpperRate(t *testing.T) {
	if got, want := upperRate(0, 500, 0.9), 1-math.Pow(0.1, 1.0/500); math.Abs(got-want) > 1e-12 {
		t.Fatalf("0 of 500 at 90%%: %g, want %g", got, want)
	}
	prev := 0.0
	for k := range 12 {
		u := upperRate(k, 300, 0.95)
		if !(u > prev) {
			t.Fatalf("%d of 300: bound %g not above that of %d, %g", k, u, k-1, prev)
		}
		if p := binomialCDF(k, 300, u); math.Abs(p-0.05) > 1e-9 {
			t.Fatalf("%d of 300: P(X ≤ k) at the bound %g is %g, want 0.05", k, u, p)
		}
		prev = u
	}
	if u := upperRate(7, 7, 0.9); u != 1 {
		t.Fatalf("7 of 7: %g, want 1", u)
	}
}

// TestAllowed: the most decisions at risk whose bound keeps the target.
// 500 held-out samples, 99.5% at ×2 and 90%: at a rate of 1% at risk, one
// or fewer of 500 has probability 0.040 and two or fewer 0.123, so one.
func TestAllowed(t *testing.T) {
	top1 := func(target, headroom, confidence float64) criterion {
		return criterion{OutputKind: OutputKind{Criterion: Top1}, target: target, headroom: headroom, confidence: confidence}
	}
	for _, c := range []struct {
		crit criterion
		n    int
		want int
	}{
		{top1(0.995, 2, 0.9), 500, 1},
		{top1(0.995, 1, 0.9), 500, 0},
		{top1(0.995, 2, 0.9), 2000, 13},
		{top1(0.995, 2, 0.9), 100, 0}, // cannot show the target: every decision must hold
		{top1(0, 1, 0.9), 10, 10},
		{criterion{OutputKind: OutputKind{Criterion: Tolerance}, target: 0.01}, 500, 0},
	} {
		got := c.crit.allowed(c.n)
		if got != c.want {
			t.Errorf("%g at ×%g, %g%%, %d samples: %d allowed, want %d", c.crit.target, c.crit.headroom, 100*c.crit.confidence, c.n, got, c.want)
		}
		if c.crit.decides() && got > 0 && (c.crit.bound(got, c.n) < c.crit.target || got < c.n && c.crit.bound(got+1, c.n) >= c.crit.target) {
			t.Errorf("%d samples: the bound at %d at risk is %g, at %d %g, target %g", c.n, got, c.crit.bound(got, c.n), got+1, c.crit.bound(got+1, c.n), c.crit.target)
		}
	}
}

// sumNet is input → affine → relu → a dense layer that sums, with
// positive weights, the half of the neurons that stay positive and near
// their peak; the other half spreads over both signs. A fit over the
// whole layer balances the mean errors of the two halves, so the summed
// half's mean error adds up in the output.
func sumNet(seed uint64) *ir.Graph {
	const summed, spread = 96, 32
	b := newGB(seed)
	x := b.input(6)
	first := ir.NewBuilder(summed+spread, 6)
	bias := make([]float64, summed+spread)
	for r := range bias {
		scale := 1.0
		if r < summed {
			scale, bias[r] = 0.05, 1.5
		}
		for c := range 6 {
			first.Add(r, c, scale*b.rng.NormFloat64())
		}
	}
	lin1, _ := first.Build(bias, "dense")
	pre := b.add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{x}, Shape: []int{len(bias)}, Linear: lin1})
	h := b.add(&ir.Node{Op: ir.OpActivation, Inputs: []*ir.Node{pre}, Shape: pre.Shape, Act: &ir.Activation{Func: "relu"}})
	sum := ir.NewBuilder(1, len(bias))
	for c := range summed {
		sum.Add(0, c, 0.5+b.rng.Float64())
	}
	lin2, _ := sum.Build([]float64{0.1}, "sum")
	return b.output(b.add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{h}, Shape: []int{1}, Linear: lin2}))
}

// TestApproxBiasCorrectionReducesError: with a low degree, the mean error
// of the ReLU polynomials adds up in the sum; folded into the bias of
// the map after them, the circuit's error on fresh samples drops.
func TestApproxBiasCorrectionReducesError(t *testing.T) {
	g, exact := sumNet(3), sumNet(3)
	var log []string
	cfg := &Config{Ranges: &RangeSource{Samples: samples(200, 6, 5), Margin: 0.1}, Approx: ApproxConfig{Degree: 3},
		Log: func(pass, msg string) { log = append(log, msg) }}
	for _, p := range []string{"fold-constants", "calibrate", "approx-activations"} {
		i := slicesIndexPass(p)
		if err := Pipeline[i].Run(g, cfg); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(strings.Join(log, "\n"), "bias correction: 1 of 1 activations corrected") {
		t.Fatalf("no correction reported:\n%s", strings.Join(log, "\n"))
	}
	// The same circuit without the correction: the map back from [-1, 1]
	// carries it.
	uncorrected := func(run func()) {
		for _, n := range g.Nodes {
			if n.Op == ir.OpAffine && n.Linear.Desc == "from [-1,1]" {
				bias := n.Linear.Bias
				n.Linear.Bias = nil
				run()
				n.Linear.Bias = bias
				return
			}
		}
		t.Fatal("no map back from [-1, 1]")
	}
	// The mean signed and absolute output errors on fresh samples.
	errs := func() (float64, float64) {
		var signed, abs float64
		test := samples(300, 6, 77)
		for _, x := range test {
			a, err := ir.Interpret(g, map[string]*ir.Tensor{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			b, err := ir.Interpret(exact, map[string]*ir.Tensor{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			d := a["y"].Data[0] - b["y"].Data[0]
			signed, abs = signed+d, abs+math.Abs(d)
		}
		return signed / float64(len(test)), abs / float64(len(test))
	}
	signed, abs := errs()
	var signedBefore, absBefore float64
	uncorrected(func() { signedBefore, absBefore = errs() })
	if !(math.Abs(signed) < 0.2*math.Abs(signedBefore)) || !(abs < absBefore) {
		t.Fatalf("mean output error %.3g (|error| %.3g) with the correction, %.3g (%.3g) without", signed, abs, signedBefore, absBefore)
	}
	// The circuit evaluated exactly is still the model.
	x := samples(1, 6, 9)[0]
	a, err := ir.InterpretWith(g, map[string]*ir.Tensor{"x": x}, ir.InterpretOptions{Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ir.Interpret(exact, map[string]*ir.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(a["y"].Data[0] - b["y"].Data[0]); d > 1e-9 {
		t.Fatalf("exact interpretation of the corrected circuit is %g off the model", d)
	}
}

func slicesIndexPass(name string) int {
	for i, p := range Pipeline {
		if p.Name == name {
			return i
		}
	}
	panic(name)
}

// TestApproxSearchReportsProgress: every measured candidate is reported,
// then the end.
func TestApproxSearchReportsProgress(t *testing.T) {
	var got []SearchProgress
	cfg := &Config{Ranges: &RangeSource{Samples: samples(100, 12, 5), Margin: 0.1}, Approx: ApproxConfig{Agreement: 0.97},
		Progress: func(p SearchProgress) { got = append(got, p) }}
	if err := ApproxActivations(reluNet(11), cfg); err != nil {
		t.Fatal(err)
	}
	if len(got) < 2 || !got[len(got)-1].Done {
		t.Fatalf("%d progress reports, last %+v", len(got), got[len(got)-1])
	}
	for i, p := range got[:len(got)-1] {
		if p.Tried != i+1 || p.Done || !strings.Contains(p.Best, "degrees ") {
			t.Fatalf("report %d: %+v", i, p)
		}
	}
}

// reluChain is a net of layers ReLU layers of width 8.
func reluChain(layers int) *ir.Graph {
	b := newGB(31)
	h := b.input(6)
	for range layers {
		h = b.add(&ir.Node{Op: ir.OpActivation, Inputs: []*ir.Node{b.affine(h, 8)}, Shape: []int{8}, Act: &ir.Activation{Func: "relu"}})
	}
	return b.output(b.affine(h, 3))
}

var adviceFlag = regexp.MustCompile(`pass --tolerance ([0-9.e+-]+) to accept the best it tried`)

// TestUnreachableAdviceWorks: a refusal names the best candidate the
// search measured and the target it meets, and compiling with that
// target succeeds; a margin is advised only when the exact model's inputs
// leave the calibrated intervals, and then covers them.
func TestUnreachableAdviceWorks(t *testing.T) {
	cases := []struct {
		name    string
		samples []*ir.Tensor
		margin  float64
		// wantMargin: the exact model's held-out inputs leave the
		// intervals calibrated on the other half.
		wantMargin bool
	}{
		// Too few samples to hold half out: the exact inputs are those
		// calibrated, inside the intervals by construction.
		{"calibration samples measured", wideSamples(30, 7), 0.1, false},
		// Heavy-tailed inputs without a margin: held-out ones go beyond
		// what the other half calibrated.
		{"held-out samples beyond the intervals", wideSamples(400, 7), 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			approx := ApproxConfig{Criterion: Tolerance, Tolerance: 1e-9, MaxDepth: 3}
			cfg := &Config{Ranges: &RangeSource{Samples: tc.samples, Margin: tc.margin}, Approx: approx}
			err := Run(reluChain(4), Pipeline, cfg)
			if !errors.Is(err, ErrTargetUnreachable) {
				t.Fatalf("got %v, want %v", err, ErrTargetUnreachable)
			}
			msg := err.Error()
			t.Log(msg)
			if strings.Contains(msg, "--margin") != tc.wantMargin {
				t.Errorf("margin advice %v, want %v: %s", !tc.wantMargin, tc.wantMargin, msg)
			}
			if m := regexp.MustCompile(`--margin ([0-9.e+-]+)`).FindStringSubmatch(msg); m != nil {
				if v, _ := strconv.ParseFloat(m[1], 64); !(v > tc.margin && v < 10) {
					t.Errorf("advised --margin %s for inputs a few times the calibrated ones: %s", m[1], msg)
				}
			}
			m := adviceFlag.FindStringSubmatch(msg)
			if m == nil {
				t.Fatalf("no target advised: %s", msg)
			}
			tol, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			approx.Tolerance = tol
			cfg = &Config{Ranges: &RangeSource{Samples: tc.samples, Margin: tc.margin}, Approx: approx}
			if err := Run(reluChain(4), Pipeline, cfg); err != nil {
				t.Fatalf("the advised --tolerance %g fails: %v\n(advice: %s)", tol, err, msg)
			}
		})
	}
}
