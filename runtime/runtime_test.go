package runtime

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
)

// graphBuilder makes small circuits by hand.
type graphBuilder struct {
	g   *ir.Graph
	rng *rand.Rand
}

func newGraph(seed uint64, inSize int) (*graphBuilder, *ir.Node) {
	b := &graphBuilder{g: &ir.Graph{}, rng: rand.New(rand.NewPCG(seed, seed+1))}
	return b, b.g.Add(&ir.Node{Op: ir.OpInput, Name: "x", Shape: []int{inSize}})
}

func (b *graphBuilder) dense(in *ir.Node, rows int, density float64) *ir.Node {
	bl := ir.NewBuilder(rows, in.Size())
	for r := range rows {
		for c := range in.Size() {
			if b.rng.Float64() < density {
				bl.Add(r, c, b.rng.NormFloat64()/math.Sqrt(float64(in.Size())))
			}
		}
	}
	bias := make([]float64, rows)
	for i := range bias {
		bias[i] = 0.1 * b.rng.NormFloat64()
	}
	lin, err := bl.Build(bias, "dense")
	if err != nil {
		panic(err)
	}
	return b.g.Add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{in}, Shape: []int{rows}, Linear: lin})
}

// partsMap adds an input of n values the client encrypts in parts
// ciphertexts, part j the input rotated by j, and the map that adds
// w_j ⊙ part_j with no rotation.
func (b *graphBuilder) partsMap(n, parts int) *ir.Node {
	gather := &ir.Gather{Shape: []int{n}, Parts: parts}
	for j := range parts {
		for s := range n {
			gather.Slots = append(gather.Slots, (s+j)%n)
		}
	}
	x := b.g.Add(&ir.Node{Op: ir.OpInput, Name: "x", Shape: []int{parts * n}, Gather: gather})
	bl := ir.NewBuilder(n, parts*n)
	for j := range parts {
		for r := range n {
			bl.Add(r, j*n+r, b.rng.NormFloat64())
		}
	}
	lin, err := bl.Build(randomInputs(3, n, 0.1), "band")
	if err != nil {
		panic(err)
	}
	first := b.g.Add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{x}, Shape: []int{n}, Linear: lin})
	return first
}

func (b *graphBuilder) node(op ir.Op, shape []int, ins ...*ir.Node) *ir.Node {
	return b.g.Add(&ir.Node{Op: op, Inputs: ins, Shape: shape})
}

func (b *graphBuilder) poly(in *ir.Node, p *ir.Polynomial) *ir.Node {
	return b.g.Add(&ir.Node{Op: ir.OpPoly, Inputs: []*ir.Node{in}, Shape: in.Shape, Poly: p})
}

func (b *graphBuilder) output(in *ir.Node) *ir.Graph {
	b.g.Add(&ir.Node{Op: ir.OpOutput, Name: "y", Inputs: []*ir.Node{in}, Shape: in.Shape})
	return b.g
}

// testServer runs the passes on g, plans it at insecure test parameters of
// scale 2^logScale and prepares a server with fresh keys.
func testServer(t *testing.T, g *ir.Graph, logScale int) (*plan.Spec, *Keys, *Server) {
	t.Helper()
	if err := passes.Run(g, passes.Pipeline, nil); err != nil {
		t.Fatal(err)
	}
	spec := planSpec(t, "test", g, params.InsecureTestSet(11, g.Depth, logScale))
	keys, err := GenerateKeys(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(&Circuit{Spec: spec, Graph: g}, keys.Eval)
	if err != nil {
		t.Fatal(err)
	}
	return spec, keys, srv
}

// planSpec plans g, which has been through the passes, and returns its spec.
func planSpec(t *testing.T, model string, g *ir.Graph, set params.Set) *plan.Spec {
	t.Helper()
	pl, err := plan.Build(model, g, set)
	if err != nil {
		t.Fatal(err)
	}
	return pl.Spec
}

// roundTrip compiles g with insecure test parameters of scale 2^logScale,
// evaluates it encrypted and returns the largest error against the
// plaintext interpretation.
//
// The server first evaluates another input, so that the evaluation checked
// runs in the buffers that one left behind.
func roundTrip(t *testing.T, g *ir.Graph, inputs []float64, logScale int) float64 {
	t.Helper()
	spec, keys, srv := testServer(t, g, logScale)
	other := &ir.Tensor{Shape: g.Inputs()[0].InputShape(), Data: randomInputs(1234, len(inputs), 1)}
	if ct, err := Encrypt(spec, keys.Secret, other); err != nil {
		t.Fatal(err)
	} else if _, _, err := srv.Run(context.Background(), ct); err != nil {
		t.Fatal(err)
	}
	return worstError(t, spec, keys, srv, g, &ir.Tensor{Shape: g.Inputs()[0].InputShape(), Data: inputs})
}

// worstError evaluates g encrypted on srv at x and returns the largest
// error against its plaintext interpretation.
func worstError(t *testing.T, spec *plan.Spec, keys *Keys, srv *Server, g *ir.Graph, x *ir.Tensor) float64 {
	t.Helper()
	ct, err := Encrypt(spec, keys.Secret, x)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := srv.Run(context.Background(), ct)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decrypt(spec, keys.Secret, out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ir.Interpret(g, map[string]*ir.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	for i, v := range want["y"].Data {
		worst = max(worst, math.Abs(v-got.Data[i]))
	}
	return worst
}

func randomInputs(seed uint64, n int, scale float64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 99))
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * (2*rng.Float64() - 1)
	}
	return v
}

