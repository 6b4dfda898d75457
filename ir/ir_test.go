package ir

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func randomLinear(rng *rand.Rand, rows, cols int, density float64, bias bool) *Linear {
	b := NewBuilder(rows, cols)
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			if rng.Float64() < density {
				b.Add(r, c, rng.NormFloat64())
			}
		}
	}
	var bs []float64
	if bias {
		bs = make([]float64, rows)
		for i := range bs {
			bs[i] = rng.NormFloat64()
		}
	}
	l, err := b.Build(bs, "random")
	if err != nil {
		panic(err)
	}
	return l
}

func randomVector(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

func maxDiff(a, b []float64) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

func TestComposeMatchesSequentialApplication(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name         string
		outer, inner *Linear
	}{
		{"sparse∘sparse", randomLinear(rng, 7, 9, 0.3, true), randomLinear(rng, 9, 5, 0.3, true)},
		{"dense∘sparse no bias", randomLinear(rng, 4, 6, 1, false), randomLinear(rng, 6, 8, 0.2, false)},
		{"identity∘dense", NewIdentity(6, "reshape"), randomLinear(rng, 6, 3, 1, true)},
		{"dense∘identity", randomLinear(rng, 2, 6, 1, true), NewIdentity(6, "flatten")},
		{"identity∘identity", NewIdentity(5, "a"), NewIdentity(5, "b")},
		{"empty rows", randomLinear(rng, 5, 5, 0, true), randomLinear(rng, 5, 5, 0.5, true)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compose(tc.outer, tc.inner)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.check(); err != nil {
				t.Fatalf("composition is malformed: %v", err)
			}
			x := randomVector(rng, tc.inner.Cols)
			want := tc.outer.Apply(tc.inner.Apply(x))
			if d := maxDiff(c.Apply(x), want); d > 1e-12 {
				t.Fatalf("composed map differs by %g", d)
			}
		})
	}
	if _, err := Compose(randomLinear(rng, 3, 4, 1, false), randomLinear(rng, 5, 3, 1, false)); err == nil {
		t.Fatal("composing mismatched dimensions succeeded")
	}
}

func TestBuilderSumsDuplicatesAndDropsZeros(t *testing.T) {
	b := NewBuilder(2, 3)
	b.Add(1, 2, 1.5)
	b.Add(0, 1, 2)
	b.Add(1, 2, 0.5)
	b.Add(0, 0, 0)
	l, err := b.Build(nil, "t")
	if err != nil {
		t.Fatal(err)
	}
	if l.NNZ() != 2 {
		t.Fatalf("NNZ = %d, want 2", l.NNZ())
	}
	got := l.Apply([]float64{1, 10, 100})
	if got[0] != 20 || got[1] != 200 {
		t.Fatalf("Apply = %v, want [20 200]", got)
	}
	b.Add(2, 0, 1)
	if _, err := b.Build(nil, "t"); err == nil {
		t.Fatal("an entry outside the matrix was accepted")
	}
}

func TestSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a, b := randomLinear(rng, 4, 4, 0.5, true), NewIdentity(4, "skip")
	s, err := Sum(a, b)
	if err != nil {
		t.Fatal(err)
	}
	x := randomVector(rng, 4)
	want := a.Apply(x)
	for i := range want {
		want[i] += x[i]
	}
	if d := maxDiff(s.Apply(x), want); d > 1e-12 {
		t.Fatalf("sum differs by %g", d)
	}
}

func TestChebyshevEvalMatchesDefinition(t *testing.T) {
	p := &Polynomial{Basis: Chebyshev, Coeffs: []float64{0.5, -1, 2, 0.25}, Interval: Interval{-3, 5}}
	for _, x := range []float64{-3, -1.2, 0, 2.5, 5} {
		tt := (2*x - 2) / 8
		t0, t1, t2, t3 := 1.0, tt, 2*tt*tt-1, 4*tt*tt*tt-3*tt
		want := 0.5*t0 - t1 + 2*t2 + 0.25*t3
		if got := p.Eval(x); math.Abs(got-want) > 1e-12 {
			t.Fatalf("p(%g) = %g, want %g", x, got, want)
		}
	}
	if d := p.Depth(); d != 3 {
		t.Fatalf("depth of degree-3 chebyshev on [-3,5] = %d, want 3 (2 + change of basis)", d)
	}
	if d := Square().Depth(); d != 1 {
		t.Fatalf("depth of x² = %d, want 1", d)
	}
}

