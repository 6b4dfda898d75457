package plan

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"slices"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
)

// The batch layout is for throughput: slot i of every ciphertext holds
// input i, so each tensor element is one ciphertext and a ciphertext
// operation acts on a whole batch at once. An affine map is then, for every
// output r, Σ_c W[r][c]·in[c] + b[r] over the ciphertexts in[c]: products
// by scalars, no rotation and no Galois key. Only products of ciphertexts
// need a key, the relinearization key.

// BuildBatch plans g, which has been through passes.BatchPipeline (no slot
// layout), as a batch circuit of batch inputs under set; batch 0 takes every
// slot of the ring.
func BuildBatch(model string, g *ir.Graph, set params.Set, batch int) (*Plan, error) {
	ins, outs := g.Inputs(), g.Outputs()
	if len(ins) != 1 || len(outs) != 1 {
		return nil, fmt.Errorf("the runtime evaluates circuits with one input and one output; this one has %d and %d", len(ins), len(outs))
	}
	if g.Depth != set.MaxLevel() {
		return nil, fmt.Errorf("circuit depth %d does not match the %d levels of %s", g.Depth, set.MaxLevel(), set)
	}
	if g.LogSlots != 0 || ins[0].Gather != nil {
		return nil, fmt.Errorf("a batch circuit has no slot layout; this graph was laid out in 2^%d slots", g.LogSlots)
	}
	if err := set.Validate(); err != nil {
		return nil, err
	}
	if set.LogOutputScale != 0 && outputMap(g) == nil {
		return nil, fmt.Errorf("%s: the output is not computed by an affine map of its own, which could land on output scale 2^%d", set, set.LogOutputScale)
	}
	if batch == 0 {
		batch = 1 << set.LogSlots()
	}
	s := &Spec{
		Model:     model,
		Params:    set,
		LogSlots:  set.LogSlots(),
		Input:     TensorInfo{Name: ins[0].Name, Shape: ins[0].InputShape(), Level: ins[0].Level},
		Output:    TensorInfo{Name: outs[0].Name, Shape: outs[0].Shape, Level: outs[0].Level, Post: outs[0].Post},
		Ops:       g.Counts(),
		Rotations: []RotationKey{},
		Layout:    LayoutBatch,
		Batch:     batch,
	}
	planned := map[*ir.Node]*Linear{}
	for _, n := range g.Nodes {
		if err := recordProducts(s, n); err != nil {
			return nil, err
		}
		switch n.Op {
		case ir.OpAffine:
			if !n.Linear.Identity {
				planned[n] = &Linear{Form: Scalars, Products: n.Linear.NNZ()}
			}
		}
	}
	return validPlan(&Plan{Spec: s, Linear: planned, Unrelinearized: lazyProducts(g), Graph: g})
}

// BatchMaxLogScale is the largest scale of a batch circuit: primes up to
// 30 bits keep the accumulation kernels' lazy path (a uint64 holds a dozen
// products below q² between folds), on every limb but the first, and
// BatchLogOutputScale keeps the first there too.
const BatchMaxLogScale = 30

// batchSplitPrimeBits is the largest prime, in nominal bits, for which
// the runtime's kernels split each weight in two products that a uint64
// sums lazily (runtime's splitTerms: up to 40 bits, and Lattigo's primes
// alternate around 2^b, some a bit above). Larger primes take 128-bit
// products, several times slower.
const batchSplitPrimeBits = 39

// ScaleRange is a range of scales, bounds included.
type ScaleRange struct{ Min, Max int }

// BatchFloodScales are the scales of a batch circuit whose output lands on
// its scale (a flooded one's), for outputs below 2^logMaxValue, whose
// primes keep batchSplitPrimeBits: on one prime per level every level's
// but the base's (the scale, the values and a sign: one limb of every
// map on the 128-bit path), then on two primes per level every prime.
// The compiler looks there first for a flood's precision; the scales
// between take primes above it on every limb.
func BatchFloodScales(logMaxValue int) []ScaleRange {
	return []ScaleRange{
		{10, batchSplitPrimeBits},
		{params.MaxPrimeLogScale + 1, 2*batchSplitPrimeBits - logMaxValue - 1},
	}
}

// BatchLogOutputScale is the output scale a batch circuit asks its
// parameters for (params.Requirements.LogOutputScale), for outputs below
// 2^logMaxValue: low enough for the first prime to have BatchMaxLogScale
// bits, so that its limb takes the kernels' lazy path rather than two
// products per term, and at least minLogScale, the precision the circuit
// needs, which also keeps the first prime above the headroom of the values
// at higher levels (see compiler's logMaxValue). 0 if the output is not
// computed by an affine map that could land on it (outputMap).
func BatchLogOutputScale(g *ir.Graph, logMaxValue, minLogScale int) int {
	if outputMap(g) == nil {
		return 0
	}
	return max(minLogScale, BatchMaxLogScale-logMaxValue-1)
}

