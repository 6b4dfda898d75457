package plan

import (
	"cmp"
	"slices"

	"github.com/hecc-dev/hecc/ir"
)

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
	if !p.Spec.Batched() {
		return p.Weights().Bytes()
	}
	var b int64
	for _, n := range p.Graph.Nodes {
		if n.Op != ir.OpAffine || n.Linear.Identity {
			continue
		}
		held := n.Inputs[0].Level
		if p.Unrelinearized[n.Inputs[0]] {
			held++
		}
		b += int64(held+1) * int64(len(n.Linear.Vals)) * 8
	}
	return b
}

// WeightGroup is plaintexts of one affine node that the runtime encodes
// alike, in size and in cost: a map's diagonals (or its parts' weights),
// or its bias.
type WeightGroup struct {
	Node *ir.Node
	Bias bool
	// Count is the plaintexts; Bytes what each takes encoded, Values what
	// its values take instead (float64 per slot) when it is encoded on
	// demand, and Seconds the time one core takes to encode it.
	Count   int
	Bytes   int64
	Values  int64
	Seconds float64
}

// Weights lists the encoded weights of a circuit in the packed layout, in
// the order a weights budget keeps them (Within): the costliest to encode
// per byte first, which are those with the fewest limbs, the later
// layers'; in graph order among equals. A batch circuit's weights are
// integers, never encoded: it has none.
func (p *Plan) Weights() Weights {
	if p.Spec.Batched() {
		return nil
	}
	set := p.Spec.Params
	slots := 1 << p.Graph.LogSlots
	var w Weights
	group := func(n *ir.Node, bias bool, count, limbs int) {
		w = append(w, WeightGroup{Node: n, Bias: bias, Count: count, Bytes: int64(limbs) * 8 << set.LogN, Values: int64(slots) * 8,
			Seconds: encodeSeconds(set.LogN, p.Graph.LogSlots, limbs, set.LogScale)})
	}
	for _, n := range p.Graph.Nodes {
		if n.Op != ir.OpAffine {
			continue
		}
		switch pl := p.Linear[n]; {
		case pl == nil:
		case pl.Form == Parts:
			group(n, false, pl.Parts, set.Limbs(n.Inputs[0].Level))
		default:
			group(n, false, max(1, len(pl.Diagonals)), set.Limbs(n.Inputs[0].Level)+len(set.LogP))
		}
		if n.Linear.Bias != nil {
			group(n, true, 1, set.Limbs(n.Level))
		}
	}
	order := make(map[*ir.Node]int, len(p.Graph.Nodes))
	for i, n := range p.Graph.Nodes {
		order[n] = i
	}
	slices.SortStableFunc(w, func(a, b WeightGroup) int {
		if c := cmp.Compare(b.Seconds/float64(b.Bytes), a.Seconds/float64(a.Bytes)); c != 0 {
			return c
		}
		return cmp.Compare(order[a.Node], order[b.Node])
	})
	return w
}

// Weights are a circuit's encoded weights, as Plan.Weights orders them.
type Weights []WeightGroup

// Bytes is what the weights take, all encoded.
func (w Weights) Bytes() int64 {
	var b int64
	for _, g := range w {
		b += int64(g.Count) * g.Bytes
	}
	return b
}

// Kept is what a prepared circuit keeps encoded within a budget, and what
// it encodes when an evaluation needs it.
type Kept struct {
	// Count is how many plaintexts of each group (Weights' order) are
	// kept encoded: the first ones, in the order the runtime encodes them.
	Count []int
	// Bytes is what the kept plaintexts take; Values what the values of
	// the others take, held to encode them; OnDemand what those take
	// encoded, one at a time per worker.
	Bytes, Values, OnDemand int64
	// Seconds is what encoding the others costs each evaluation, on one
	// core: the evaluation's workers share it.
	Seconds float64
}

// Within keeps the weights in their order while they fit in budget bytes
// (a negative budget keeps them all): every plaintext of a group is as
// large, so the ones it keeps of each group are its first.
func (w Weights) Within(budget int64) Kept {
	k := Kept{Count: make([]int, len(w))}
	for i, g := range w {
		n := g.Count
		if budget >= 0 {
			n = int(min(int64(g.Count), (budget-k.Bytes)/g.Bytes))
		}
		k.Count[i] = n
		k.Bytes += int64(n) * g.Bytes
		rest := g.Count - n
		k.Values += int64(rest) * g.Values
		k.OnDemand += int64(rest) * g.Bytes
		k.Seconds += float64(rest) * g.Seconds
	}
	return k
}

// Encoding a plaintext, in CPU time (runtime's BenchmarkEncodeDiagonal at
// logN 16, 2^14 and 2^15 slots): the inverse FFT on the slots, in float64
// or, above a scale of 2^53, in double-double arithmetic; then per limb
// the rounding of the 2·slots coefficients and the NTT of the sparse
// polynomial, which ends on the N of the ring. A parts map's weights and
// a bias above 2^53 go through Lattigo's big-float encoder, slower: a
// bias or a part is one plaintext among a map's many diagonals.
const (
	encodeSlotNs    = 75.0
	encodeCoeffNs   = 15.0 // per limb and coefficient of the 2·slots
	encodeRingNs    = 6.0  // per limb and coefficient of the ring
	encodeSlotDDNs  = 550.0
	encodeCoeffDDNs = 47.0
)

// encodeSeconds is the CPU time one core takes to encode a plaintext of
// limbs limbs on 2^logSlots slots at logN and scale 2^logScale.
func encodeSeconds(logN, logSlots, limbs, logScale int) float64 {
	slots, n := float64(int(1)<<logSlots), float64(int(1)<<logN)
	if logScale > 53 {
		return (encodeSlotDDNs*slots + encodeCoeffDDNs*float64(limbs)*2*slots) * 1e-9
	}
	return (encodeSlotNs*slots + float64(limbs)*(encodeCoeffNs*2*slots+encodeRingNs*n)) * 1e-9
}
