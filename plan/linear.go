package plan

import (
	"fmt"
	"math/bits"
	"slices"

	"github.com/hecc-dev/hecc/ir"
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
// Each node takes the form whose estimated cost is lower. A map reading an
// input the client encrypted in several ciphertexts takes a third form,
// parts, with no diagonals and no rotation.

// rotationCost is a key switch's cost in plaintext multiplications, as
// measured at logN 13.
const rotationCost = 40

// Form is how an affine map puts its matrix in the slots.
type Form int

// The forms of a linear transformation.
const (
	Standard Form = iota
	Hybrid
	// Parts reads an input in several ciphertexts: Σ_j w_j ⊙ part_j.
	Parts
	// Scalars is the batch layout's: every output a sum of input
	// ciphertexts times scalars (see BuildBatch).
	Scalars
)

func (f Form) String() string {
	switch f {
	case Standard:
		return "standard"
	case Hybrid:
		return "hybrid"
	case Parts:
		return "parts"
	case Scalars:
		return "scalars"
	}
	return fmt.Sprintf("form %d", int(f))
}

// Linear is how one affine node (not the identity) is evaluated.
type Linear struct {
	Form Form
	// Parts, for the parts form, is the number of ciphertexts the input
	// is in.
	Parts int
	// Products, for the scalars form, is the number of ciphertext ×
	// scalar products: the map's non-zero entries.
	Products int
	// Period, for the standard form, is how often the input repeats in
	// the slots when every column the map reads lies below it (the block
	// of a hybrid map before it, through polynomials): entry (r, c) then
	// sits on diagonal (c − r) mod Period, reading the copy at r + k, so
	// the diagonals are at most Period, not rows + columns − 1 (LeNet-5's
	// fc2: 128 instead of 203). 0 when the input does not repeat.
	Period int
	// Repeats, for the standard form with a period, fills every block of
	// Period slots with the diagonals and the bias, not only the first:
	// the result then repeats too, as a hybrid map's does, so that the
	// next map may take its diagonals modulo the period. Only where the
	// result may carry copies (hybridAllowed) and has at most Period rows.
	Repeats bool
	// Block is R, for the hybrid form.
	Block int
	// Diagonals are the indices of the non-zero diagonals, sorted.
	Diagonals []int
	// Split assigns every diagonal its giant and baby step.
	Split Split
	// BlockSum, for the hybrid form, adds up the blocks, Σ_j rot_{j·R}(y),
	// in stages of rotations (see blockSumStages).
	BlockSum [][]int
	// Projection, for the map reading the client's input, projects that
	// input onto its layout (projection.go); nil for any other map.
	Projection *Projection
}

// linears chooses how every affine node of g is evaluated, in graph order:
// a map's plan depends on whether its input repeats, which the plan of the
// map before it decides.
func linears(g *ir.Graph) map[*ir.Node]*Linear {
	hybrid := hybridAllowed(g)
	period := map[*ir.Node]int{} // of each value that repeats in the slots
	out := map[*ir.Node]*Linear{}
	for _, n := range g.Nodes {
		switch {
		case n.Op == ir.OpAffine && !n.Linear.Identity:
			pl := planLinear(n, g.LogSlots, hybrid[n], period[n.Inputs[0]])
			out[n] = pl
			switch {
			case pl.Form == Hybrid:
				period[n] = pl.Block
			case pl.Repeats:
				period[n] = pl.Period
			}
		case n.Op == ir.OpPoly:
			period[n] = period[n.Inputs[0]]
		case n.Op == ir.OpAdd, n.Op == ir.OpMul:
			// Slot by slot: two values that repeat alike give one that does.
			if p := period[n.Inputs[0]]; p == period[n.Inputs[1]] {
				period[n] = p
			}
		}
	}
	return out
}

// planLinear chooses how affine node n is evaluated on 2^logSlots slots,
// its input repeating every inPeriod slots (0: not).
func planLinear(n *ir.Node, logSlots int, hybridAllowed bool, inPeriod int) *Linear {
	if in := n.Inputs[0]; in.InParts() {
		return &Linear{Form: Parts, Parts: in.Gather.Parts}
	}
	slots := 1 << logSlots
	std := &Linear{Form: Standard}
	if inPeriod > 0 && maxColumn(n.Linear) < inPeriod {
		std.Period = inPeriod
		std.Repeats = hybridAllowed && n.Linear.Rows <= inPeriod
	}
	std.Diagonals = diagonalIndices(n.Linear, std.modulus(slots))
	std.Split = bestSplit(std.Diagonals, slots)
	rows := n.Linear.Rows
	block := 1 << bits.Len(uint(rows-1))
	if !hybridAllowed || block >= slots {
		return std
	}
	hyb := &Linear{Form: Hybrid, Block: block, Diagonals: hybridIndices(n.Linear, block)}
	hyb.Split = bestSplit(hyb.Diagonals, slots)
	hyb.BlockSum = blockSumStages(block, slots)
	if hyb.cost() < std.cost() {
		return hyb
	}
	return std
}

// modulus is what the standard form's diagonal indices are taken modulo.
func (l *Linear) modulus(slots int) int {
	if l.Period > 0 {
		return l.Period
	}
	return slots
}

// maxColumn is the largest column w reads, −1 for none.
func maxColumn(w *ir.Linear) int {
	m := -1
	for r := range w.Rows {
		w.Row(r, func(c int, _ float64) { m = max(m, c) })
	}
	return m
}

func (l *Linear) cost() float64 {
	rot := l.Split.Cost()
	if l.Form == Hybrid {
		rot += stagesCost(l.BlockSum)
	}
	return rotationCost*rot + float64(len(l.Diagonals))
}

// diagonalIndices lists the non-zero generalized diagonals of w embedded in
// an n×n matrix: entry (r, c) lies on diagonal (c-r) mod n.
func diagonalIndices(w *ir.Linear, n int) []int {
	seen := make(map[int]bool)
	for r := 0; r < w.Rows; r++ {
		w.Row(r, func(c int, _ float64) { seen[((c-r)%n+n)%n] = true })
	}
	out := make([]int, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// hybridIndices lists the diagonals of the hybrid form.
func hybridIndices(w *ir.Linear, block int) []int {
	seen := map[int]bool{}
	for r := range w.Rows {
		w.Row(r, func(c int, _ float64) { seen[((c-r)%block+block)%block] = true })
	}
	out := make([]int, 0, len(seen))
	for k := range block {
		if seen[k] {
			out = append(out, k)
		}
	}
	return out
}

// DiagonalValues materialises the non-zero diagonals of w, the matrix this plan
// was made for, on slots slots, in the standard or hybrid form (nil for
// parts):
//
//   - standard: diag[k][r] = W[r][c] for c ≡ r + k modulo the period (or
//     slots), and at every r + j·Period when the map repeats;
//   - hybrid: diag[k][(c − k) mod slots] = W[r][c] for k = (c − r) mod R.
func (l *Linear) DiagonalValues(w *ir.Linear, slots int) map[int][]float64 {
	d := map[int][]float64{}
	switch l.Form {
	case Standard:
		mod := l.modulus(slots)
		step := slots // one block: only the first
		if l.Repeats {
			step = l.Period
		}
		for r := range w.Rows {
			w.Row(r, func(c int, v float64) {
				k := ((c-r)%mod + mod) % mod
				if d[k] == nil {
					d[k] = make([]float64, slots)
				}
				for s := r; s < slots; s += step {
					d[k][s] = l.Weight(c, v)
				}
			})
		}
	case Hybrid:
		block := l.Block
		for r := range w.Rows {
			w.Row(r, func(c int, v float64) {
				k := ((c-r)%block + block) % block
				if d[k] == nil {
					d[k] = make([]float64, slots)
				}
				d[k][((c-k)%slots+slots)%slots] += l.Weight(c, v)
			})
		}
	default:
		return nil
	}
	return d
}

// hybridAllowed marks the affine nodes whose result may carry copies of
// itself in other slots: every path from them reaches another affine map
// (which reads only its own columns) before anything reaches the output,
// so no copy reaches the output. Polynomials and squares keep the copies
// exact, within the intervals their polynomials were fitted on. A sum or a
// product with another value (a composite ReLU's x·p(x) and x/2) leaves
// bounded values there but no longer copies, on which a polynomial would
// run outside its interval, where it diverges: after one, only sums,
// products and affine maps may follow.
func hybridAllowed(g *ir.Graph) map[*ir.Node]bool {
	users := g.Users()
	type state struct {
		n     *ir.Node
		exact bool // the slots beyond n hold exact copies of its values
	}
	memo := map[state]bool{}
	var cleansBefore func(n *ir.Node, exact bool) bool
	cleansBefore = func(n *ir.Node, exact bool) bool {
		key := state{n, exact}
		if v, ok := memo[key]; ok {
			return v
		}
		ok := len(users[n]) > 0
		for _, u := range users[n] {
			switch {
			case u.Op == ir.OpAffine && !u.Linear.Identity:
			case u.Op == ir.OpPoly, u.Op == ir.OpMul && u.Inputs[0] == u.Inputs[1]:
				ok = ok && exact && cleansBefore(u, true)
			case u.Op == ir.OpMul, u.Op == ir.OpAdd:
				ok = ok && cleansBefore(u, false)
			default:
				ok = false
			}
		}
		memo[key] = ok
		return ok
	}
	out := map[*ir.Node]bool{}
	for _, n := range g.Nodes {
		if n.Op == ir.OpAffine && !n.Linear.Identity {
			out[n] = cleansBefore(n, true)
		}
	}
	return out
}

// Keys lists the rotations affine node n performs with this plan, in a ring
// of 2^logN: the transformation's at its input's level, the block sum's one
// level lower. A Galois element may appear more than once.
func (l *Linear) Keys(n *ir.Node, logN int) []RotationKey {
	var out []RotationKey
	for _, r := range append(slices.Clone(l.Split.Giant), l.Split.Baby...) {
		if r != 0 { // the identity needs no key
			out = append(out, RotationKey{GaloisElement(logN, r), n.Inputs[0].Level})
		}
	}
	for _, stage := range l.BlockSum {
		for _, r := range stage {
			out = append(out, RotationKey{GaloisElement(logN, r), n.Level})
		}
	}
	if l.Projection != nil {
		out = append(out, l.Projection.keys(logN, n.Inputs[0].Level)...)
	}
	return out
}