// cryptoNetsLike builds input → affine → x² → affine → output.
func cryptoNetsLike(rng *rand.Rand) *Graph {
	g := &Graph{}
	in := g.Add(&Node{Op: OpInput, Name: "input", Shape: []int{1, 6}})
	a := g.Add(&Node{Op: OpAffine, Inputs: []*Node{in}, Shape: []int{1, 4}, Linear: randomLinear(rng, 4, 6, 0.7, true), Origin: `"Gemm_0" (Gemm)`})
	sq := g.Add(&Node{Op: OpMul, Inputs: []*Node{a, a}, Shape: []int{1, 4}})
	p := g.Add(&Node{Op: OpPoly, Inputs: []*Node{sq}, Shape: []int{1, 4}, Poly: &Polynomial{Basis: Chebyshev, Coeffs: []float64{1, 2}, Interval: Interval{-1, 1}}})
	b := g.Add(&Node{Op: OpAffine, Inputs: []*Node{p}, Shape: []int{2}, Linear: randomLinear(rng, 2, 4, 1, false)})
	g.Add(&Node{Op: OpOutput, Name: "output", Inputs: []*Node{b}, Shape: []int{2}, Post: "softmax"})
	return g
}

func TestInterpret(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	g := cryptoNetsLike(rng)
	if err := Verify(g); err != nil {
		t.Fatal(err)
	}
	x := randomVector(rng, 6)
	h := g.Nodes[1].Linear.Apply(x)
	for i := range h {
		h[i] = 1 + 2*h[i]*h[i]
	}
	want := g.Nodes[4].Linear.Apply(h)
	out, err := Interpret(g, map[string]*Tensor{"input": {Shape: []int{1, 6}, Data: x}})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(out["output"].Data, want); d > 1e-12 {
		t.Fatalf("interpretation differs by %g", d)
	}
	if _, err := Interpret(g, map[string]*Tensor{"input": {Shape: []int{5}, Data: make([]float64, 5)}}); err == nil {
		t.Fatal("an input of the wrong size was accepted")
	}
}

