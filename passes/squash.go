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

// SquashAffine composes every affine node into the affine node that reads
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
		if in.Op != ir.OpAffine || len(users[in]) != 1 {
			continue
		}
		lin, err := ir.Compose(n.Linear, in.Linear)
		if err != nil {
			return fmt.Errorf("node %s: %w", n.Label(), err)
		}
		if float64(lin.NNZ()) > maxSquashGrowth*float64(n.Linear.NNZ()+in.Linear.NNZ()) {
			kept++
			continue
		}
		n.Linear = lin
		n.Inputs[0] = in.Inputs[0]
		n.Origin = joinOrigins(in.Origin, n.Origin)
		users[in.Inputs[0]] = append(users[in.Inputs[0]], n)
		squashed++
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
