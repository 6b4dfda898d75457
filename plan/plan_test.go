package plan

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
)

// denseGraph is x (in values) → dense (rows) → square → dense (out) →
// output, through the passes.
func denseGraph(t *testing.T, in, rows, out int, density float64) (*ir.Graph, *ir.Node, *ir.Node) {
	t.Helper()
	rng := rand.New(rand.NewPCG(13, 14))
	g := &ir.Graph{}
	x := g.Add(&ir.Node{Op: ir.OpInput, Name: "x", Shape: []int{in}})
	dense := func(from *ir.Node, rows int, density float64) *ir.Node {
		b := ir.NewBuilder(rows, from.Size())
		for r := range rows {
			for c := range from.Size() {
				if rng.Float64() < density {
					b.Add(r, c, rng.NormFloat64())
				}
			}
		}
		lin, err := b.Build(nil, "dense")
		if err != nil {
			t.Fatal(err)
		}
		return g.Add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{from}, Shape: []int{rows}, Linear: lin})
	}
	first := dense(x, rows, density)
	sq := g.Add(&ir.Node{Op: ir.OpPoly, Inputs: []*ir.Node{first}, Shape: first.Shape, Poly: ir.Square()})
	last := dense(sq, out, 1)
	g.Add(&ir.Node{Op: ir.OpOutput, Name: "y", Inputs: []*ir.Node{last}, Shape: last.Shape})
	if err := passes.Run(g, passes.Pipeline, nil); err != nil {
		t.Fatal(err)
	}
	return g, first, last
}

// A layer with few rows reading many columns takes the hybrid form when a
// square and another layer follow (the copies its block sum leaves are
// ignored), never when its result reaches the output; the layer after it
// takes its diagonals modulo the block.
func TestHybridForm(t *testing.T) {
	g, first, last := denseGraph(t, 400, 12, 3, 0.5)
	allowed := hybridAllowed(g)
	if !allowed[first] || allowed[last] {
		t.Fatalf("hybrid allowed: first layer %v, last layer %v", allowed[first], allowed[last])
	}
	pl, err := Build("hybrid", g, params.InsecureTestSet(11, g.Depth, 35))
	if err != nil {
		t.Fatal(err)
	}
	h := pl.Linear[first]
	if h.Form != Hybrid || h.Block != 16 || len(h.BlockSum) == 0 || len(h.Diagonals) > 16 {
		t.Fatalf("plan %+v for a 12×400 layer on 2^%d slots", h, g.LogSlots)
	}
	if l := pl.Linear[last]; l.Form != Standard || l.Period != 16 || len(l.Diagonals) > 16 || slices.Max(l.Diagonals) >= 16 {
		t.Fatalf("plan %+v for the layer after the hybrid one", l)
	}
	// The block sum rotates one level below the transformation (the input
	// projection's keys, at the transformation's level, come last).
	keys := h.Keys(first, 11)
	for _, k := range keys[h.Split.Giants()+h.Split.Babies() : len(keys)-len(h.Projection.keys(11, 0))] {
		if k.Level != first.Level {
			t.Errorf("block-sum rotation %d at level %d, the map's result is at %d", k.Galois, k.Level, first.Level)
		}
	}
}

// Every rotation a map performs has a key in the spec at a level no lower
// than the one it is used at, and the spec has no other key.
func TestSpecKeysCoverThePlan(t *testing.T) {
	g, _, _ := denseGraph(t, 40, 30, 10, 0.3)
	pl, err := Build("keys", g, params.InsecureTestSet(11, g.Depth, 35))
	if err != nil {
		t.Fatal(err)
	}
	have := map[uint64]int{}
	for _, k := range pl.Spec.Rotations {
		have[k.Galois] = k.Level
	}
	used := map[uint64]bool{}
	for n, l := range pl.Linear {
		for _, k := range l.Keys(n, 11) {
			used[k.Galois] = true
			if level, ok := have[k.Galois]; !ok || level < k.Level {
				t.Errorf("rotation %d at level %d: spec key at %d (present %v)", k.Galois, k.Level, level, ok)
			}
		}
	}
	if len(used) != len(pl.Spec.Rotations) || len(used) == 0 {
		t.Errorf("%d rotations used, %d keys in the spec", len(used), len(pl.Spec.Rotations))
	}
}

