package passes

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hecc-dev/hecc/ir"
)

// maxSquashGrowth bounds how much composing two maps may multiply their
// weights. Composing a pooling into the convolution after it widens the
// kernel (2×2 pooling then 5×5 convolution is a 10×10 convolution: four
// times the weights, and four times the diagonals and their memory); one
// level is then cheaper than the larger map.
const maxSquashGrowth = 2.0

// SquashAffine composes every affine node into the affine nodes that read
// it when it has no other reader. Between two non-linear nodes any chain of
// affine maps (conv, pooling, padding, reshape, batch normalisation, scaling)
// then becomes one map: one level and one linear transformation instead of
// one per ONNX operator — unless the composition would grow the weights
// more than maxSquashGrowth times.
func SquashAffine(g *ir.Graph, cfg *Config) error {
	users := g.Users()
	squashed, kept := 0, 0
	for _, n := range g.Nodes {
		if n.Op != ir.OpAffine {
			continue
		}
		// Graph order is topological, so n's producer has already absorbed
		// its own chain: one step per node composes chains of any length.
		in := n.Inputs[0]
		if in.Op != ir.OpAffine {
			continue
		}
		// An element-wise map read by several maps is composed into each
		// of them, or into none: only then is its level saved. A map that
		// mixes values stays apart: each composition would be another
		// map of its size, with rotations of its own.
		readers := users[in]
		if len(readers) > 1 && !elementwiseMap(in.Linear) || slices.ContainsFunc(readers, func(u *ir.Node) bool { return u.Op != ir.OpAffine }) || readers[0] != n {
			continue
		}
		lins := make([]*ir.Linear, len(readers))
		grows := false
		for i, u := range readers {
			lin, err := ir.Compose(u.Linear, in.Linear)
			if err != nil {
				return fmt.Errorf("node %s: %w", u.Label(), err)
			}
			lins[i] = lin
			grows = grows || float64(lin.NNZ()) > maxSquashGrowth*float64(u.Linear.NNZ()+in.Linear.NNZ())
		}
		if grows {
			kept++
			continue
		}
		for i, u := range readers {
			u.Linear = lins[i]
			u.Inputs[0] = in.Inputs[0]
			u.Origin = joinOrigins(in.Origin, u.Origin)
			users[in.Inputs[0]] = append(users[in.Inputs[0]], u)
			squashed++
		}
	}
	g.Prune()
	cfg.logf("squash-affine", "%d affine nodes composed into their readers", squashed)
	if kept > 0 {
		cfg.logf("squash-affine", "%d kept apart: composing would multiply their weights more than %g times", kept, maxSquashGrowth)
	}
	return nil
}

// joinOrigins lists the ONNX nodes a composed map came from, once each.
func joinOrigins(a, b string) string {
	parts := strings.Split(a, " + ")
	for _, p := range strings.Split(b, " + ") {
		if p != "" && !slices.Contains(parts, p) {
			parts = append(parts, p)
		}
	}
	return strings.TrimPrefix(strings.Join(parts, " + "), " + ")
}

// elementwiseMap reports whether every output of l is a multiple of the
// input at its own position, plus a bias.
func elementwiseMap(l *ir.Linear) bool {
	if l.Identity {
		return true
	}
	if l.Rows != l.Cols {
		return false
	}
	for r := range l.Rows {
		for k := l.RowPtr[r]; k < l.RowPtr[r+1]; k++ {
			if l.ColIdx[k] != r {
				return false
			}
		}
	}
	return true
}
