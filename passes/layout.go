package passes

import (
	"math/bits"

	"github.com/hecc-dev/hecc/ir"
)

// Layout chooses the packing: every encrypted tensor sits in the first
// slots of one ciphertext of 2^LogSlots slots, the smallest power of two
// that holds the largest tensor (fewer slots mean fewer distinct diagonals
// and rotations).
//
// It also guarantees that the result reveals only the output: slots beyond
// the output tensor must be zero. An affine map leaves them zero (its rows
// there are zero) but a polynomial with p(0) ≠ 0 writes p(0) into them, so
// an output whose producer may hold such garbage gets a masking map.
func Layout(g *ir.Graph, cfg *Config) error {
	largest := 1
	for _, n := range g.Nodes {
		if n.Op != ir.OpConst {
			largest = max(largest, n.Size())
		}
	}
	g.LogSlots = bits.Len(uint(largest - 1))

	clean := make(map[*ir.Node]bool, len(g.Nodes))
	var masked int
	for i := 0; i < len(g.Nodes); i++ {
		n := g.Nodes[i]
		switch n.Op {
		case ir.OpInput:
			clean[n] = true // the client encrypts zeros there
		case ir.OpAffine:
			clean[n] = !n.Linear.Identity || clean[n.Inputs[0]]
		case ir.OpPoly:
			clean[n] = clean[n.Inputs[0]] && n.Poly.Eval(0) == 0
		case ir.OpActivation:
			clean[n] = clean[n.Inputs[0]] && n.Act.Eval(0) == 0
		case ir.OpAdd, ir.OpMul:
			clean[n] = clean[n.Inputs[0]] && clean[n.Inputs[1]]
		case ir.OpOutput:
			if in := n.Inputs[0]; !clean[in] {
				b := ir.NewBuilder(in.Size(), in.Size())
				for j := range in.Size() {
					b.Add(j, j, 1)
				}
				lin, err := b.Build(nil, "output mask")
				if err != nil {
					return err
				}
				mask := &ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{in}, Shape: in.Shape, Origin: n.Origin, Linear: lin}
				g.Nodes = append(g.Nodes[:i], append([]*ir.Node{mask}, g.Nodes[i:]...)...)
				n.Inputs[0] = mask
				i++
				masked++
			}
		}
	}
	cfg.logf("layout", "2^%d slots for a largest tensor of %d values; %d outputs masked", g.LogSlots, largest, masked)
	return nil
}