// testCircuit is a small graph and the size of its input.
type testCircuit struct {
	name  string
	build func() *ir.Graph
	in    int
}

// testCircuits are small graphs exercising each kind of node: the
// encrypted round trip and the noise bound are checked on each.
var testCircuits = []testCircuit{
	{"affine square affine", func() *ir.Graph {
		b, x := newGraph(1, 40)
		h := b.dense(x, 30, 0.3)
		return b.output(b.dense(b.poly(h, ir.Square()), 10, 1))
	}, 40},
	{"squashed chain with x*x", func() *ir.Graph {
		b, x := newGraph(2, 16)
		h := b.dense(b.dense(b.dense(x, 20, 0.5), 12, 0.5), 12, 1)
		sq := b.node(ir.OpMul, h.Shape, h, h)
		return b.output(b.dense(sq, 4, 1))
	}, 16},
	{"chebyshev degree 7 on [-3,3]", func() *ir.Graph {
		b, x := newGraph(3, 8)
		h := b.dense(x, 8, 1)
		p := b.poly(h, &ir.Polynomial{Basis: ir.Chebyshev, Coeffs: []float64{0.3, 0.5, 0.2, -0.1, 0.05, 0.02, -0.01, 0.01}, Interval: ir.Interval{Lo: -3, Hi: 3}})
		return b.output(b.dense(p, 3, 1))
	}, 8},
	{"monomial poly as output gets masked", func() *ir.Graph {
		b, x := newGraph(4, 8)
		return b.output(b.poly(b.dense(x, 5, 1), &ir.Polynomial{Basis: ir.Monomial, Coeffs: []float64{0.5, 1, 0.25, 0.1}}))
	}, 8},
	{"product and sum of two branches", func() *ir.Graph {
		b, x := newGraph(5, 12)
		a, c := b.dense(x, 6, 1), b.dense(x, 6, 1)
		m := b.node(ir.OpMul, a.Shape, a, c)
		s := b.node(ir.OpAdd, a.Shape, m, b.dense(x, 6, 1))
		return b.output(b.dense(s, 2, 1))
	}, 12},
}

// TestEncryptedMatchesPlaintext runs every test circuit at a scale of one
// prime per level and at one of two (params.Set.PrimesPerLevel), whose
// errors are 2^35 times smaller.
func TestEncryptedMatchesPlaintext(t *testing.T) {
	for _, scale := range []struct {
		logScale int
		within   float64
	}{
		// Values are O(1); at scale 2^35 CKKS errors are around 2^-20.
		{35, 1e-4},
		{70, 1e-14},
	} {
		for i, tc := range testCircuits {
			t.Run(fmt.Sprintf("%s/scale 2^%d", tc.name, scale.logScale), func(t *testing.T) {
				worst := roundTrip(t, tc.build(), randomInputs(uint64(i), tc.in, 1), scale.logScale)
				if worst > scale.within {
					t.Fatalf("encrypted result differs from plaintext by %g", worst)
				}
				t.Logf("max abs error %.2g", worst)
			})
		}
	}
}

