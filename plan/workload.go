package plan

import (
	"math"
	"math/bits"
	"slices"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
)

// Workload counts what evaluating g will do at each level — the giant and
// baby steps of each linear transformation as planned, its diagonal
// multiplications, the products and relinearizations of squares and
// polynomials, the rescales — for params' cost model. It needs the layout
// and the levels (the passes), not the parameters. It also counts the
// evaluation keys at the level Build gives them, for params' memory
// estimate.
func Workload(g *ir.Graph) params.Workload {
	n := g.Depth + 1
	w := params.Workload{KeySwitches: make([]float64, n), BabySteps: make([]float64, n), PtMuls: make([]float64, n),
		DiagMuls: make([]float64, n), CtMuls: make([]float64, n), Rescales: make([]float64, n), Keys: make([]float64, n)}
	planned := linears(g)
	keyLevel := map[int]int{} // rotation → highest level it is used at
	relin := -1
	useKey := func(r, level int) {
		if r != 0 {
			keyLevel[r] = max(keyLevel[r], level)
		}
	}
	for _, node := range g.Nodes {
		switch node.Op {
		case ir.OpAffine:
			if node.Linear.Identity {
				continue
			}
			pl := planned[node]
			in := node.Inputs[0].Level
			for _, r := range append(slices.Clone(pl.Split.Giant), pl.Split.Baby...) {
				useKey(r, in)
			}
			for _, stage := range pl.BlockSum {
				for _, r := range stage {
					useKey(r, node.Level)
				}
			}
			if pl.Form == Parts {
				w.PtMuls[in] += float64(pl.Parts)
				w.Rescales[in]++
				continue
			}
			w.KeySwitches[in] += float64(pl.Split.Giants())
			w.BabySteps[in] += float64(pl.Split.Babies())
			w.DiagMuls[in] += float64(len(pl.Diagonals))
			w.Rescales[in]++
			// A block-sum stage's decomposition and ModDown cost about
			// what a key switch's do beyond a baby step's.
			for _, stage := range pl.BlockSum {
				w.KeySwitches[node.Level] += 1 - babyWeight
				w.BabySteps[node.Level] += float64(len(stage))
			}
		case ir.OpMul:
			l := min(node.Inputs[0].Level, node.Inputs[1].Level)
			relin = max(relin, node.Inputs[0].Level, node.Inputs[1].Level)
			w.CtMuls[l]++
			w.KeySwitches[l]++
			w.Rescales[l]++
		case ir.OpPoly:
			d := node.Poly.Degree()
			if d < 2 {
				continue
			}
			// Baby-step giant-step evaluation: about 2√d + log2 d products,
			// spread over the polynomial's levels; counted at its input's.
			products := math.Ceil(2*math.Sqrt(float64(d))) + float64(bits.Len(uint(d)))
			l := node.Inputs[0].Level
			relin = max(relin, l)
			w.CtMuls[l] += products
			w.KeySwitches[l] += products
			w.Rescales[l] += float64(node.Poly.Depth())
			w.PtMuls[l] += float64(d + 1)
		}
	}
	for _, l := range keyLevel {
		w.Keys[l]++
	}
	if relin >= 0 {
		w.Keys[relin]++
	}
	return w
}
