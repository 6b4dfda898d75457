package passes

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/ir"
)

type gb struct {
	g   *ir.Graph
	rng *rand.Rand
}

func newGB(seed uint64) *gb { return &gb{g: &ir.Graph{}, rng: rand.New(rand.NewPCG(seed, 1))} }

func (b *gb) add(n *ir.Node) *ir.Node { return b.g.Add(n) }

func (b *gb) input(n int) *ir.Node {
	return b.add(&ir.Node{Op: ir.OpInput, Name: "x", Shape: []int{n}})
}

func (b *gb) affine(in *ir.Node, rows int) *ir.Node {
	bl := ir.NewBuilder(rows, in.Size())
	for r := range rows {
		for c := range in.Size() {
			if b.rng.Float64() < 0.6 {
				bl.Add(r, c, b.rng.NormFloat64())
			}
		}
	}
	bias := make([]float64, rows)
	for i := range bias {
		bias[i] = b.rng.NormFloat64()
	}
	lin, _ := bl.Build(bias, "dense")
	return b.add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{in}, Shape: []int{rows}, Linear: lin})
}

func (b *gb) konst(n int) *ir.Node {
	t := ir.NewTensor(n)
	for i := range t.Data {
		t.Data[i] = b.rng.NormFloat64()
	}
	return b.add(&ir.Node{Op: ir.OpConst, Shape: []int{n}, Const: t})
}

func (b *gb) op(op ir.Op, ins ...*ir.Node) *ir.Node {
	return b.add(&ir.Node{Op: op, Inputs: ins, Shape: ins[0].Shape})
}

func (b *gb) poly(in *ir.Node, p *ir.Polynomial) *ir.Node {
	return b.add(&ir.Node{Op: ir.OpPoly, Inputs: []*ir.Node{in}, Shape: in.Shape, Poly: p})
}

func (b *gb) output(in *ir.Node) *ir.Graph {
	b.add(&ir.Node{Op: ir.OpOutput, Name: "y", Inputs: []*ir.Node{in}, Shape: in.Shape})
	return b.g
}

