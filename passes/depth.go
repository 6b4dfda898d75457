package passes

import (
	"github.com/hecc-dev/hecc/ir"
)

// levelCost is the number of rescales a node performs.
func levelCost(n *ir.Node) int {
	switch n.Op {
	case ir.OpAffine:
		if n.Linear.Identity {
			return 0 // a reshape or a bias: no multiplication
		}
		return 1
	case ir.OpPoly:
		return n.Poly.Depth()
	case ir.OpMul:
		return 1
	}
	return 0
}

// Depth assigns every node the CKKS level its result sits at: the input
// starts at the top level, the graph's depth, and each node descends by the
// rescales it performs below the lowest of its inputs, as Lattigo does.
func Depth(g *ir.Graph, cfg *Config) error {
	used := make(map[*ir.Node]int, len(g.Nodes))
	total := 0
	for _, n := range g.Nodes {
		d := 0
		for _, in := range n.Inputs {
			d = max(d, used[in])
		}
		used[n] = d + levelCost(n)
		total = max(total, used[n])
	}
	g.Depth = total
	for _, n := range g.Nodes {
		n.Level = total - used[n]
	}
	cfg.logf("depth", "multiplicative depth %d", total)
	return nil
}