// TestPolynomialDepthMatchesLattigo checks ir.Polynomial.Depth against the
// levels Lattigo's evaluator actually consumes: the runtime refuses any
// node that lands on another level than planned.
func TestPolynomialDepthMatchesLattigo(t *testing.T) {
	for _, basis := range []ir.Basis{ir.Monomial, ir.Chebyshev} {
		for deg := 2; deg <= 16; deg++ {
			t.Run(fmt.Sprintf("%s/%d", basis, deg), func(t *testing.T) {
				coeffs := make([]float64, deg+1)
				for k := range coeffs {
					coeffs[k] = 0.5 / float64(k+1)
				}
				b, x := newGraph(uint64(deg), 4)
				h := b.dense(x, 4, 1)
				p := b.poly(h, &ir.Polynomial{Basis: basis, Coeffs: coeffs, Interval: ir.Interval{Lo: -1, Hi: 1}})
				if worst := roundTrip(t, b.output(b.dense(p, 2, 1)), randomInputs(7, 4, 0.5), 35); worst > 1e-4 {
					t.Fatalf("error %g", worst)
				}
			})
		}
	}
}

// TestAddOfMismatchedScales covers x² + x: the square carries Δ²/q, the
// input Δ, and neither is an affine map the runtime could tune; the
// align-scales pass gives it one.
func TestAddOfMismatchedScales(t *testing.T) {
	b, x := newGraph(9, 8)
	sq := b.node(ir.OpMul, x.Shape, x, x)
	s := b.node(ir.OpAdd, x.Shape, sq, x)
	if worst := roundTrip(t, b.output(b.dense(s, 3, 1)), randomInputs(3, 8, 1), 35); worst > 1e-6 {
		t.Fatalf("error %g", worst)
	}
}