func TestVerifyRejects(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(g *Graph)
		want   string
	}{
		{"use before definition", func(g *Graph) { g.Nodes[1], g.Nodes[2] = g.Nodes[2], g.Nodes[1] }, "defined later"},
		{"affine dimension mismatch", func(g *Graph) { g.Nodes[1].Shape = []int{1, 5} }, "maps 6 values to 4"},
		{"missing payload", func(g *Graph) { g.Nodes[3].Poly = nil }, "no poly payload"},
		{"stray payload", func(g *Graph) { g.Nodes[2].Poly = Square() }, "carries a poly payload"},
		{"wrong arity", func(g *Graph) { g.Nodes[2].Inputs = g.Nodes[2].Inputs[:1] }, "takes 2 inputs"},
		{"NaN weight", func(g *Graph) { g.Nodes[4].Linear.Vals[0] = math.NaN() }, "NaN"},
		{"bad CSR", func(g *Graph) { g.Nodes[1].Linear.RowPtr = g.Nodes[1].Linear.RowPtr[:2] }, "structure is inconsistent"},
		{"no output", func(g *Graph) { g.Nodes = g.Nodes[:5] }, "no output"},
		{"unnamed input", func(g *Graph) { g.Nodes[0].Name = "" }, "no name"},
		{"zero dimension", func(g *Graph) { g.Nodes[0].Shape = []int{0, 6} }, "non-positive"},
		{"post on inner node", func(g *Graph) { g.Nodes[2].Post = "softmax" }, "post-processing"},
		{"empty chebyshev interval", func(g *Graph) { g.Nodes[3].Poly.Interval = Interval{1, 1} }, "empty interval"},
		{"slots too few", func(g *Graph) { g.LogSlots = 2 }, "more than the 4 slots"},
		{"client layout on an inner node", func(g *Graph) {
			g.Nodes[2].Gather = &Gather{Shape: []int{4}, Slots: []int{0, 1, 2, 3}, Parts: 1}
		}, "not an input"},
		{"client layout beyond the tensor", func(g *Graph) {
			g.Nodes[0].Shape, g.Nodes[0].Gather = []int{6}, &Gather{Shape: []int{2, 3}, Slots: []int{0, 1, 2, 3, 4, 6}, Parts: 1}
		}, "puts element 6 of 6"},
		{"client layout in parts of unequal size", func(g *Graph) {
			g.Nodes[0].Shape, g.Nodes[0].Gather = []int{6}, &Gather{Shape: []int{1, 6}, Slots: []int{0, 1, 2, 3, 4, 5}, Parts: 4}
		}, "in 4 ciphertexts"},
		{"parts read into more slots than a part has", func(g *Graph) {
			g.Nodes[0].Shape, g.Nodes[0].Gather = []int{6}, &Gather{Shape: []int{1, 6}, Slots: []int{0, 1, 2, 3, 4, 5}, Parts: 2}
		}, "parts of 3 slots to 4 values"},
		{"client layout of another size", func(g *Graph) {
			g.Nodes[0].Gather = &Gather{Shape: []int{6}, Slots: []int{0, 1, 2, 3, 4, 5}}
		}, "on an input of shape"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := cryptoNetsLike(rand.New(rand.NewPCG(7, 8)))
			tc.break_(g)
			err := Verify(g)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify = %v, want an ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
}

// partsGraph reads an input of 3 values encrypted in two parts of 3 slots:
// part 1 holds the input shifted by one, and the map adds w0·x[r] and
// w1·x[r+1] slot by slot.
func partsGraph(extra func(*Builder)) *Graph {
	g := &Graph{}
	in := g.Add(&Node{Op: OpInput, Name: "x", Shape: []int{6}, Gather: &Gather{Shape: []int{3}, Slots: []int{0, 1, 2, 1, 2, -1}, Parts: 2}})
	b := NewBuilder(3, 6)
	for r := range 3 {
		b.Add(r, r, 2)
		b.Add(r, 3+r, -1)
	}
	if extra != nil {
		extra(b)
	}
	lin, err := b.Build([]float64{0.5, 0.5, 0.5}, "x[r]·2 − x[r+1]")
	if err != nil {
		panic(err)
	}
	a := g.Add(&Node{Op: OpAffine, Inputs: []*Node{in}, Shape: []int{3}, Linear: lin})
	g.Add(&Node{Op: OpOutput, Name: "y", Inputs: []*Node{a}, Shape: []int{3}})
	g.LogSlots = 2
	return g
}

func TestInputInParts(t *testing.T) {
	g := partsGraph(nil)
	if err := Verify(g); err != nil {
		t.Fatal(err)
	}
	out, err := Interpret(g, map[string]*Tensor{"x": {Shape: []int{3}, Data: []float64{1, 2, 3}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{2 - 2 + 0.5, 4 - 3 + 0.5, 6 + 0.5}; maxDiff(out["y"].Data, want) > 1e-12 {
		t.Fatalf("got %v, want %v", out["y"].Data, want)
	}
	h, _ := encodeDecode(t, g)
	if got := h.Nodes[0].Gather; got.Parts != 2 || h.Nodes[0].CiphertextSize() != 3 || !strings.Contains(h.String(), "in 2 ciphertexts") {
		t.Fatalf("round trip gave parts %d of %d slots:\n%s", got.Parts, h.Nodes[0].CiphertextSize(), h)
	}

	// Reading across slots would need a rotation of a part.
	if err := Verify(partsGraph(func(b *Builder) { b.Add(0, 4, 1) })); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "slot by slot") {
		t.Errorf("a map reading slot 1 of a part into slot 0: %v", err)
	}
	// Only an affine map may read the parts.
	g = partsGraph(nil)
	g.Nodes[1] = &Node{Op: OpPoly, Inputs: []*Node{g.Nodes[0]}, Shape: []int{6}, Poly: Square()}
	g.Nodes[2].Inputs[0], g.Nodes[2].Shape = g.Nodes[1], []int{6}
	if err := Verify(g); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "only an affine map") {
		t.Errorf("a polynomial reading the parts: %v", err)
	}
}

// encodeDecode returns g after an encoding round trip, and its encoding.
func encodeDecode(t *testing.T, g *Graph) (*Graph, []byte) {
	t.Helper()
	data, err := Encode(g)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return h, data
}

// richGraph sets every field the encoding carries, with values no zero
// default could fake: a client layout, a constant, an exact activation, an
// approximation recording what it replaces, an identity map with a bias,
// ranges, levels and names.
func richGraph() *Graph {
	g := cryptoNetsLike(rand.New(rand.NewPCG(9, 10)))
	g.Add(&Node{Op: OpConst, Shape: []int{2}, Const: &Tensor{Shape: []int{2}, Data: []float64{1, -2}}, Origin: `"k" (Constant)`})
	g.Nodes = append(g.Nodes[:1], append([]*Node{g.Nodes[6]}, g.Nodes[1:6]...)...)
	g.Add(&Node{Op: OpActivation, Inputs: []*Node{g.Nodes[0]}, Shape: []int{1, 6}, Act: &Activation{Func: "clip", Lo: -0.5, Hi: 6}})
	act := g.Add(&Node{Op: OpActivation, Inputs: []*Node{g.Nodes[0]}, Shape: []int{1, 6}, Act: &Activation{Func: "leaky_relu", Alpha: 0.125}})
	approx := g.Add(&Node{Op: OpPoly, Inputs: []*Node{act}, Shape: []int{1, 6}, Origin: `"Relu_3" (Relu)`, Poly: &Polynomial{
		Basis: Monomial, Coeffs: []float64{0.25, 0.5, 0.375}, Interval: Interval{-3, 5}, Func: "relu", MaxErr: 0.0625,
		Replaces: &Activation{Func: "relu"}, ArgScale: 4, ArgShift: -1,
	}})
	shift := NewIdentity(6, "reshape")
	shift.Bias = []float64{0.5, -1, 2, 0, 3, -4}
	g.Add(&Node{Op: OpAffine, Inputs: []*Node{approx}, Shape: []int{6}, Linear: shift})
	g.LogSlots, g.Depth = 3, 4
	for i, n := range g.Nodes {
		n.Range, n.Level = Interval{-float64(i) - 0.5, 2*float64(i) + 1}, i%5
	}
	g.Nodes[0].Shape = []int{6}
	g.Nodes[0].Gather = &Gather{Shape: []int{3, 2}, Slots: []int{5, 4, -1, 0, 1, 2}, Parts: 1}
	return g
}

func TestEncodeRoundTrip(t *testing.T) {
	g := richGraph()
	if err := Verify(g); err != nil {
		t.Fatal(err)
	}
	h, data := encodeDecode(t, g)
	if d := graphDiff(g, h); d != "" {
		t.Fatalf("round trip changed the graph: %s", d)
	}
	for i := range data {
		if _, err := Decode(data[:i]); err == nil {
			t.Fatalf("a circuit truncated to %d of %d bytes decoded", i, len(data))
		}
	}
}

// A circuit in the format of hecc before version 4 is refused with advice.
func TestDecodeOldFormat(t *testing.T) {
	data, err := Encode(cryptoNetsLike(rand.New(rand.NewPCG(11, 12))))
	if err != nil {
		t.Fatal(err)
	}
	for _, version := range []byte{3, 4} {
		old := append([]byte("HEIR"), data[4:]...)
		old[4] = version
		if _, err := Decode(old); !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "older hecc") || !strings.Contains(err.Error(), "recompile") {
			t.Errorf("a circuit with the old magic and version %d: %v", version, err)
		}
	}
	if _, err := Decode(append([]byte("HECI\x03\x00"), data[6:]...)); !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "version 3") {
		t.Errorf("a circuit of version 3 with the new magic: %v", err)
	}
}

