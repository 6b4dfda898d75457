package passes

import (
	"slices"

	"github.com/hecc-dev/hecc/ir"
)

// ScalesPastAdd moves a per-element scaling out of a sum: a + m⊙p, with a
// an affine map's result and m⊙p a diagonal map of a non-affine node (the
// map approx-activations puts after a ReLU scaled per channel, in a max
// tree's b + relu(a − b)), becomes m⊙(a/m + p). Dividing a by m composes
// into a's map, and m into the maps that read the sum, so the scaling's
// level is saved; the pass applies only where every reader of the sum is
// an affine map.
func ScalesPastAdd(g *ir.Graph, cfg *Config) error {
	users := g.Users()
	moved := 0
	for i := 0; i < len(g.Nodes); i++ {
		add := g.Nodes[i]
		if add.Op != ir.OpAdd || len(users[add]) == 0 || slices.ContainsFunc(users[add], func(u *ir.Node) bool { return u.Op != ir.OpAffine }) {
			continue
		}
		k := slices.IndexFunc(add.Inputs, func(f *ir.Node) bool { return scaling(f, users) != nil })
		if k < 0 {
			continue
		}
		f, other := add.Inputs[k], add.Inputs[1-k]
		if other.Op != ir.OpAffine || len(users[other]) != 1 || other == f {
			continue
		}
		m := scaling(f, users)
		inv := make([]float64, len(m))
		for r, v := range m {
			inv[r] = 1 / v
		}
		divide := &ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{other}, Shape: slices.Clone(other.Shape), Origin: other.Origin, Linear: elementwise(inv, add.Shape, "÷ scale")}
		add.Inputs[k], add.Inputs[1-k] = f.Inputs[0], divide
		multiply := &ir.Node{Op: ir.OpAffine, Shape: slices.Clone(add.Shape), Origin: f.Origin, Linear: elementwise(m, add.Shape, f.Linear.Desc)}
		g.Replace(add, multiply)
		multiply.Inputs = []*ir.Node{add}
		j := slices.Index(g.Nodes, add)
		g.Nodes = slices.Insert(g.Nodes, j+1, multiply)
		g.Nodes = slices.Insert(g.Nodes, j, divide)
		i = j + 2
		users = g.Users()
		moved++
	}
	g.Prune()
	if moved > 0 {
		cfg.logf("scales-past-add", "%d scalings moved past a sum, into the maps that read it", moved)
	}
	return nil
}

// scaling returns the diagonal of f when f is a diagonal map without bias
// and with no zero on its diagonal, of a non-affine node, read only once.
func scaling(f *ir.Node, users map[*ir.Node][]*ir.Node) []float64 {
	if f.Op != ir.OpAffine || f.Inputs[0].Op == ir.OpAffine || len(users[f]) != 1 || hasBias(f.Linear) {
		return nil
	}
	l := f.Linear
	if l.Rows != l.Cols {
		return nil
	}
	d := make([]float64, l.Rows)
	for r := range l.Rows {
		ok := true
		l.Row(r, func(c int, v float64) {
			ok = ok && c == r
			d[r] = v
		})
		if !ok || d[r] == 0 {
			return nil
		}
	}
	return d
}

// elementwise is the diagonal map d, with the element-wise geometry on a
// tensor of shape [N, C, spatial…].
func elementwise(d []float64, shape []int, desc string) *ir.Linear {
	lin := diagonal(d, nil, desc)
	if len(shape) >= 3 {
		lin.Geometry = ir.SameGeometry(len(shape) - 2)
	}
	return lin
}