// evalOn interprets g on a fixed random input.
func evalOn(t *testing.T, g *ir.Graph, seed uint64) []float64 {
	t.Helper()
	in := g.Inputs()[0]
	rng := rand.New(rand.NewPCG(seed, 2))
	x := ir.NewTensor(in.InputShape()...)
	for i := range x.Data {
		x.Data[i] = 2*rng.Float64() - 1
	}
	out, err := ir.Interpret(g, map[string]*ir.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	return out["y"].Data
}

// checkPreserves runs pass on g and checks that g still verifies and
// computes the same function.
func checkPreserves(t *testing.T, g *ir.Graph, pass func(*ir.Graph, *Config) error) {
	t.Helper()
	before := evalOn(t, g, 5)
	if err := pass(g, nil); err != nil {
		t.Fatal(err)
	}
	if err := ir.Verify(g); err != nil {
		t.Fatal(err)
	}
	after := evalOn(t, g, 5)
	for i := range before {
		if math.Abs(before[i]-after[i]) > 1e-9*(1+math.Abs(before[i])) {
			t.Fatalf("output %d changed from %g to %g", i, before[i], after[i])
		}
	}
}

func TestPipelineOrderRules(t *testing.T) {
	if err := CheckOrder(Pipeline); err != nil {
		t.Fatal(err)
	}
	reversed := make([]Pass, len(Pipeline))
	for i, p := range Pipeline {
		reversed[len(Pipeline)-1-i] = p
	}
	err := CheckOrder(reversed)
	if err == nil || !strings.Contains(err.Error(), "must run after") {
		t.Fatalf("a reversed pipeline was accepted: %v", err)
	}
	if err := CheckOrder(append(Pipeline[:1:1], Pipeline[0])); err == nil {
		t.Fatal("a pipeline with a pass twice was accepted")
	}
}

func TestFoldConstants(t *testing.T) {
	b := newGB(1)
	x := b.input(6)
	c := b.op(ir.OpAdd, b.konst(6), b.konst(6)) // all-constant: evaluated
	y := b.op(ir.OpMul, b.op(ir.OpAdd, x, c), b.konst(6))
	g := b.output(b.affine(y, 3))
	checkPreserves(t, g, FoldConstants)
	counts := g.Counts()
	if counts["const"] != 0 || counts["add"] != 0 || counts["mul"] != 0 || counts["affine"] != 3 {
		t.Fatalf("after folding: %v\n%s", counts, g)
	}

	b = newGB(2)
	b.input(3)
	g = b.output(b.op(ir.OpAdd, b.konst(3), b.konst(3)))
	if err := FoldConstants(g, nil); !errors.Is(err, ErrConstantOutput) {
		t.Fatalf("constant output: %v", err)
	}
}

func TestSquashComposesChains(t *testing.T) {
	b := newGB(3)
	x := b.input(8)
	h := b.affine(b.affine(b.affine(b.affine(x, 7), 6), 5), 5)
	sq := b.poly(h, ir.Square())
	g := b.output(b.affine(b.affine(sq, 4), 3))
	checkPreserves(t, g, SquashAffine)
	if n := g.Counts()["affine"]; n != 2 {
		t.Fatalf("%d affine nodes after squashing, want 2 (one each side of x²):\n%s", n, g)
	}
}

func TestSquashKeepsSharedProducers(t *testing.T) {
	b := newGB(4)
	x := b.input(5)
	shared := b.affine(x, 5)
	g := b.output(b.op(ir.OpAdd, b.affine(shared, 5), b.poly(shared, ir.Square())))
	checkPreserves(t, g, SquashAffine)
	if n := g.Counts()["affine"]; n != 2 {
		t.Fatalf("a producer read twice was composed away: %d affine nodes\n%s", n, g)
	}
}

func TestLayoutMasksOnlyWhenNeeded(t *testing.T) {
	cases := []struct {
		name   string
		poly   *ir.Polynomial
		masked bool
	}{
		{"square keeps zeros", ir.Square(), false},
		{"p(0) != 0 writes garbage", &ir.Polynomial{Basis: ir.Monomial, Coeffs: []float64{0.5, 1}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newGB(5)
			g := b.output(b.poly(b.affine(b.input(10), 20), tc.poly))
			checkPreserves(t, g, Layout)
			if g.LogSlots != 5 {
				t.Fatalf("2^%d slots for 20 values, want 2^5", g.LogSlots)
			}
			out := g.Outputs()[0]
			if got := out.Inputs[0].Op == ir.OpAffine; got != tc.masked {
				t.Fatalf("masked = %v, want %v\n%s", got, tc.masked, g)
			}
		})
	}
}

func TestDepthAssignsLevels(t *testing.T) {
	b := newGB(6)
	x := b.input(4)
	a := b.affine(x, 4)                                                                                                   // 1
	p := b.poly(a, &ir.Polynomial{Basis: ir.Chebyshev, Coeffs: make([]float64, 8), Interval: ir.Interval{Lo: -1, Hi: 1}}) // +3
	p.Poly.Coeffs[7] = 1
	m := b.op(ir.OpMul, p, a) // +1 below the lower input
	s := b.op(ir.OpAdd, m, x) // free
	g := b.output(s)
	if err := Depth(g, nil); err != nil {
		t.Fatal(err)
	}
	if g.Depth != 5 {
		t.Fatalf("depth %d, want 5\n%s", g.Depth, g)
	}
	want := map[*ir.Node]int{x: 5, a: 4, p: 1, m: 0, s: 0}
	for n, l := range want {
		if n.Level != l {
			t.Fatalf("node %s at level %d, want %d\n%s", n.Op, n.Level, l, g)
		}
	}
}

func TestIntervalsEncloseValues(t *testing.T) {
	b := newGB(7)
	x := b.input(6)
	h := b.affine(x, 6)
	p := b.poly(h, &ir.Polynomial{Basis: ir.Chebyshev, Coeffs: []float64{0.1, 0.5, -0.3, 0.2}, Interval: ir.Interval{Lo: -4, Hi: 4}})
	g := b.output(b.affine(b.op(ir.OpMul, p, h), 2))
	cfg := &Config{Ranges: &RangeSource{Input: &ir.Interval{Lo: -1, Hi: 1}}}
	if err := Ranges(g, cfg); err != nil {
		t.Fatal(err)
	}
	for s := range 200 {
		rng := rand.New(rand.NewPCG(uint64(s), 9))
		in := ir.NewTensor(6)
		for i := range in.Data {
			in.Data[i] = 2*rng.Float64() - 1
		}
		_, err := ir.InterpretObserved(g, map[string]*ir.Tensor{"x": in}, func(n *ir.Node, v []float64) {
			for _, y := range v {
				if y < n.Range.Lo-1e-9 || y > n.Range.Hi+1e-9 {
					t.Fatalf("node %s: value %g outside its interval [%g, %g]", n.Op, y, n.Range.Lo, n.Range.Hi)
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestCalibrationWidensObservedRanges(t *testing.T) {
	b := newGB(8)
	g := b.output(b.affine(b.input(3), 2))
	samples := []*ir.Tensor{{Shape: []int{3}, Data: []float64{0, 0, 0}}, {Shape: []int{3}, Data: []float64{1, -1, 0.5}}}
	if err := Ranges(g, &Config{Ranges: &RangeSource{Samples: samples, Margin: 0.5}}); err != nil {
		t.Fatal(err)
	}
	in := g.Inputs()[0].Range
	if in.Lo != -2 || in.Hi != 2 {
		t.Fatalf("input range %v, want [-2, 2] (observed [-1, 1] widened by half its width)", in)
	}
}

func TestAlignScalesGivesAddATunableOperand(t *testing.T) {
	b := newGB(9)
	x := b.input(4)
	sq := b.op(ir.OpMul, x, x)
	g := b.output(b.op(ir.OpAdd, sq, x))
	checkPreserves(t, g, AlignScales)
	add := g.Outputs()[0].Inputs[0]
	if in := add.Inputs[1]; in.Op != ir.OpAffine || in.Inputs[0] != x {
		t.Fatalf("the shallower operand x did not get a map:\n%s", g)
	}
	// Equal scales (x + x) or a tunable operand need nothing.
	b = newGB(10)
	x = b.input(4)
	g = b.output(b.op(ir.OpAdd, b.affine(x, 4), b.op(ir.OpMul, x, x)))
	before := len(g.Nodes)
	checkPreserves(t, g, AlignScales)
	if len(g.Nodes) != before {
		t.Fatalf("a map was inserted although an operand is tunable:\n%s", g)
	}
}
