package passes

import (
	"github.com/hecc-dev/hecc/ir"
)

// AlignScales makes every Add of two ciphertexts evaluable exactly. CKKS
// adds two ciphertexts correctly only at equal scales; the runtime tunes
// an affine operand that the Add alone reads to land on the other
// operand's scale. When neither operand is such a map and their scales may
// differ (a product or square carries Δ²/q rather than Δ), this pass puts
// an explicit identity map on the shallower operand — the one with levels
// to spare — so the runtime has something to tune.
func AlignScales(g *ir.Graph, cfg *Config) error {
	users := g.Users()
	depth := map[*ir.Node]int{}
	exact := map[*ir.Node]bool{} // result sits at exactly the default scale
	inserted := 0
	for i := 0; i < len(g.Nodes); i++ {
		n := g.Nodes[i]
		d := 0
		for _, in := range n.Inputs {
			d = max(d, depth[in])
		}
		depth[n] = d + levelCost(n)
		switch n.Op {
		case ir.OpInput, ir.OpAffine:
			exact[n] = n.Op == ir.OpInput || !n.Linear.Identity || exact[n.Inputs[0]]
		case ir.OpPoly:
			exact[n] = !n.Poly.IsSquare()
		case ir.OpOutput:
			exact[n] = exact[n.Inputs[0]]
		case ir.OpAdd:
			a, b := n.Inputs[0], n.Inputs[1]
			tunable := func(v *ir.Node) bool {
				return v.Op == ir.OpAffine && !v.Linear.Identity && len(users[v]) == 1
			}
			exact[n] = exact[a] && exact[b]
			if a == b || tunable(a) || tunable(b) || exact[n] {
				continue
			}
			k := 1
			if depth[a] < depth[b] {
				k = 0
			}
			v := n.Inputs[k]
			bl := ir.NewBuilder(v.Size(), v.Size())
			for j := range v.Size() {
				bl.Add(j, j, 1)
			}
			lin, err := bl.Build(nil, "scale alignment")
			if err != nil {
				return err
			}
			m := &ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{v}, Shape: v.Shape, Origin: n.Origin, Linear: lin}
			g.Nodes = append(g.Nodes[:i], append([]*ir.Node{m}, g.Nodes[i:]...)...)
			n.Inputs[k] = m
			users[m] = []*ir.Node{n}
			depth[m] = depth[v] + 1
			exact[m] = true
			i++
			d = max(depth[n.Inputs[0]], depth[n.Inputs[1]])
			depth[n] = d
			exact[n] = exact[n.Inputs[0]] && exact[n.Inputs[1]]
			inserted++
		}
	}
	if inserted > 0 {
		cfg.logf("align-scales", "%d identity maps inserted so that additions see equal scales", inserted)
	}
	return nil
}
