package plan

import (
	"fmt"
	"math"
	"math/big"
	"slices"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
)

// The CKKS error of every node, predicted from the plan.
//
// Errors are tracked as a standard deviation σ of one slot's complex error,
// in the units of the values (the error polynomial's canonical embedding
// divided by the scale). A polynomial whose N coefficients are independent
// with variance v has slots of variance N·v, uncorrelated with each other.
// Fresh errors (a rescale's rounding, a key switch's) are such
// polynomials, added in quadrature; errors that went through an affine map
// are correlated, so a map multiplies σ by its largest row sum of |w|, the
// worst correlation. Lattigo's defaults fix the distributions: a uniform
// ternary secret with P(±1) = 2/3, errors of σ = 3.2.
//
// NoiseTail·σ bounds a slot's error: the errors are sums of many
// independent terms, nearly Gaussian, and a Gaussian exceeds 8σ with
// probability 2^-49.
const NoiseTail = 8

const (
	errorSigma   = 3.2     // Lattigo's DefaultNoise
	secretWeight = 2.0 / 3 // variance of a secret coefficient
)

// Noise is the predicted error of every node of a plan.
type Noise struct {
	// Sigma is each node's error σ, in the units of its values.
	Sigma map[*ir.Node]float64
	// Server is the part of the output's σ the server introduces: what
	// the output's σ would be for an input without error.
	Server float64
}

// Bound is the output's error bound, NoiseTail·σ.
func (n *Noise) Bound(g *ir.Graph) float64 { return NoiseTail * n.Sigma[g.Outputs()[0]] }

// FreshSigma is σ of a fresh encryption at scale 2^logScale: with a public
// key (u·e + e0 + e1·s, u ternary as s) or a secret key (e), each plus
// the encoding's rounding.
func FreshSigma(set params.Set, publicKey bool) float64 {
	n := float64(int(1) << set.LogN)
	v := errorSigma*errorSigma + 1.0/12
	if publicKey {
		v += 2 * n * secretWeight * errorSigma * errorSigma
	}
	return math.Sqrt(n*v) / math.Exp2(float64(set.LogScale))
}

// Noise predicts the error of every node of the plan for an input whose
// error is inputSigma (FreshSigma), on nominal primes of the set's bit
// sizes. Value ranges (ir.Node.Range) bound the products' and the
// polynomials' amplification: a circuit compiled without ranges has none,
// and its products' errors are taken for values of magnitude 1. Only the
// packed layout's bound is checked against encrypted runs.
func (p *Plan) Noise(inputSigma float64) (*Noise, error) {
	set := p.Spec.Params
	q := make([]uint64, len(set.LogQ))
	for i, b := range set.LogQ {
		q[i] = uint64(1) << b
	}
	scales, err := Scales(p.Graph, q, new(big.Float).SetMantExp(big.NewFloat(1), set.LogScale))
	if err != nil {
		return nil, err
	}
	m := noiseModel{set: set, n: float64(int(1) << set.LogN), scale: func(x *ir.Node) float64 {
		f, _ := scales.Out[x].Float64()
		return f
	}}
	sigma, err := m.propagate(p, scales, inputSigma)
	if err != nil {
		return nil, err
	}
	server, err := m.propagate(p, scales, 0)
	if err != nil {
		return nil, err
	}
	return &Noise{Sigma: sigma, Server: server[p.Graph.Outputs()[0]]}, nil
}

type noiseModel struct {
	set   params.Set
	n     float64 // ring degree
	scale func(*ir.Node) float64
}

// rounding is σ of a rounding by a division (a rescale, the end of a key
// switch) at scale delta: r0 + r1·s with r0, r1 uniform in [-½, ½].
func (m noiseModel) rounding(delta float64) float64 {
	return math.Sqrt(m.n*(1+m.n*secretWeight)/12) / delta
}

// keySwitch is σ of one key switch at scale delta: its product (digits)
// and the rounding of its division by P.
func (m noiseModel) keySwitch(delta float64) float64 {
	return math.Hypot(m.digits(delta), m.rounding(delta))
}

// digits is σ of a key switch's product at scale delta: each of the dnum
// digits d_i (uniform below Q_i, the product of α ciphertext primes) times
// a key error e_i, divided by P. A hoisted rotation keeps its product over
// Q·P until the diagonals have multiplied it, so its rounding falls at the
// product's scale: only this part is carried by the weights.
func (m noiseModel) digits(delta float64) float64 {
	alpha := len(m.set.LogP)
	logP := 0
	for _, b := range m.set.LogP {
		logP += b
	}
	var v float64
	for i := 0; i < len(m.set.LogQ); i += alpha {
		logQi := 0
		for _, b := range m.set.LogQ[i:min(i+alpha, len(m.set.LogQ))] {
			logQi += b
		}
		// Primes sit within a factor 2 of their nominal size.
		v += math.Exp2(2 * float64(logQi-logP+1))
	}
	return math.Sqrt(m.n*m.n*errorSigma*errorSigma*v/12) / delta
}

