package plan

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
)

// batchGraph is x (in values) → dense (rows) → square → dense (out) →
// output, through pipeline.
func batchGraph(t *testing.T, pipeline []passes.Pass, in, rows, out int) *ir.Graph {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	g := &ir.Graph{}
	x := g.Add(&ir.Node{Op: ir.OpInput, Name: "x", Shape: []int{in}})
	dense := func(from *ir.Node, rows int) *ir.Node {
		b := ir.NewBuilder(rows, from.Size())
		for r := range rows {
			for c := range from.Size() {
				if rng.Float64() < 0.5 {
					b.Add(r, c, rng.NormFloat64())
				}
			}
		}
		lin, err := b.Build(make([]float64, rows), "dense")
		if err != nil {
			t.Fatal(err)
		}
		return g.Add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{from}, Shape: []int{rows}, Linear: lin})
	}
	first := dense(x, rows)
	sq := g.Add(&ir.Node{Op: ir.OpPoly, Inputs: []*ir.Node{first}, Shape: first.Shape, Poly: ir.Square()})
	last := dense(sq, out)
	g.Add(&ir.Node{Op: ir.OpOutput, Name: "y", Inputs: []*ir.Node{last}, Shape: last.Shape})
	if err := passes.Run(g, pipeline, nil); err != nil {
		t.Fatal(err)
	}
	return g
}

