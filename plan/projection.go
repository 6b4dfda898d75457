package plan

import (
	"github.com/hecc-dev/hecc/ir"
)

// A client encrypts its input in 2^LogSlots slots, which the ring holds
// N/2^(LogSlots+1) times over, each slot a complex number of which the
// circuit uses the real part. Nothing stops a hostile client from
// encrypting other data in the other copies, in the imaginary parts or in
// the slots its layout leaves empty, and the circuit would compute on
// them too: four digits in the four copies of an MLP's input return four
// predictions. The first affine map therefore projects its input onto the
// layout, at no level:
//
//   - it gives weight 0 to every slot the layout does not define, so that
//     what a client puts there never reaches its result;
//   - its result y, before the rescale, is replaced by the trace Σ_j rot_{j·n}(y + conj(y))
//     over the copies and the conjugation (one key switch and the hoisted
//     stages of a block sum), which keeps only the real part of the sum of
//     the copies, the same in every copy;
//   - its weights are divided by the 2·N/2n terms of that trace, so that an
//     honest input, whose copies are equal and real, gives what it gave.
//
// The trace is linear and commutes with the map's rotations and products
// by plaintexts that repeat every n slots, so applied to the map's result
// it is the map applied to the projected input. Its keys are at the map's
// input level.

// Projection is the projection onto the input layout the first affine map
// performs.
type Projection struct {
	// Trace adds up the copies of the slots, in block sum stages (nil when
	// the layout fills the ring).
	Trace [][]int
	// Factor divides the map's weights: 1 / (2 · copies).
	Factor float64
	// defined reports whether the input slot (column) c is one the
	// layout defines.
	defined func(c int) bool
}

// newProjection plans the projection for the affine map reading input.
func newProjection(input *ir.Node, logSlots, ringLogSlots int) *Projection {
	p := &Projection{Factor: 1 / float64(int(2)<<(ringLogSlots-logSlots))}
	if logSlots < ringLogSlots {
		p.Trace = blockSumStages(1<<logSlots, 1<<ringLogSlots)
	}
	if g := input.Gather; g != nil {
		slots := g.Slots
		p.defined = func(c int) bool { return c < len(slots) && slots[c] >= 0 }
	} else {
		size := ir.NumElements(input.InputShape())
		p.defined = func(c int) bool { return c < size }
	}
	return p
}

// Weight is the weight the map gives entry v of column c: v scaled by the
// projection's factor, 0 for a column the input layout leaves undefined.
func (l *Linear) Weight(c int, v float64) float64 {
	if l.Projection == nil {
		return v
	}
	if !l.Projection.defined(c) {
		return 0
	}
	return v * l.Projection.Factor
}

// ConjugationGalois is the Galois element of the complex conjugation of
// the slots in a ring of degree 2^logN: X → X^(2N−1).
func ConjugationGalois(logN int) uint64 { return uint64(2)<<logN - 1 }

// projectionKeys are the keys of the projection at level.
func (p *Projection) keys(logN, level int) []RotationKey {
	out := []RotationKey{{ConjugationGalois(logN), level}}
	for _, stage := range p.Trace {
		for _, r := range stage {
			out = append(out, RotationKey{GaloisElement(logN, r), level})
		}
	}
	return out
}
