package runtime

import (
	"fmt"
	"math/big"

	"github.com/hecc-dev/hecc/ir"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
)

// scalePlan holds the exact CKKS scale of every node's result and, for each
// affine node, the scale its diagonals are encoded at.
//
// Lattigo adds two ciphertexts of different scales by multiplying one by the
// integer part of their ratio, which for nearly equal scales (Δ and Δ²/q
// after a square) silently leaves a relative error near 2^-12. An affine map
// can land on any scale by choosing its plaintext scale, so the plan makes
// the later affine operand of every Add produce exactly the other
// operand's scale.
type scalePlan struct {
	out map[*ir.Node]rlwe.Scale
	pt  map[*ir.Node]rlwe.Scale
}

func planScales(p hefloat.Parameters, g *ir.Graph) (*scalePlan, error) {
	delta := p.DefaultScale()
	target := map[*ir.Node]rlwe.Scale{}
	users := g.Users()
	for range len(g.Nodes) + 1 {
		plan := &scalePlan{out: map[*ir.Node]rlwe.Scale{}, pt: map[*ir.Node]rlwe.Scale{}}
		changed := false
		for _, n := range g.Nodes {
			var s rlwe.Scale
			switch n.Op {
			case ir.OpInput:
				s = delta
			case ir.OpAffine:
				in := plan.out[n.Inputs[0]]
				if n.Linear.Identity {
					s = in
					break
				}
				s = delta
				if t, ok := target[n]; ok {
					s = t
				}
				q := rlwe.NewScale(p.Q()[n.Inputs[0].Level])
				plan.pt[n] = s.Mul(q).Div(in)
			case ir.OpPoly:
				in := plan.out[n.Inputs[0]]
				if n.Poly.IsSquare() {
					s = in.Mul(in).Div(rlwe.NewScale(p.Q()[n.Inputs[0].Level]))
				} else {
					s = delta // the polynomial evaluator lands on the scale it is given
				}
			case ir.OpMul:
				a, b := n.Inputs[0], n.Inputs[1]
				s = plan.out[a].Mul(plan.out[b]).Div(rlwe.NewScale(p.Q()[min(a.Level, b.Level)]))
			case ir.OpAdd:
				a, b := n.Inputs[0], n.Inputs[1]
				sa, sb := plan.out[a], plan.out[b]
				s = sa.Max(sb)
				if sa.Cmp(sb) != 0 {
					// Tune whichever operand is an affine map read by this Add
					// alone, preferring the later one.
					for _, v := range []*ir.Node{b, a} {
						other := a
						if v == a {
							other = b
						}
						if v.Op == ir.OpAffine && !v.Linear.Identity && len(users[v]) == 1 {
							if _, set := target[v]; !set {
								target[v] = plan.out[other]
								changed = true
							}
							break
						}
					}
				}
			case ir.OpOutput:
				s = plan.out[n.Inputs[0]]
			default:
				return nil, fmt.Errorf("node %s: op %s cannot be evaluated under encryption", n.Label(), n.Op)
			}
			plan.out[n] = s
		}
		if !changed {
			for _, n := range g.Nodes {
				if n.Op == ir.OpAdd && !closeScales(plan.out[n.Inputs[0]], plan.out[n.Inputs[1]]) {
					return nil, fmt.Errorf("node %s adds ciphertexts whose scales cannot be matched (neither operand is an affine map read only by it)", n.Label())
				}
			}
			return plan, nil
		}
	}
	return nil, fmt.Errorf("scale planning did not converge")
}

// closeScales reports whether two scales agree to 2^-40: the residue of
// big-float arithmetic, far below CKKS noise.
func closeScales(a, b rlwe.Scale) bool {
	r, _ := new(big.Float).Quo(&a.Value, &b.Value).Float64()
	return r > 1-1e-12 && r < 1+1e-12
}