// A batch plan has no rotation, a relinearization key for the square, every
// non-identity affine map as ciphertext × scalar products, and the whole
// ring's slots as its batch.
func TestBatchPlan(t *testing.T) {
	g := batchGraph(t, passes.BatchPipeline, 30, 20, 4)
	set := params.InsecureTestSet(11, g.Depth, 35)
	pl, err := BuildBatch("batch", g, set, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := pl.Spec
	if !s.Batched() || s.Batch != 1<<set.LogSlots() || len(s.Rotations) != 0 || !s.Relin || s.InputCiphertexts() != 30 || s.OutputCiphertexts() != 4 {
		t.Fatalf("batch spec %+v", s)
	}
	affine := 0
	for _, n := range g.Nodes {
		if n.Op != ir.OpAffine || n.Linear.Identity {
			continue
		}
		affine++
		if l := pl.Linear[n]; l == nil || l.Form != Scalars || l.Products != n.Linear.NNZ() {
			t.Errorf("node %s planned as %+v, want %d scalar products", n.Label(), l, n.Linear.NNZ())
		}
	}
	if affine != 2 || !strings.Contains(pl.String(), "ciphertext × scalar products, no rotation") {
		t.Errorf("%d affine maps; plan:\n%s", affine, pl)
	}
	again, err := Rebuild(s, g)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Check(s); err != nil {
		t.Fatal(err)
	}
	// The packed planner refuses the graph, or plans another spec.
	if packed, err := Build("batch", g, set); err == nil {
		if err := packed.Check(s); !errors.Is(err, ErrMismatch) {
			t.Errorf("a packed plan checked against the batch spec: %v", err)
		}
	}
}

// A set's output scale is the one the output lands on, by the plaintext
// scale of the map computing it; the scales before it are the circuit's.
// An output the map does not compute alone cannot land on it, and the
// packed layout keeps its output at the circuit's scale.
func TestBatchOutputScale(t *testing.T) {
	g := batchGraph(t, passes.BatchPipeline, 30, 20, 4)
	set := params.InsecureTestSet(11, g.Depth, 35)
	q := make([]uint64, len(set.LogQ))
	for i, b := range set.LogQ {
		q[i] = 1<<b - 1<<12 + 1
	}
	plain, err := SetScales(g, set, q)
	if err != nil {
		t.Fatal(err)
	}
	set.LogOutputScale = 28
	if _, err := BuildBatch("batch", g, set, 0); err != nil {
		t.Fatal(err)
	}
	lowered, err := SetScales(g, set, q)
	if err != nil {
		t.Fatal(err)
	}
	out := g.Outputs()[0]
	last := out.Inputs[0]
	for _, n := range g.Nodes {
		got, _ := lowered.Out[n].Float64()
		want, _ := plain.Out[n].Float64()
		if n == out || n == last {
			want = 1 << 28
		}
		if got != want {
			t.Errorf("node %s at scale 2^%g, want 2^%g", n.Label(), math.Log2(got), math.Log2(want))
		}
	}
	// The last map's products, rescaled by the prime of its input's level,
	// are at the output scale.
	in, _ := lowered.Out[last.Inputs[0]].Float64()
	pt, _ := lowered.Plaintext[last].Float64()
	if got := in * pt / float64(q[last.Inputs[0].Level]); math.Abs(got/(1<<28)-1) > 1e-12 {
		t.Errorf("the last map's products rescale to 2^%g", math.Log2(got))
	}
	if _, err := Build("batch", batchGraph(t, passes.Pipeline, 30, 20, 4), set); err == nil {
		t.Error("the packed layout planned an output scale")
	}
	g.Add(&ir.Node{Op: ir.OpAdd, Inputs: []*ir.Node{last, last}, Shape: last.Shape, Level: last.Level})
	if _, err := SetScales(g, set, q); err == nil {
		t.Error("a map read twice landed on the output scale")
	}
}

// A graph laid out in slots is not a batch circuit.
func TestBatchRefusesLayout(t *testing.T) {
	g := batchGraph(t, passes.Pipeline, 30, 20, 4)
	if _, err := BuildBatch("batch", g, params.InsecureTestSet(11, g.Depth, 35), 0); err == nil {
		t.Fatal("a laid-out graph planned as a batch circuit")
	}
}

func TestBatchSpecValidate(t *testing.T) {
	g := batchGraph(t, passes.BatchPipeline, 30, 20, 4)
	pl, err := BuildBatch("batch", g, params.InsecureTestSet(11, g.Depth, 35), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		change func(*Spec)
	}{
		{"batch beyond the slots", func(s *Spec) { s.Batch = 1<<s.LogSlots + 1 }},
		{"empty batch", func(s *Spec) { s.Batch = 0 }},
		{"rotation key", func(s *Spec) { s.Rotations = []RotationKey{{Galois: 5, Level: 1}} }},
		{"input layout", func(s *Spec) { s.InputSlots = []int{0} }},
		{"unknown layout", func(s *Spec) { s.Layout = "diagonal" }},
		{"batch in the packed layout", func(s *Spec) { s.Layout = "" }},
		{"too many values", func(s *Spec) { s.Input.Shape = []int{MaxBatchValues + 1} }},
	} {
		s := *pl.Spec
		c.change(&s)
		if err := s.Validate(); !errors.Is(err, ErrSpec) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if err := pl.Spec.Validate(); err != nil {
		t.Fatal(err)
	}
}

// The batch workload counts one ciphertext per element: every weight is a
// scalar product, every output of a map and every square a rescale; the
// only key is the relinearization key. A square read only by an affine map
// is neither relinearized nor rescaled: the map sums three polynomials
// instead of two, and relinearizes and rescales its 4 outputs (not the 20
// values) once more; a square read by anything else is relinearized
// itself.
func TestBatchWorkload(t *testing.T) {
	sum := func(v []float64) (t float64) {
		for _, x := range v {
			t += x
		}
		return t
	}
	for _, c := range []struct {
		name         string
		otherReader  bool
		keySwitches  float64
		degree2Terms float64 // weight of the reader's products
		rescales     float64 // beyond one per output of a map
	}{
		{"square read by a map", false, 4, 1.5, 4},
		{"square also read by a sum", true, 20, 1, 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := batchGraph(t, passes.BatchPipeline, 30, 20, 4)
			var sq *ir.Node
			for _, n := range g.Nodes {
				if n.Op == ir.OpPoly {
					sq = n
				}
			}
			if c.otherReader {
				g.Add(&ir.Node{Op: ir.OpAdd, Inputs: []*ir.Node{sq, sq}, Shape: sq.Shape, Level: sq.Level})
			}
			w := BatchWorkload(g)
			var products, rows float64
			for _, n := range g.Nodes {
				if n.Op == ir.OpAffine && !n.Linear.Identity {
					nnz := float64(n.Linear.NNZ())
					if n.Inputs[0] == sq {
						nnz *= c.degree2Terms
					}
					products += nnz
					rows += float64(n.Size())
				}
			}
			if got := sum(w.ScalarMuls); got != products || sum(w.PtMuls) != 0 {
				t.Errorf("%g scalar products, want %g", got, products)
			}
			if got, want := sum(w.Rescales), rows+c.rescales; got != want {
				t.Errorf("%g rescales, want %g", got, want)
			}
			if sum(w.CtMuls) != 20 || sum(w.KeySwitches) != c.keySwitches || sum(w.Keys) != 1 || sum(w.BabySteps) != 0 {
				t.Errorf("workload %+v: 20 squares, %g relinearizations and one key expected", w, c.keySwitches)
			}
			pl, err := BuildBatch("batch", g, params.InsecureTestSet(11, g.Depth, 35), 0)
			if err != nil {
				t.Fatal(err)
			}
			if pl.Unrelinearized[sq] == c.otherReader || len(pl.Unrelinearized) > 1 {
				t.Errorf("unrelinearized products %v (the square is %s)", pl.Unrelinearized, sq.Label())
			}
		})
	}
}