// magnitude is the largest value of x its range allows, at least 1.
func magnitude(x *ir.Node) float64 { return max(1, x.Range.MaxAbs()) }

// sigma is a node's error in parts that affine maps carry differently:
// ind, independent from slot to slot (fresh errors, and what element-wise
// operations make of them), which a map carries by the Euclidean norm of
// a row; and an independent error e of σ carried by maps A (and
// element-wise slopes), whose slot σ·‖A_i‖ is at most slot and whose gain
// σ·‖A‖₂ is at most gain: a map V gives slots of at most ‖V_i‖·gain and a
// gain of at most ‖V‖₂·gain.
type sigma struct{ ind, slot, gain float64 }

func (s sigma) total() float64 { return s.ind + s.slot }
func (s sigma) times(k float64) sigma {
	return sigma{k * s.ind, k * s.slot, k * s.gain}
}
func (s sigma) plus(o sigma) sigma {
	return sigma{s.ind + o.ind, s.slot + o.slot, s.gain + o.gain}
}
func (s sigma) fresh(terms ...float64) sigma {
	v := s.ind * s.ind
	for _, t := range terms {
		v += t * t
	}
	s.ind = math.Sqrt(v)
	return s
}

func (m noiseModel) propagate(p *Plan, scales *ScalePlan, inputSigma float64) (map[*ir.Node]float64, error) {
	errs := map[*ir.Node]sigma{}
	out := map[*ir.Node]float64{}
	for _, n := range p.Graph.Nodes {
		var s sigma
		switch n.Op {
		case ir.OpInput:
			s = sigma{ind: inputSigma}
		case ir.OpAffine:
			s = m.affine(p.Linear[n], scales, n, errs[n.Inputs[0]])
		case ir.OpPoly:
			s = m.poly(n, errs[n.Inputs[0]])
		case ir.OpMul:
			a, b := n.Inputs[0], n.Inputs[1]
			s = errs[b].times(magnitude(a)).plus(errs[a].times(magnitude(b))).fresh(m.keySwitch(m.scale(a)*m.scale(b)), m.rounding(m.scale(n)))
		case ir.OpAdd:
			s = errs[n.Inputs[0]].plus(errs[n.Inputs[1]])
		case ir.OpOutput:
			s = errs[n.Inputs[0]]
		default:
			return nil, fmt.Errorf("node %s: op %s cannot be evaluated under encryption", n.Label(), n.Op)
		}
		errs[n], out[n] = s, s.total()
	}
	return out, nil
}

// affine is the error after an affine map: the input's error and the baby
// steps' key switches (the rotated copies of the input the diagonals
// multiply) through the weights, the rounding of the diagonals, the giant
// steps' and the projection's key switches at the product's scale, the
// rescale, and the block sum of a hybrid map, which adds up rotated copies
// of the rescaled result.
func (m noiseModel) affine(pl *Linear, scales *ScalePlan, n *ir.Node, in sigma) sigma {
	if n.Linear.Identity {
		return in
	}
	x := n.Inputs[0]
	rowL2, spectral := norms(n.Linear)
	ptScale, _ := scales.Plaintext[n].Float64()
	inScale := m.scale(x)
	babies, giants, diagonals := 0, 0, 0
	if pl != nil {
		babies, giants, diagonals = len(pl.Split.Baby), len(pl.Split.Giant), len(pl.Diagonals)
		if pj := pl.Projection; pj != nil {
			giants++ // the conjugation
			for _, st := range pj.Trace {
				giants += len(st)
			}
		}
	}
	rotated := min(1, float64(babies)) * m.digits(inScale)
	ind := math.Hypot(in.ind, rotated)
	through := sigma{slot: rowL2 * (ind + in.gain), gain: spectral * (ind + in.gain)}
	// A diagonal's rounding ε multiplies the slots: ε_i·x_i/Δ_pt, with
	// slots ε_i of variance N/12, independent from diagonal to diagonal.
	rounded := math.Sqrt(float64(diagonals)*m.n/12) * magnitude(x) / ptScale
	giant := math.Sqrt(float64(giants)) * m.keySwitch(inScale*ptScale)
	if pl == nil || pl.Form != Hybrid {
		return through.fresh(rounded, giant, m.rounding(m.scale(n)))
	}
	// The weights of a row are spread over the copies, so the error they
	// carry is counted once; the copies' roundings sit in different slots
	// and add in quadrature, and so do the block sum's key switches.
	copies, rotations := 1, 0
	for _, st := range pl.BlockSum {
		copies *= len(st) + 1
		rotations += len(st)
	}
	c := math.Sqrt(float64(copies))
	return through.fresh(rounded, c*giant, c*m.rounding(m.scale(n)), math.Sqrt(float64(rotations))*m.keySwitch(m.scale(n)))
}