// TestKeyBelowItsLevelIsRefused checks the guard against Lattigo's silent
// failure: a rotation key made below the level it is used at.
func TestKeyBelowItsLevelIsRefused(t *testing.T) {
	b, x := newGraph(12, 16)
	g := b.output(b.dense(b.poly(b.dense(x, 12, 0.5), ir.Square()), 4, 1))
	if err := passes.Run(g, passes.Pipeline, nil); err != nil {
		t.Fatal(err)
	}
	spec := planSpec(t, "guard", g, params.InsecureTestSet(11, g.Depth, 35))
	if spec.Rotations[0].Level == 0 {
		t.Fatal("the test needs a rotation above level 0")
	}
	low := *spec
	low.Rotations = append([]plan.RotationKey(nil), spec.Rotations...)
	low.Rotations[0].Level = 0
	keys, err := GenerateKeys(&low, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewServer(&Circuit{Spec: spec, Graph: g}, keys.Eval)
	if err == nil || !strings.Contains(err.Error(), "with a key made for level 0") {
		t.Fatalf("NewServer with a key below its level: %v", err)
	}
	// A spec that is not the plan's for the graph (here the one the low
	// keys were made for) is refused before any key is looked at.
	if _, err := NewServer(&Circuit{Spec: &low, Graph: g}, keys.Eval); !errors.Is(err, plan.ErrMismatch) {
		t.Fatalf("NewServer with another planner's spec: %v", err)
	}
}

// TestHybridLinearTransformation covers the hybrid form: a layer with few
// rows reading many columns, followed by a square and another layer, so
// the copies the block sum leaves are ignored.
func TestHybridLinearTransformation(t *testing.T) {
	b, x := newGraph(13, 400)
	h := b.dense(x, 12, 0.5)
	g := b.output(b.dense(b.poly(h, ir.Square()), 3, 1))
	if err := passes.Run(g, passes.Pipeline, nil); err != nil {
		t.Fatal(err)
	}
	planned, err := plan.Build("hybrid", g, params.InsecureTestSet(11, g.Depth, 35))
	if err != nil {
		t.Fatal(err)
	}
	if pl := planned.Linear[h]; pl.Form != plan.Hybrid || pl.Block != 16 {
		t.Fatalf("plan %+v for a 12×400 layer on 2^%d slots", pl, g.LogSlots)
	}
	// The last layer reads the copies the block sum leaves: its diagonals
	// are taken modulo the block.
	last := g.Outputs()[0].Inputs[0]
	if pl := planned.Linear[last]; pl.Form != plan.Standard || pl.Period != 16 || len(pl.Diagonals) > 16 || slices.Max(pl.Diagonals) >= 16 {
		t.Fatalf("plan %+v for the layer after the hybrid one", pl)
	}
	if worst := roundTrip(t, g, randomInputs(5, 400, 1), 35); worst > 1e-6 {
		t.Fatalf("error %g", worst)
	}
}

// TestRepeatingLinearTransformation covers maps that read a hybrid map's
// copies through a square and a composite ReLU's x·p(x) + x/2: the middle
// ones repeat their diagonals and bias in every block, so that the last
// one, too, takes its diagonals modulo the block.
func TestRepeatingLinearTransformation(t *testing.T) {
	b, x := newGraph(14, 400)
	h := b.dense(x, 12, 0.5)
	mid := b.dense(b.poly(h, ir.Square()), 12, 1)
	cubic := b.poly(mid, &ir.Polynomial{Basis: ir.Monomial, Coeffs: []float64{0, 0.5, 0, -0.1}})
	relu := b.node(ir.OpAdd, mid.Shape, b.dense(mid, 12, 1), b.node(ir.OpMul, mid.Shape, mid, cubic))
	g := b.output(b.dense(relu, 3, 1))
	if err := passes.Run(g, passes.Pipeline, nil); err != nil {
		t.Fatal(err)
	}
	planned, err := plan.Build("repeating", g, params.InsecureTestSet(11, g.Depth, 35))
	if err != nil {
		t.Fatal(err)
	}
	if pl := planned.Linear[h]; pl.Form != plan.Hybrid || pl.Block != 16 {
		t.Fatalf("plan %+v for a 12×400 layer on 2^%d slots", pl, g.LogSlots)
	}
	repeating := 0
	for n, pl := range planned.Linear {
		if pl.Repeats {
			repeating++
		}
		if n != h && (pl.Form != plan.Standard || pl.Period != 16) {
			t.Errorf("plan %+v for %s after the hybrid one", pl, n.Label())
		}
	}
	if repeating != 2 {
		t.Errorf("%d repeating maps, want the two before the last", repeating)
	}
	if worst := roundTrip(t, g, randomInputs(6, 400, 1), 35); worst > 1e-5 {
		t.Fatalf("error %g", worst)
	}
}

// TestInputInPartsConcurrently covers an input the client encrypts in several
// ciphertexts: part j holds the input rotated by j, and the first map adds
// w_j ⊙ part_j with no rotation, the parts split over the workers (run
// with -race); a square and a dense layer follow.
func TestInputInPartsConcurrently(t *testing.T) {
	const n, parts = 16, 3
	b := &graphBuilder{g: &ir.Graph{}, rng: rand.New(rand.NewPCG(21, 22))}
	first := b.partsMap(n, parts)
	g := b.output(b.dense(b.poly(first, ir.Square()), 3, 1))
	if worst := roundTrip(t, g, randomInputs(4, n, 1), 35); worst > 1e-6 {
		t.Fatalf("error %g", worst)
	}
	planned, err := plan.Build("parts", g, params.InsecureTestSet(11, g.Depth, 35))
	if err != nil {
		t.Fatal(err)
	}
	pl := planned.Linear[first]
	// The map rotates nothing: its only keys are the input projection's.
	projection := 1
	for _, stage := range pl.Projection.Trace {
		projection += len(stage)
	}
	if keys := pl.Keys(first, 11); pl.Form != plan.Parts || pl.Parts != parts || len(keys) != projection || g.LogSlots != 4 {
		t.Fatalf("plan %+v with %d rotation keys on 2^%d slots", pl, len(keys), g.LogSlots)
	}
}

// TestConcurrentRuns evaluates from several goroutines at once, each run
// also splitting its linear transformations over two workers: the prepared
// circuit must be read-only and every evaluator private (run with -race).
func TestConcurrentRuns(t *testing.T) {
	b, x := newGraph(17, 64)
	g := b.output(b.dense(b.poly(b.dense(x, 40, 0.3), ir.Square()), 5, 1))
	spec, keys, srv := testServer(t, g, 35)
	srv.Workers = 2
	const runs = 4
	results := make([][]float64, runs)
	errs := make([]error, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := &ir.Tensor{Shape: []int{64}, Data: randomInputs(uint64(i), 64, 1)}
			ct, err := Encrypt(spec, keys.Public, in)
			if err != nil {
				errs[i] = err
				return
			}
			out, _, err := srv.Run(context.Background(), ct)
			if err != nil {
				errs[i] = err
				return
			}
			got, err := Decrypt(spec, keys.Secret, out)
			if err != nil {
				errs[i] = err
				return
			}
			want, err := ir.Interpret(g, map[string]*ir.Tensor{"x": in})
			if err != nil {
				errs[i] = err
				return
			}
			for k, v := range want["y"].Data {
				if math.Abs(v-got.Data[k]) > 1e-6 {
					errs[i] = fmt.Errorf("run %d: output %d is %g, want %g", i, k, got.Data[k], v)
					return
				}
			}
			results[i] = got.Data
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