// Check refuses any spec but the one the plan derives.
func TestCheckRefusesAnotherSpec(t *testing.T) {
	g, _, _ := denseGraph(t, 40, 30, 10, 0.3)
	pl, err := Build("check", g, params.InsecureTestSet(11, g.Depth, 35))
	if err != nil {
		t.Fatal(err)
	}
	same := *pl.Spec
	if err := pl.Check(&same); err != nil {
		t.Fatal(err)
	}
	other := *pl.Spec
	other.Rotations = slices.Clone(other.Rotations)
	other.Rotations[0].Level--
	if err := pl.Check(&other); !errors.Is(err, ErrMismatch) {
		t.Fatalf("a spec with another key level: %v", err)
	}
}

// Each diagonal is the sum of its giant and baby step, modulo the slots,
// and the steps listed are exactly those the diagonals use.
func TestSplitCoversTheDiagonals(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const slots = 1024
	for range 20 {
		var diags []int
		for k := range slots {
			if rng.IntN(9) == 0 {
				diags = append(diags, k)
			}
		}
		s := bestSplit(diags, slots)
		giants, babies := map[int]bool{}, map[int]bool{}
		for _, k := range diags {
			st, ok := s.Steps[k]
			if !ok || (st[0]+st[1])%slots != k {
				t.Fatalf("diagonal %d split as %v", k, st)
			}
			giants[st[0]], babies[st[1]] = true, true
		}
		if len(giants) != len(s.Giant) || len(babies) != len(s.Baby) {
			t.Fatalf("%d giant and %d baby steps used, %d and %d listed", len(giants), len(babies), len(s.Giant), len(s.Baby))
		}
		if s.Cost() > splitCost(0, len(diags)) {
			t.Fatalf("split cost %g above all baby steps' %g", s.Cost(), splitCost(0, len(diags)))
		}
	}
}

// TestBlockSumStages: choosing one rotation (or none) from every stage
// reaches each block offset j·R exactly once, so the stages add up every
// block; stages hold at most three rotations.
func TestBlockSumStages(t *testing.T) {
	for _, tc := range []struct{ block, slots, rotations int }{
		{16, 512, 7}, {128, 16384, 10}, {4, 8, 1}, {8, 64, 4}, {2, 4096, 16}, {64, 64, 0},
	} {
		stages := blockSumStages(tc.block, tc.slots)
		reached := map[int]int{0: 1}
		n := 0
		for _, stage := range stages {
			if len(stage) > 3 {
				t.Errorf("R=%d on %d slots: a stage of %d rotations", tc.block, tc.slots, len(stage))
			}
			n += len(stage)
			next := map[int]int{}
			for off, c := range reached {
				next[off] += c
				for _, r := range stage {
					next[off+r] += c
				}
			}
			reached = next
		}
		if len(reached) != tc.slots/tc.block || n != tc.rotations {
			t.Errorf("R=%d on %d slots: %d offsets reached with %d rotations, want %d with %d", tc.block, tc.slots, len(reached), n, tc.slots/tc.block, tc.rotations)
		}
		for j := range tc.slots / tc.block {
			if reached[j*tc.block] != 1 {
				t.Errorf("R=%d on %d slots: block %d added %d times", tc.block, tc.slots, j, reached[j*tc.block])
			}
		}
	}
}

