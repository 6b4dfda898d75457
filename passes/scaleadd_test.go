package passes

import (
	"testing"

	"github.com/hecc-dev/hecc/ir"
)

// scaledSum builds a + m⊙p(x), p a square and a an affine map of x, read
// by two affine maps (or by the output alone).
func scaledSum(readByMaps bool) *ir.Graph {
	b := newGB(4)
	x := b.input(6)
	a := b.affine(x, 5)
	p := b.poly(b.affine(x, 5), ir.Square())
	m := ir.NewBuilder(5, 5)
	for r := range 5 {
		m.Add(r, r, 0.5+float64(r))
	}
	lin, _ := m.Build(nil, "from [-1,1]")
	f := b.add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{p}, Shape: []int{5}, Linear: lin})
	sum := b.op(ir.OpAdd, a, f)
	if !readByMaps {
		return b.output(sum)
	}
	return b.output(b.op(ir.OpAdd, b.affine(sum, 3), b.affine(sum, 3)))
}

// TestScalesPastAdd checks that moving a scaling out of a sum keeps what
// the graph computes and, once squashed, saves the scaling's level; and
// that a sum read by a non-affine node keeps its scaling.
func TestScalesPastAdd(t *testing.T) {
	depth := func(g *ir.Graph) int {
		if err := SquashAffine(g, nil); err != nil {
			t.Fatal(err)
		}
		if err := Depth(g, nil); err != nil {
			t.Fatal(err)
		}
		return g.Depth
	}
	g := scaledSum(true)
	checkPreserves(t, g, ScalesPastAdd)
	want := depth(scaledSum(true)) - 1
	before := evalOn(t, g, 5)
	if got := depth(g); got != want {
		t.Errorf("depth %d after moving the scaling and squashing, want %d:\n%s", got, want, g)
	}
	after := evalOn(t, g, 5)
	for i := range before {
		if d := before[i] - after[i]; d > 1e-9 || d < -1e-9 {
			t.Fatalf("squashing changed output %d from %g to %g", i, before[i], after[i])
		}
	}

	g = scaledSum(false)
	nodes := len(g.Nodes)
	checkPreserves(t, g, ScalesPastAdd)
	if len(g.Nodes) != nodes {
		t.Errorf("a sum the output reads lost its scaling:\n%s", g)
	}
}

// TestSquashSharedMaps checks that an element-wise map read by several
// maps is composed into each of them, and a map that mixes values is not.
func TestSquashSharedMaps(t *testing.T) {
	for _, tc := range []struct {
		name     string
		diagonal bool
	}{{"element-wise", true}, {"dense", false}} {
		t.Run(tc.name, func(t *testing.T) {
			b := newGB(5)
			x := b.poly(b.input(4), ir.Square())
			var shared *ir.Node
			if tc.diagonal {
				d := ir.NewBuilder(4, 4)
				for r := range 4 {
					d.Add(r, r, float64(r)-1.5)
				}
				lin, _ := d.Build([]float64{1, 2, 3, 4}, "scale")
				shared = b.add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{x}, Shape: []int{4}, Linear: lin})
			} else {
				shared = b.affine(x, 4)
			}
			g := b.output(b.op(ir.OpAdd, b.affine(shared, 3), b.affine(shared, 3)))
			checkPreserves(t, g, SquashAffine)
			composed := g.Counts()["affine"] == 2
			if composed != tc.diagonal {
				t.Errorf("composed into both readers: %v, want %v\n%s", composed, tc.diagonal, g)
			}
		})
	}
}