// outputMap is the affine map (not the identity) computing g's only
// output and read by nothing else, whose plaintext scale can make it land
// on any scale; nil if there is none.
func outputMap(g *ir.Graph) *ir.Node {
	outs := g.Outputs()
	if len(outs) != 1 {
		return nil
	}
	a := outs[0].Inputs[0]
	if a.Op != ir.OpAffine || a.Linear.Identity || len(g.Users()[a]) != 1 {
		return nil
	}
	return a
}

// SetScales plans the scales of g on the primes q of set (Scales), fresh
// values at the set's scale, and the output at its LogOutputScale when it
// has one: the affine map computing the output (outputMap) lands on it by
// its plaintext scale.
func SetScales(g *ir.Graph, set params.Set, q []uint64) (*ScalePlan, error) {
	sp, err := Scales(g, q, set.PrimesPerLevel(), new(big.Float).SetMantExp(big.NewFloat(1), set.LogScale))
	if err != nil || set.LogOutputScale == 0 {
		return sp, err
	}
	a := outputMap(g)
	if a == nil {
		return nil, fmt.Errorf("the output is not computed by an affine map of its own, which could land on output scale 2^%d", set.LogOutputScale)
	}
	in := a.Inputs[0]
	s := new(big.Float).SetPrec(scalePrec).SetMantExp(big.NewFloat(1), set.LogOutputScale)
	prime := new(big.Float).SetPrec(scalePrec).SetInt(new(big.Int).SetUint64(q[in.Level]))
	sp.Plaintext[a] = new(big.Float).Quo(new(big.Float).Mul(s, prime), sp.Out[in])
	sp.Out[a], sp.Out[g.Outputs()[0]] = s, s
	return sp, nil
}

// lazyProducts lists the products of g (of two ciphertexts, or squares)
// whose readers are all affine maps other than the identity: relinearizing
// such a map's outputs instead of the product's (CryptoNets' fc1: 100
// relinearizations instead of 845) is exact, since an affine map of
// degree-2 ciphertexts is a degree-2 ciphertext, and the sum costs one
// polynomial more per term.
func lazyProducts(g *ir.Graph) map[*ir.Node]bool {
	users := g.Users()
	lazy := map[*ir.Node]bool{}
	for _, n := range g.Nodes {
		product := n.Op == ir.OpMul || n.Op == ir.OpPoly && n.Poly.IsSquare()
		notAffine := func(u *ir.Node) bool { return u.Op != ir.OpAffine || u.Linear.Identity }
		if product && len(users[n]) > 0 && !slices.ContainsFunc(users[n], notAffine) {
			lazy[n] = true
		}
	}
	return lazy
}

// BatchWorkload counts what evaluating g as a batch circuit does at each
// level, one ciphertext per tensor element: an affine map's ciphertext ×
// scalar multiply-adds and a rescale per output, and every product,
// relinearization and rescale of a polynomial or a square once per
// element. A product left unrelinearized (lazyProducts) is neither
// relinearized nor rescaled: its readers sum three polynomials per term at
// the product's input level, then relinearize and rescale each output
// there before the usual rescale. The only key is the relinearization key.
func BatchWorkload(g *ir.Graph) params.Workload {
	n := g.Depth + 1
	w := params.Workload{KeySwitches: make([]float64, n), BabySteps: make([]float64, n), PtMuls: make([]float64, n),
		DiagMuls: make([]float64, n), CtMuls: make([]float64, n), Rescales: make([]float64, n), Keys: make([]float64, n),
		ScalarMuls: make([]float64, n)}
	lazy := lazyProducts(g)
	// A degree-2 ciphertext has three polynomials, a degree-1 two.
	const degree2 = 1.5
	product := func(node *ir.Node, l int, size float64) {
		w.CtMuls[l] += size
		if !lazy[node] {
			w.KeySwitches[l] += size
			w.Rescales[l] += size
		}
	}
	relin := -1
	for _, node := range g.Nodes {
		size := float64(node.Size())
		switch node.Op {
		case ir.OpAffine:
			if node.Linear.Identity {
				continue
			}
			in := node.Inputs[0].Level
			if lazy[node.Inputs[0]] {
				w.ScalarMuls[in+1] += degree2 * float64(node.Linear.NNZ())
				w.KeySwitches[in+1] += size
				w.Rescales[in+1] += size
			} else {
				w.ScalarMuls[in] += float64(node.Linear.NNZ())
			}
			w.Rescales[in] += size
		case ir.OpMul:
			l := min(node.Inputs[0].Level, node.Inputs[1].Level)
			relin = max(relin, node.Inputs[0].Level, node.Inputs[1].Level)
			product(node, l, size)
		case ir.OpPoly:
			d := node.Poly.Degree()
			if d < 2 {
				continue
			}
			l := node.Inputs[0].Level
			relin = max(relin, l)
			if node.Poly.IsSquare() {
				product(node, l, size)
				continue
			}
			products := math.Ceil(2*math.Sqrt(float64(d))) + float64(bits.Len(uint(d)))
			w.CtMuls[l] += size * products
			w.KeySwitches[l] += size * products
			w.Rescales[l] += size * float64(node.Poly.Depth())
			w.PtMuls[l] += size * float64(d+1)
		}
	}
	if relin >= 0 {
		w.Keys[relin]++
	}
	return w
}
