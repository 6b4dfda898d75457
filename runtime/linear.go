package runtime

import (
	"math/bits"
	"slices"

	"github.com/hecc-dev/hecc/ir"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
)

// An affine node is one linear transformation by the diagonal method with
// baby-step giant-step rotations. Two ways to put W on diagonals:
//
//   - standard: entry (r, c) on diagonal (c − r) mod n. A layer with few rows
//     reading many spread-out columns (a dense layer after a laid-out
//     convolution) then has up to one diagonal per slot.
//   - hybrid (Halevi–Shoup): with R = 2^⌈log2 rows⌉, entry (r, c) on diagonal
//     k = (c − r) mod R at slot (c − k) mod n; a sum of the n/R blocks
//     of R then adds up each row. R diagonals and log2(n/R) more rotations,
//     whatever the columns. The sum leaves copies of the result in every
//     block, so the hybrid form is used only where the next affine map
//     ignores them before anything reaches the output.
//
// Each node takes the form whose estimated cost is lower.

// rotationCost is a key switch's cost in plaintext multiplications, from
// ../shared/notes/lattigo-v5.md (4.4 ms against ~0.1 ms at logN 13).
const rotationCost = 40

type ltPlan struct {
	// parts, for a map reading an input in several ciphertexts, is their
	// count: no diagonals, no rotations (see partsTransform).
	parts int
	// period, for the standard form, is how often the input repeats in
	// the slots when every column the map reads lies below it (the block
	// of a hybrid map before it, through polynomials): entry (r, c) then
	// sits on diagonal (c − r) mod period, reading the copy at r + k, so
	// the diagonals are at most period, not rows + columns − 1 (LeNet-5's
	// fc2: 128 instead of 203). 0 when the input does not repeat.
	period int
	hybrid bool
	block  int   // R, hybrid only
	diags  []int // diagonal indices
	split  split
	// sum, hybrid only, adds up the blocks: Σ_j rot_{j·R}(y) (see
	// blockSumStages).
	sum [][]int
}

// plans chooses how every affine node of g is evaluated, in graph order:
// a map's plan depends on whether its input repeats, which the plan of the
// map before it decides.
func plans(g *ir.Graph) map[*ir.Node]ltPlan {
	hybrid := hybridAllowed(g)
	period := map[*ir.Node]int{} // of each value that repeats in the slots
	out := map[*ir.Node]ltPlan{}
	for _, n := range g.Nodes {
		switch {
		case n.Op == ir.OpAffine && !n.Linear.Identity:
			pl := planLinear(n, g.LogSlots, hybrid[n], period[n.Inputs[0]])
			out[n] = pl
			if pl.hybrid {
				period[n] = pl.block
			}
		case n.Op == ir.OpPoly, n.Op == ir.OpMul && n.Inputs[0] == n.Inputs[1]:
			period[n] = period[n.Inputs[0]]
		}
	}
	return out
}

// planLinear chooses how affine node n is evaluated on 2^logSlots slots,
// its input repeating every inPeriod slots (0: not).
func planLinear(n *ir.Node, logSlots int, hybridAllowed bool, inPeriod int) ltPlan {
	if in := n.Inputs[0]; in.InParts() {
		return ltPlan{parts: in.Gather.Parts}
	}
	slots := 1 << logSlots
	std := ltPlan{}
	if inPeriod > 0 && maxColumn(n.Linear) < inPeriod {
		std.period = inPeriod
	}
	std.diags = diagonalIndices(n.Linear, std.modulus(slots))
	std.split = bestSplit(std.diags, slots)
	rows := n.Linear.Rows
	block := 1 << bits.Len(uint(rows-1))
	if !hybridAllowed || block >= slots {
		return std
	}
	hyb := ltPlan{hybrid: true, block: block, diags: hybridIndices(n.Linear, block)}
	hyb.split = bestSplit(hyb.diags, slots)
	hyb.sum = blockSumStages(block, slots)
	if hyb.cost(slots) < std.cost(slots) {
		return hyb
	}
	return std
}

// modulus is what the standard form's diagonal indices are taken modulo.
func (pl ltPlan) modulus(slots int) int {
	if pl.period > 0 {
		return pl.period
	}
	return slots
}

// maxColumn is the largest column l reads, −1 for none.
func maxColumn(l *ir.Linear) int {
	m := -1
	for r := range l.Rows {
		l.Row(r, func(c int, _ float64) { m = max(m, c) })
	}
	return m
}

func (pl ltPlan) cost(slots int) float64 {
	rot := pl.split.cost()
	if pl.hybrid {
		rot += stagesCost(pl.sum)
	}
	return rotationCost*rot + float64(len(pl.diags))
}

// hybridIndices lists the diagonals of the hybrid form.
func hybridIndices(l *ir.Linear, block int) []int {
	seen := map[int]bool{}
	for r := range l.Rows {
		l.Row(r, func(c int, _ float64) { seen[((c-r)%block+block)%block] = true })
	}
	out := make([]int, 0, len(seen))
	for k := range block {
		if seen[k] {
			out = append(out, k)
		}
	}
	return out
}

// hybridDiagonals materialises the hybrid form: D_k[(c − k) mod n] = W[r][c].
func hybridDiagonals(l *ir.Linear, block, slots int) map[int][]float64 {
	d := map[int][]float64{}
	for r := range l.Rows {
		l.Row(r, func(c int, v float64) {
			k := ((c-r)%block + block) % block
			if d[k] == nil {
				d[k] = make([]float64, slots)
			}
			d[k][((c-k)%slots+slots)%slots] += v
		})
	}
	return d
}

// hybridAllowed marks the affine nodes whose result may carry copies of
// itself in other slots: every path from them reaches another affine map
// (which reads only its own columns) through polynomials and squares
// alone, so no copy reaches the output or mixes with another value.
func hybridAllowed(g *ir.Graph) map[*ir.Node]bool {
	users := g.Users()
	var cleansBefore func(n *ir.Node) bool
	memo := map[*ir.Node]bool{}
	cleansBefore = func(n *ir.Node) bool {
		if v, ok := memo[n]; ok {
			return v
		}
		ok := len(users[n]) > 0
		for _, u := range users[n] {
			switch {
			case u.Op == ir.OpAffine && !u.Linear.Identity:
			case u.Op == ir.OpPoly, u.Op == ir.OpMul && u.Inputs[0] == u.Inputs[1]:
				ok = ok && cleansBefore(u)
			default:
				ok = false
			}
		}
		memo[n] = ok
		return ok
	}
	out := map[*ir.Node]bool{}
	for _, n := range g.Nodes {
		if n.Op == ir.OpAffine && !n.Linear.Identity {
			out[n] = cleansBefore(n)
		}
	}
	return out
}

// keyUse is a rotation and the level it happens at.
type keyUse struct {
	galois uint64
	level  int
}

// linearKeys lists the rotations an affine node performs: the
// transformation's at its input's level, the block sum's one level lower.
func linearKeys(p hefloat.Parameters, g *ir.Graph, n *ir.Node, pl ltPlan) []keyUse {
	var out []keyUse
	for _, r := range append(slices.Clone(pl.split.giant), pl.split.baby...) {
		if r != 0 { // the identity needs no key
			out = append(out, keyUse{p.GaloisElement(r), n.Inputs[0].Level})
		}
	}
	if pl.hybrid {
		for _, stage := range pl.sum {
			for _, r := range stage {
				out = append(out, keyUse{p.GaloisElement(r), n.Level})
			}
		}
	}
	return out
}
