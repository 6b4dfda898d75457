package runtime

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
)

// pooled counts what b holds: its free elements by level, then its free
// evaluator sets.
func pooled(b *buffers) []int {
	var n []int
	for i := range b.levels {
		n = append(n, len(b.levels[i]))
	}
	return append(n, len(b.workers.items))
}

// TestRunStopsWhenCancelled cancels an evaluation from the test hook before
// a chosen node: Run returns an error wrapping context.Canceled that names
// where it stopped (before the next node, or inside an affine map's
// rotations and giant steps), gives back every buffer it borrowed, and the
// server then still evaluates correctly.
func TestRunStopsWhenCancelled(t *testing.T) {
	layouts := []struct {
		name     string
		pipeline []passes.Pass
		server   func(*testing.T, *ir.Graph) (*plan.Spec, *Keys, *Server)
		input    func(*testing.T, *plan.Spec, *Keys, *ir.Graph) *Ciphertext
		worst    func(*testing.T, *plan.Spec, *Keys, *Server, *ir.Graph, uint64) float64
	}{
		{"slots", nil, func(t *testing.T, g *ir.Graph) (*plan.Spec, *Keys, *Server) { return testServer(t, g, 35) },
			func(t *testing.T, spec *plan.Spec, keys *Keys, g *ir.Graph) *Ciphertext {
				ct, err := Encrypt(spec, keys.Secret, &ir.Tensor{Shape: g.Inputs()[0].InputShape(), Data: randomInputs(7, g.Inputs()[0].Size(), 1)})
				if err != nil {
					t.Fatal(err)
				}
				return ct
			}, func(t *testing.T, spec *plan.Spec, keys *Keys, srv *Server, g *ir.Graph, seed uint64) float64 {
				return worstError(t, spec, keys, srv, g, &ir.Tensor{Shape: g.Inputs()[0].InputShape(), Data: randomInputs(seed, g.Inputs()[0].Size(), 1)})
			}},
		{"batch", passes.BatchPipeline, func(t *testing.T, g *ir.Graph) (*plan.Spec, *Keys, *Server) { return batchServer(t, g, 11) },
			func(t *testing.T, spec *plan.Spec, keys *Keys, g *ir.Graph) *Ciphertext {
				one := batchInputShape(spec.Input)
				ct, err := Encrypt(spec, keys.Secret, &ir.Tensor{Shape: append([]int{3}, one...), Data: randomInputs(7, 3*ir.NumElements(one), 1)})
				if err != nil {
					t.Fatal(err)
				}
				return ct
			}, func(t *testing.T, spec *plan.Spec, keys *Keys, srv *Server, g *ir.Graph, seed uint64) float64 {
				worst, _ := batchWorst(t, spec, keys, srv, g, 3, seed)
				return worst
			}},
	}
	for _, layout := range layouts {
		t.Run(layout.name, func(t *testing.T) {
			b, x := newGraph(11, 40)
			g := b.output(b.dense(b.poly(b.dense(x, 30, 0.5), ir.Square()), 10, 1))
			if layout.pipeline != nil {
				if err := passes.Run(g, layout.pipeline, nil); err != nil {
					t.Fatal(err)
				}
			}
			spec, keys, srv := layout.server(t, g)
			srv.Workers = 2
			// A first evaluation fills the pool with what one takes.
			if w := layout.worst(t, spec, keys, srv, g, 1); w > 1e-4 {
				t.Fatalf("an encrypted result differs from plaintext by %g", w)
			}
			affine := g.Nodes[slices.IndexFunc(g.Nodes, func(n *ir.Node) bool { return n.Op == ir.OpAffine })]
			next := g.Nodes[slices.Index(g.Nodes, g.Inputs()[0])+1]
			for _, tc := range []struct {
				at   *ir.Node
				want string
			}{
				{g.Inputs()[0], "stopped before node " + next.Label()},
				{affine, "cannot evaluate node " + affine.Label()},
			} {
				before := pooled(srv.buf)
				ctx, cancel := context.WithCancel(context.Background())
				srv.beforeNode = func(n *ir.Node) {
					if n == tc.at {
						cancel()
					}
				}
				out, _, err := srv.Run(ctx, layout.input(t, spec, keys, g))
				srv.beforeNode = nil
				cancel()
				if !errors.Is(err, context.Canceled) || out != nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("cancelled at node %s: got %v, %v; expected context.Canceled from %q", tc.at.Label(), out, err, tc.want)
				}
				if after := pooled(srv.buf); !slices.Equal(after, before) {
					t.Fatalf("cancelled at node %s: the pool held %v before, %v after", tc.at.Label(), before, after)
				}
				if w := layout.worst(t, spec, keys, srv, g, 2); w > 1e-4 {
					t.Fatalf("after a cancelled run, an encrypted result differs from plaintext by %g", w)
				}
			}
		})
	}
}
