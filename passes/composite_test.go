package passes

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
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
				// Up to the edge of the domain where it must stay bounded.
				x := compositeDomain * (2*rng.Float64() - 1)
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
			xs, relu := make([]float64, 20000), make([]float64, 20000)
			for i := range xs {
				xs[i] = 2*rng.Float64() - 1
			}
			(&target{act: &ir.Activation{Func: "relu"}}).compositeSlice(c, relu, xs)
			for i, x := range xs {
				if e := math.Abs(relu[i] - max(x, 0)); e > c.reluBound() {
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

// conv is a same-padded 3×3 convolution of a [1,C,H,W] node to out
// channels, with weights scaled per output channel.
func (b *gb) conv(in *ir.Node, out int, scale []float64) *ir.Node {
	c, h, w := in.Shape[1], in.Shape[2], in.Shape[3]
	bl := ir.NewBuilder(out*h*w, c*h*w)
	for o := range out {
		k := make([]float64, c*9)
		for i := range k {
			k[i] = b.rng.NormFloat64() * scale[o]
		}
		for i := range h {
			for j := range w {
				r := (o*h+i)*w + j
				for ci := range c {
					for ki := range 3 {
						for kj := range 3 {
							y, x := i+ki-1, j+kj-1
							if y < 0 || y >= h || x < 0 || x >= w {
								continue
							}
							bl.Add(r, (ci*h+y)*w+x, k[(ci*3+ki)*3+kj])
						}
					}
				}
			}
		}
	}
	lin, _ := bl.Build(nil, "conv")
	return b.add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{in}, Shape: []int{1, out, h, w}, Linear: lin})
}

// pool averages 2×2 blocks (factor 2), or every position (global).
func (b *gb) pool(in *ir.Node, global bool) *ir.Node {
	c, h, w := in.Shape[1], in.Shape[2], in.Shape[3]
	oh, ow, f := h/2, w/2, 2
	if global {
		oh, ow, f = 1, 1, h
	}
	bl := ir.NewBuilder(c*oh*ow, c*h*w)
	for ch := range c {
		for i := range oh {
			for j := range ow {
				for a := range f {
					for d := range f {
						bl.Add((ch*oh+i)*ow+j, (ch*h+i*f+a)*w+j*f+d, 1/float64(f*f))
					}
				}
			}
		}
	}
	lin, _ := bl.Build(nil, "pool")
	shape := []int{1, c, oh, ow}
	if global {
		shape = []int{1, c}
	}
	return b.add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{in}, Shape: shape, Linear: lin})
}

func (b *gb) relu(in *ir.Node) *ir.Node {
	return b.add(&ir.Node{Op: ir.OpActivation, Inputs: []*ir.Node{in}, Shape: in.Shape, Act: &ir.Activation{Func: "relu"}})
}

// fashionLike is the Fashion-MNIST CNN's structure, small: Conv → ReLU →
// AvgPool → Conv → ReLU → GlobalAveragePool → Linear(8, 10) (batch
// normalisation is in the convolutions' scales), its channels scaled from
// 0.05 to 31 and the classifier weighing every channel alike.
func fashionLike(seed uint64) *ir.Graph {
	b := newGB(seed)
	x := b.add(&ir.Node{Op: ir.OpInput, Name: "x", Shape: []int{1, 1, 8, 8}})
	h := b.relu(b.conv(x, 4, []float64{0.1, 1, 5, 30}))
	h = b.pool(h, false)
	h = b.relu(b.conv(h, 8, []float64{0.05, 0.2, 1, 3, 10, 31, 0.5, 2}))
	h = b.pool(h, true)
	sc := []float64{0.05, 0.2, 1, 3, 10, 31, 0.5, 2}
	bl := ir.NewBuilder(10, 8)
	for k := range 10 {
		for c := range 8 {
			bl.Add(k, c, b.rng.NormFloat64()/sc[c])
		}
	}
	lin, _ := bl.Build(nil, "linear")
	return b.output(b.add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{h}, Shape: []int{1, 10}, Linear: lin}))
}

// darkImages are n 8×8 images u⁴ of uniform samples u: mostly dark
// pixels, as in Fashion-MNIST.
func darkImages(n int, seed uint64) []*ir.Tensor {
	out := samples(n, 64, seed)
	for _, s := range out {
		s.Shape = []int{1, 1, 8, 8}
		for j, v := range s.Data {
			s.Data[j] = v * v * v * v
		}
	}
	return out
}