// Between splits of equal cost bestSplit takes the one with fewer steps,
// so fewer keys: CryptoNets' interleaved convolution costs 12.5 giant
// steps as 2 giants + 35 babies (the two channel blocks) or as 11 + 5 (the
// kernel rows).
func TestSplitTieTakesFewerKeys(t *testing.T) {
	const slots = 2048
	var diags []int
	for r := -2; r <= 3; r++ {
		for c := -2; c <= 3; c++ {
			diags = append(diags, (r*28+c+slots)%slots)
		}
	}
	for r := -1; r <= 3; r++ {
		for c := -1; c <= 3; c++ {
			diags = append(diags, (r*28+c-784+slots)%slots)
		}
	}
	s := bestSplit(diags, slots)
	if g, b := s.Giants(), s.Babies(); g+b != 16 || math.Abs(s.Cost()-splitCost(11, 5)) > 1e-9 {
		t.Fatalf("%d giant and %d baby steps (cost %g), want 11 and 5", g, b, s.Cost())
	}
}

// A map whose result only reaches other affine maps may leave copies in
// the other slots: through polynomials, which see exact copies, and then
// through sums and products (a composite ReLU, x/2 + x·p(x)/2), after
// which the copies are no longer a polynomial's input.
func TestHybridThroughSumsAndProducts(t *testing.T) {
	dense := func(g *ir.Graph, from *ir.Node, rows int) *ir.Node {
		b := ir.NewBuilder(rows, from.Size())
		for r := range rows {
			b.Add(r, r%from.Size(), 1)
		}
		lin, err := b.Build(nil, "dense")
		if err != nil {
			t.Fatal(err)
		}
		return g.Add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{from}, Shape: []int{rows}, Linear: lin})
	}
	poly := func(g *ir.Graph, x *ir.Node) *ir.Node {
		p := &ir.Polynomial{Basis: ir.Monomial, Coeffs: []float64{0, 1, 0, -0.5}}
		return g.Add(&ir.Node{Op: ir.OpPoly, Inputs: []*ir.Node{x}, Shape: x.Shape, Poly: p})
	}
	bin := func(g *ir.Graph, op ir.Op, a, b *ir.Node) *ir.Node {
		return g.Add(&ir.Node{Op: op, Inputs: []*ir.Node{a, b}, Shape: a.Shape})
	}
	for _, tc := range []struct {
		name string
		// after builds what reads the first map's result a and returns
		// what the last map reads.
		after func(g *ir.Graph, a *ir.Node) *ir.Node
		want  bool
	}{
		{"composite ReLU", func(g *ir.Graph, a *ir.Node) *ir.Node {
			return bin(g, ir.OpAdd, dense(g, a, 8), bin(g, ir.OpMul, a, poly(g, a)))
		}, true},
		{"polynomial of copies", func(g *ir.Graph, a *ir.Node) *ir.Node { return poly(g, poly(g, a)) }, true},
		{"polynomial after a sum", func(g *ir.Graph, a *ir.Node) *ir.Node {
			return poly(g, bin(g, ir.OpAdd, dense(g, a, 8), a))
		}, false},
		{"square after a product", func(g *ir.Graph, a *ir.Node) *ir.Node {
			m := bin(g, ir.OpMul, a, poly(g, a))
			return bin(g, ir.OpMul, m, m)
		}, false},
		{"copies reach the output", func(g *ir.Graph, a *ir.Node) *ir.Node {
			s := bin(g, ir.OpAdd, dense(g, a, 8), a)
			g.Add(&ir.Node{Op: ir.OpOutput, Name: "z", Inputs: []*ir.Node{s}, Shape: s.Shape})
			return s
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &ir.Graph{}
			x := g.Add(&ir.Node{Op: ir.OpInput, Name: "x", Shape: []int{64}})
			first := dense(g, x, 8)
			last := dense(g, tc.after(g, first), 3)
			g.Add(&ir.Node{Op: ir.OpOutput, Name: "y", Inputs: []*ir.Node{last}, Shape: last.Shape})
			if got := hybridAllowed(g)[first]; got != tc.want {
				t.Errorf("hybrid allowed: %v, want %v", got, tc.want)
			}
		})
	}
}