// poly is the error after a polynomial: for x², 2|x| times the input's
// plus the relinearization and the rescale; otherwise the mapping of a
// Chebyshev interval onto [-1, 1] (a constant product and a rescale), the
// input's error through the largest slope on the input's range, and the
// evaluation's own roundings: computing T_k (or x^k) by products rounds at
// every level, each rounding carried by the later products, which a
// rounding of k times the rescale's bounds per power, weighted by |c_k|.
func (m noiseModel) poly(n *ir.Node, in sigma) sigma {
	x, p := n.Inputs[0], n.Poly
	out := m.scale(n)
	if p.IsSquare() {
		return in.times(2*magnitude(x)).fresh(m.keySwitch(m.scale(x)*m.scale(x)), m.rounding(out))
	}
	lo, hi := x.Range.Lo, x.Range.Hi
	if lo == 0 && hi == 0 {
		lo, hi = -1, 1
	}
	unit := 1.0 // magnitude of the argument the powers are computed on
	if p.Basis == ir.Chebyshev {
		lo, hi = max(lo, p.Interval.Lo), min(hi, p.Interval.Hi)
		if p.Interval != (ir.Interval{Lo: -1, Hi: 1}) {
			// The mapped argument, at the default scale, rounds once more
			// in the units of x.
			in = in.fresh(m.rounding(math.Exp2(float64(m.set.LogScale))) * p.Interval.Width() / 2)
		}
	} else {
		unit = magnitude(x)
	}
	var own float64
	for k, c := range p.Coeffs {
		own += math.Abs(c) * float64(k) * math.Pow(unit, float64(max(k-1, 0)))
	}
	own = (own + 1) * float64(p.Depth()) * math.Hypot(m.rounding(out), m.keySwitch(out*out))
	return in.times(maxSlope(p, lo, hi)).fresh(own)
}

// maxSlope is the largest |p'| on [lo, hi], from its values on a fine grid
// widened by the grid step (p' varies little between points).
func maxSlope(p *ir.Polynomial, lo, hi float64) float64 {
	const points = 1024
	if hi <= lo {
		lo, hi = hi-1e-9, lo+1e-9
	}
	h := (hi - lo) / points
	var worst float64
	for i := range points {
		a := lo + float64(i)*h
		worst = max(worst, math.Abs(p.Eval(a+h)-p.Eval(a))/h)
	}
	return worst * 1.1
}

// norms is the largest Euclidean norm of a row and a bound on the
// spectral norm, √(largest row sum × largest column sum) of |w|.
func norms(l *ir.Linear) (l2, spectral float64) {
	cols := make([]float64, l.Cols)
	var rows float64
	for r := range l.Rows {
		var s, s2 float64
		for k := l.RowPtr[r]; k < l.RowPtr[r+1]; k++ {
			s += math.Abs(l.Vals[k])
			s2 += l.Vals[k] * l.Vals[k]
			cols[l.ColIdx[k]] += math.Abs(l.Vals[k])
		}
		rows, l2 = max(rows, s), max(l2, math.Sqrt(s2))
	}
	return l2, math.Sqrt(rows * slices.Max(append(cols, 0)))
}

// OutputStep is the power of two decryption rounds an output to when its
// error is within bound: at least twice the bound, so that a value within
// the bound of a multiple of the step rounds to that multiple whatever
// the error.
func OutputStep(bound float64) float64 {
	return math.Exp2(math.Ceil(math.Log2(2 * bound)))
}

// setOutputStep records in the spec the output precision the plan
// guarantees an honest input encrypted under the public key (the larger
// error of the two keys).
func (p *Plan) setOutputStep() error {
	n, err := p.Noise(FreshSigma(p.Spec.Params, true))
	if err != nil {
		return fmt.Errorf("cannot bound the output's error: %w", err)
	}
	// A bound past float64's powers of two guarantees nothing: the
	// largest step says so, and the compiler does not round to it.
	step := OutputStep(n.Bound(p.Graph))
	switch {
	case !(step <= 0x1p1023):
		step = 0x1p1023
	case step < 0x1p-1022:
		step = 0x1p-1022
	}
	p.Spec.OutputStep = step
	return nil
}