// graphDiff describes the first difference between two graphs, field by
// field and bit for bit, inputs compared by position; "" when they agree.
// Nil and empty slices are equal: the encoding does not tell them apart.
func graphDiff(a, b *Graph) string {
	ga, gb := *a, *b
	ga.Nodes, gb.Nodes = nil, nil
	if d := valueDiff("graph", reflect.ValueOf(ga), reflect.ValueOf(gb)); d != "" {
		return d
	}
	if len(a.Nodes) != len(b.Nodes) {
		return fmt.Sprintf("%d nodes became %d", len(a.Nodes), len(b.Nodes))
	}
	pos := func(g *Graph, n *Node) int { return slices.Index(g.Nodes, n) }
	for i := range a.Nodes {
		na, nb := *a.Nodes[i], *b.Nodes[i]
		ia, ib := make([]int, len(na.Inputs)), make([]int, len(nb.Inputs))
		for k, in := range na.Inputs {
			ia[k] = pos(a, in)
		}
		for k, in := range nb.Inputs {
			ib[k] = pos(b, in)
		}
		if !slices.Equal(ia, ib) {
			return fmt.Sprintf("node %d reads nodes %v, was %v", i, ib, ia)
		}
		na.Inputs, nb.Inputs = nil, nil
		if d := valueDiff(fmt.Sprintf("node %d", i), reflect.ValueOf(na), reflect.ValueOf(nb)); d != "" {
			return d
		}
	}
	return ""
}

