package ir

import (
	"fmt"
	"io"
	"strings"
)

// Print writes the graph in a stable text form, one node a line: the golden
// files of the pass tests are these dumps.
//
//	%1 = affine %0 [1,845] conv 5@5x5 s2 p1 (nnz 21125, bias)   # "Conv_0" (Conv)
func Print(w io.Writer, g *Graph) error {
	id := make(map[*Node]int, len(g.Nodes))
	var b strings.Builder
	if g.LogSlots > 0 || g.Depth > 0 {
		fmt.Fprintf(&b, "# slots 2^%d, depth %d\n", g.LogSlots, g.Depth)
	}
	for i, n := range g.Nodes {
		id[n] = i
		fmt.Fprintf(&b, "%%%d = %s", i, n.Op)
		if n.Name != "" {
			fmt.Fprintf(&b, " %q", n.Name)
		}
		for _, in := range n.Inputs {
			if j, ok := id[in]; ok {
				fmt.Fprintf(&b, " %%%d", j)
			} else {
				b.WriteString(" %?")
			}
		}
		fmt.Fprintf(&b, " %s", shapeString(n.Shape))
		switch n.Op {
		case OpInput:
			if n.Gather != nil {
				fmt.Fprintf(&b, " client layout of %s", shapeString(n.Gather.Shape))
				if n.Gather.Parts > 1 {
					fmt.Fprintf(&b, " in %d ciphertexts", n.Gather.Parts)
				}
			}
		case OpAffine:
			l := n.Linear
			fmt.Fprintf(&b, " %s (nnz %d", l.Desc, l.NNZ())
			if l.Identity {
				b.WriteString(", identity")
			}
			if l.Bias != nil {
				b.WriteString(", bias")
			}
			b.WriteString(")")
		case OpPoly:
			fmt.Fprintf(&b, " %s", n.Poly)
		case OpActivation:
			fmt.Fprintf(&b, " %s", n.Act)
		case OpConst:
			fmt.Fprintf(&b, " const%s", shapeString(n.Const.Shape))
		}
		if n.Post != "" {
			fmt.Fprintf(&b, " then %s", n.Post)
		}
		if n.Range != (Interval{}) {
			fmt.Fprintf(&b, " range [%.4g, %.4g]", n.Range.Lo, n.Range.Hi)
		}
		if g.Depth > 0 {
			fmt.Fprintf(&b, " @L%d", n.Level)
		}
		if n.Origin != "" {
			fmt.Fprintf(&b, "   # %s", n.Origin)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// String returns the Print form.
func (g *Graph) String() string {
	var b strings.Builder
	_ = Print(&b, g)
	return b.String()
}
