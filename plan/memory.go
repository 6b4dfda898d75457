package plan

import "github.com/hecc-dev/hecc/ir"

// EncodedBytes is what the runtime's prepared circuit holds of the plan's
// weights, encoded once and shared by the servers of every key set, as
// the runtime encodes them (runtime.Prepare): every polynomial N 8-byte
// coefficients per limb. A standard or hybrid map's diagonals are in the
// extended basis, one polynomial each (one for a map without any) with
// the limbs of its input's level and the α key-switching primes; a parts
// map's weights and a bias are in Q, at its input's level and at its
// output's; a batch map's weights are one integer per entry and limb of
// the level its input is held at.
func (p *Plan) EncodedBytes() int64 {
	set := p.Spec.Params
	poly := func(limbs int) int64 { return int64(limbs) * 8 << set.LogN }
	var b int64
	for _, n := range p.Graph.Nodes {
		if n.Op != ir.OpAffine {
			continue
		}
		if p.Spec.Batched() {
			if n.Linear.Identity {
				continue
			}
			held := n.Inputs[0].Level
			if p.Unrelinearized[n.Inputs[0]] {
				held++
			}
			b += int64(held+1) * int64(len(n.Linear.Vals)) * 8
			continue
		}
		if n.Linear.Bias != nil {
			b += poly(set.Limbs(n.Level))
		}
		pl := p.Linear[n]
		switch {
		case pl == nil:
		case pl.Form == Parts:
			b += int64(pl.Parts) * poly(set.Limbs(n.Inputs[0].Level))
		default:
			b += int64(max(1, len(pl.Diagonals))) * poly(set.Limbs(n.Inputs[0].Level)+len(set.LogP))
		}
	}
	return b
}