// TestApproxPoorlyConditionedCNN: on fashionLike, fed inputs u⁴ (mostly
// dark pixels), no single fit within the default depth cap keeps 99.5% of
// top classes; the search gives the second ReLU a composite form, deeper
// than the cap, and the circuit keeps the model's top class on fresh
// samples.
func TestApproxPoorlyConditionedCNN(t *testing.T) {
	g, exact := fashionLike(3), fashionLike(3)
	var log []string
	cfg := &Config{Ranges: &RangeSource{Samples: darkImages(600, 5), Margin: 0.1}, Log: func(pass, msg string) { log = append(log, msg) }}
	if err := Run(g, Pipeline, cfg); err != nil {
		t.Fatal(err)
	}
	report := strings.Join(log, "\n")
	depth := 1
	for _, n := range g.Nodes {
		if n.Op == ir.OpPoly && n.Poly.Func == "sign" {
			depth += n.Poly.Depth()
		}
	}
	if g.Counts()["mul"] != 1 || depth <= defaultMaxDepth || !strings.Contains(report, "composite sign [") {
		t.Fatalf("want one composite ReLU deeper than %d levels, got %d mul nodes, %d levels\n%s", defaultMaxDepth, g.Counts()["mul"], depth, report)
	}
	fresh := darkImages(400, 77)
	same := 0
	for _, x := range fresh {
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
	}
	if frac := float64(same) / float64(len(fresh)); frac < 0.98 {
		t.Fatalf("top class kept on %.3f of fresh samples\n%s", frac, report)
	}
}

// TestDomains: a composite stays bounded by 1 (within its error) up to its
// domain's edge, where a stage fitted only on [-1, 1] would have left
// [-1, 1]; a single fit's domain shrinks with its degree, and it stays
// within singleGrowth times its peak there; a candidate whose inputs leave
// a domain is found.
func TestDomains(t *testing.T) {
	c := compositeSign(8, 7)
	for _, x := range []float64{1, 1.01, 1.5, 1.99, compositeDomain} {
		if s := c.sign(x); !(math.Abs(s-1) <= c.err) {
			t.Errorf("s(%g) = %g, more than %g from 1", x, s, c.err)
		}
	}
	tg := &target{act: &ir.Activation{Func: "relu"}, scale: 1}
	low, high := tg.domain(single(7)), tg.domain(single(127))
	if !(high < low && high > 1) {
		t.Fatalf("domains: degree 7 %g, degree 127 %g", low, high)
	}
	p := tg.fitted(single(127))
	if v := math.Abs(p.Eval(high)); v > singleGrowth*1.01 {
		t.Errorf("degree 127 reaches %g at the edge of its domain %g", v, high)
	}
	if v := math.Abs(p.Eval(high + 0.01)); !(v > singleGrowth) {
		t.Errorf("degree 127 only reaches %g past its domain %g: the domain is too small", v, high)
	}
	s := &search{targets: []*target{tg, tg}}
	forms := []form{single(127), {comp: c}}
	for _, tc := range []struct {
		reached []float64
		want    int
	}{
		{[]float64{1, 1.9}, -1},
		{[]float64{high + 0.01, 1}, 0},
		{[]float64{1, compositeDomain * 1.01}, 1},
	} {
		if got := s.outOfDomain(forms, tc.reached); got != tc.want {
			t.Errorf("reached %v: out of domain %d, want %d", tc.reached, got, tc.want)
		}
	}
}

// TestCompositeSliceMatchesSign: the simulation evaluates composite forms a
// stage over a slice at a time; each value must round as the composite's
// sign, one value at a time, rounds it.
func TestCompositeSliceMatchesSign(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	x := []float64{0, math.Copysign(0, -1), 1, -1, 2.5, -3, math.NaN()}
	for range 41 {
		x = append(x, 3*rng.Float64()-1.5)
	}
	targets := []*target{
		{act: &ir.Activation{Func: "relu"}, scale: 1},
		{act: &ir.Activation{Func: "leaky_relu", Alpha: 0.1}, scale: 1},
		{act: &ir.Activation{Func: "clip", Lo: -0.4, Hi: 1.3}, scale: 1.7, shift: 0.2},
	}
	for _, b := range []int{6, 11} {
		c := compositeSign(b, 7)
		for _, tg := range targets {
			y := make([]float64, len(x))
			tg.compositeSlice(c, y, x)
			hinge, width := tg.hinges()
			for i, v := range x {
				want := v * ((1+tg.act.Alpha)/2 + (1-tg.act.Alpha)/2*c.sign(v))
				if tg.act.Func == "clip" {
					y0, y1 := v-hinge[0], v-hinge[1]
					want = (tg.act.Lo+tg.act.Hi)/2 + tg.scale/2*(y0*c.sign(y0/width[0])-y1*c.sign(y1/width[1]))
				}
				if math.Float64bits(y[i]) != math.Float64bits(want) && !(math.IsNaN(y[i]) && math.IsNaN(want)) {
					t.Fatalf("%s, %d bits, at %v: slice %v, one at a time %v", tg.act, b, v, y[i], want)
				}
			}
		}
	}
}

// sign evaluates the composite at one x, one stage after the other: the
// reference signSlice must round as.
func (c *composite) sign(x float64) float64 {
	x /= compositeDomain
	for _, s := range c.stages {
		x = clenshaw(s, x)
	}
	return x
}

func clenshaw(c []float64, t float64) float64 {
	var b1, b2 float64
	for k := len(c) - 1; k >= 1; k-- {
		b1, b2 = 2*t*b1-b2+c[k], b1
	}
	return t*b1 - b2 + c[0]
}
