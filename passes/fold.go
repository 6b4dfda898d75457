package passes

import (
	"errors"
	"fmt"

	"github.com/hecc-dev/hecc/ir"
)

// ErrConstantOutput reports an output that does not depend on the input.
var ErrConstantOutput = errors.New("output does not depend on the encrypted input")

// FoldConstants evaluates every node whose inputs are all constants, and
// turns an element-wise Add or Mul of an encrypted tensor and a constant
// into an affine node (x+c is the identity with bias c, x⊙c a diagonal map).
func FoldConstants(g *ir.Graph, cfg *Config) error {
	folded, converted := 0, 0
	for i, n := range g.Nodes {
		if n.Op == ir.OpOutput || n.Op == ir.OpInput || n.Op == ir.OpConst {
			continue
		}
		consts := 0
		for _, in := range n.Inputs {
			if in.Op == ir.OpConst {
				consts++
			}
		}
		var repl *ir.Node
		switch {
		case consts == len(n.Inputs):
			repl = evaluateConstant(n)
			folded++
		case consts == 1 && (n.Op == ir.OpAdd || n.Op == ir.OpMul):
			repl = constantOperandToAffine(n)
			converted++
		default:
			continue
		}
		g.Nodes[i] = repl
		g.Replace(n, repl)
	}
	for _, o := range g.Outputs() {
		if o.Inputs[0].Op == ir.OpConst {
			return fmt.Errorf("%w: output %q", ErrConstantOutput, o.Name)
		}
	}
	g.Prune()
	cfg.logf("fold-constants", "%d nodes evaluated, %d constant operands turned into affine maps", folded, converted)
	return nil
}

// evaluateConstant replaces a node whose inputs are constants by its value.
func evaluateConstant(n *ir.Node) *ir.Node {
	sub := &ir.Graph{}
	feeds := make([]*ir.Node, len(n.Inputs))
	for i, in := range n.Inputs {
		feeds[i] = sub.Add(&ir.Node{Op: ir.OpConst, Shape: in.Shape, Const: in.Const})
	}
	c := *n
	c.Inputs = feeds
	sub.Add(&c)
	sub.Add(&ir.Node{Op: ir.OpOutput, Name: "v", Inputs: []*ir.Node{&c}, Shape: n.Shape})
	out, _ := ir.Interpret(sub, nil) // cannot fail: every input is a constant
	v := out["v"]
	return &ir.Node{Op: ir.OpConst, Shape: n.Shape, Origin: n.Origin, Const: &ir.Tensor{Shape: n.Shape, Data: v.Data}}
}

func constantOperandToAffine(n *ir.Node) *ir.Node {
	x, c := n.Inputs[0], n.Inputs[1]
	if x.Op == ir.OpConst {
		x, c = c, x
	}
	size := n.Size()
	var lin *ir.Linear
	if n.Op == ir.OpAdd {
		lin = ir.NewIdentity(size, "add const")
		lin.Bias = append([]float64(nil), c.Const.Data...)
	} else {
		b := ir.NewBuilder(size, size)
		for i, v := range c.Const.Data {
			b.Add(i, i, v)
		}
		lin, _ = b.Build(nil, "mul const") // entries are on the diagonal: cannot fail
	}
	if len(n.Shape) >= 3 {
		lin.Geometry = ir.SameGeometry(len(n.Shape) - 2)
	}
	return &ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{x}, Shape: n.Shape, Origin: n.Origin, Linear: lin}
}