func valueDiff(path string, a, b reflect.Value) string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return fmt.Sprintf("%s: %v became %v", path, a, b)
			}
			return ""
		}
		return valueDiff(path, a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if d := valueDiff(path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Slice:
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: %d elements became %d", path, a.Len(), b.Len())
		}
		for i := range a.Len() {
			if d := valueDiff(fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Float64:
		if math.Float64bits(a.Float()) != math.Float64bits(b.Float()) {
			return fmt.Sprintf("%s: %v became %v", path, a.Float(), b.Float())
		}
		return ""
	case reflect.Bool, reflect.Int, reflect.Uint8, reflect.String:
		if !a.Equal(b) {
			return fmt.Sprintf("%s: %v became %v", path, a, b)
		}
		return ""
	}
	return fmt.Sprintf("%s: cannot compare a %s", path, a.Kind())
}

func FuzzDecode(f *testing.F) {
	data, err := Encode(cryptoNetsLike(rand.New(rand.NewPCG(11, 12))))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("HEIR\x03\x00"))
	f.Add([]byte("HECI\x04\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v does not wrap ErrDecode", err)
			}
			return
		}
		// Whatever decodes must be safe to print, verify and re-encode.
		_ = g.String()
		if _, err := Encode(g); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPruneAndSort(t *testing.T) {
	g := cryptoNetsLike(rand.New(rand.NewPCG(13, 14)))
	dead := &Node{Op: OpPoly, Inputs: []*Node{g.Nodes[0]}, Shape: []int{1, 6}, Poly: Square()}
	g.Nodes = append([]*Node{dead}, g.Nodes...) // out of order and dead
	if err := g.Sort(); err != nil {
		t.Fatal(err)
	}
	g.Prune()
	if err := Verify(g); err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != 6 {
		t.Fatalf("%d nodes after pruning, want 6", len(g.Nodes))
	}
	g.Nodes[1].Inputs[0] = g.Nodes[4] // a cycle
	if err := g.Sort(); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("Sort on a cycle = %v", err)
	}
}
