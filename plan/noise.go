package plan

import (
	"fmt"
	"math"
	"slices"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
)

// The CKKS error of every node, predicted from the plan.
//
// The prediction is a variance propagation under the independence
// heuristic of the CKKS literature (Costache, Curtis, Hales, Murphy,
// Ogilvie and Player, "On the precision loss in approximate homomorphic
// encryption", ia.cr/2022/162): the coefficients of every rounding (a
// rescale's, a key switch's, an encoding's) are independent, so that
// their slots are uncorrelated and independent roundings add in variance;
// an affine map carries each value's error by the Euclidean norm of its
// own row, as if its inputs' errors were independent; a polynomial or a
// product carries it by the root mean square of its slope on the input's
// range (values uniform on the calibrated range, which overestimates data
// that concentrate inside it); two branches' errors, which may be
// correlated, add in magnitude, except in a product or sum of polynomials
// of one node (a composite activation), which carries that node's error
// and its own roundings by their exact slopes, in mean square over the
// node's range (noise_elementwise.go). It bounds the error of an honest input
// with high probability, not for every input: it holds where the
// heuristic does, as measured against encrypted runs. Lattigo's defaults
// fix the distributions: a uniform ternary secret with P(±1) = 2/3,
// errors of σ = 3.2.
//
// NoiseTail·σ bounds a decrypted value's error: its error is a sum of many
// independent terms, nearly Gaussian, and a real Gaussian exceeds 8σ with
// probability 2^-49.5: below 2^-40 for the union of up to 2^9 outputs.
const NoiseTail = 8

const (
	errorSigma   = 3.2     // Lattigo's DefaultNoise
	secretWeight = 2.0 / 3 // variance of a secret coefficient
)

// Noise is the predicted error of every node of a plan.
type Noise struct {
	// Sigma is each node's error σ, the largest of its values' slots, in
	// the units of its values.
	Sigma map[*ir.Node]float64
	// Server is the part of the output's σ the server introduces: what
	// the output's σ would be for an input without error.
	Server float64
	// Output is σ of a decrypted output value: the real part of the mean
	// of its slot's copies, which averages their independent errors.
	Output float64
}

// Bound is the output's error bound, NoiseTail times the σ of a
// decrypted value.
func (n *Noise) Bound(*ir.Graph) float64 { return NoiseTail * n.Output }

// FreshSigma is σ of a fresh encryption at scale 2^logScale, plus the
// encoding's rounding: with a secret key, its error e; with a public key,
// Lattigo encrypts over QP with the first special prime P₀ and divides by
// it, so that the error is (u·e + e0 + e1·s)/P₀ (u ternary as s) plus the
// division's rounding r0 + r1·s.
func FreshSigma(set params.Set, publicKey bool) float64 {
	n := float64(int(1) << set.LogN)
	v := errorSigma*errorSigma + 1.0/12
	if publicKey {
		pk := (2*n*secretWeight + 1) * errorSigma * errorSigma
		if len(set.LogP) > 0 {
			// Primes sit within a factor 2 of their nominal size.
			p0 := math.Exp2(float64(set.LogP[0] - 1))
			v = pk/(p0*p0) + (1+n*secretWeight)/12 + 1.0/12
		} else {
			v += pk
		}
	}
	return math.Sqrt(n*v) / math.Exp2(float64(set.LogScale))
}

// Noise predicts the error of every node of the plan for an input whose
// error is inputSigma (FreshSigma), on nominal primes of the set's bit
// sizes. Value ranges (ir.Node.Range) give the products' and the
// polynomials' amplification: a circuit compiled without ranges has none,
// and its products' errors are taken for values of magnitude 1. Only the
// packed layout's bound is checked against encrypted runs.
func (p *Plan) Noise(inputSigma float64) (*Noise, error) {
	set := p.Spec.Params
	scales, err := nominalScales(p.Graph, set)
	if err != nil {
		return nil, err
	}
	m := noiseModel{set: set, logSlots: p.Spec.LogSlots, n: float64(int(1) << set.LogN), scale: func(x *ir.Node) float64 {
		f, _ := scales.Out[x].Float64()
		return f
	}}
	errs, err := m.propagate(p, scales, inputSigma)
	if err != nil {
		return nil, err
	}
	server, err := m.propagate(p, scales, 0)
	if err != nil {
		return nil, err
	}
	out := p.Graph.Outputs()[0]
	// Decryption averages the copies of a packed result's slots; a batch
	// result is read from one.
	copies := 1.0
	if !p.Spec.Batched() {
		copies = math.Exp2(float64(set.LogSlots() - p.Spec.LogSlots))
	}
	nz := &Noise{Sigma: map[*ir.Node]float64{}, Server: server[out].sigma(), Output: errs[out].decrypted(copies)}
	for n, v := range errs {
		nz.Sigma[n] = v.sigma()
	}
	return nz, nil
}

type noiseModel struct {
	set      params.Set
	logSlots int     // the circuit's slots
	n        float64 // ring degree
	scale    func(*ir.Node) float64
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

// rms is the root mean square of x's values taken uniform on its range
// (1 without one): values concentrate well inside a calibrated range, so
// it overestimates their mean square.
func rms(x *ir.Node) float64 {
	lo, hi := x.Range.Lo, x.Range.Hi
	if lo == 0 && hi == 0 {
		return 1
	}
	return math.Sqrt((lo*lo + lo*hi + hi*hi) / 3)
}

// variances are a node's error: per value, the variance of the real part
// of its slot's error, in two parts: ind, independent from one copy of
// the slots to the next (every rounding the server makes), and com, the
// same in every copy (the input's error after the projection's trace,
// which averages the copies). Errors of different values are taken
// independent.
type variances struct{ ind, com []float64 }

func newVariances(n int) variances {
	return variances{make([]float64, n), make([]float64, n)}
}

// scaled is v with every variance times k².
func (v variances) scaled(k float64) variances {
	out := newVariances(len(v.ind))
	for i := range v.ind {
		out.ind[i], out.com[i] = k*k*v.ind[i], k*k*v.com[i]
	}
	return out
}

// fresh adds independent roundings of slot σ (complex) to every value.
func (v variances) fresh(terms ...float64) variances {
	var add float64
	for _, t := range terms {
		add += t * t / 2 // the real part's share
	}
	for i := range v.ind {
		v.ind[i] += add
	}
	return v
}

// correlated is ka·a + kb·b for errors that may be correlated (two
// branches of one input): their standard deviations add.
func correlated(a, b variances, ka, kb float64) variances {
	out := newVariances(len(a.ind))
	add := func(x, y float64) float64 { return math.Pow(ka*math.Sqrt(x)+kb*math.Sqrt(y), 2) }
	for i := range out.ind {
		out.ind[i], out.com[i] = add(a.ind[i], b.ind[i]), add(a.com[i], b.com[i])
	}
	return out
}

// sigma is the largest complex slot σ of the values.
func (v variances) sigma() float64 {
	var worst float64
	for i := range v.ind {
		worst = max(worst, v.ind[i]+v.com[i])
	}
	return math.Sqrt(2 * worst)
}

// decrypted is the largest σ of a decrypted value, the mean of the real
// parts of its copies' slots.
func (v variances) decrypted(copies float64) float64 {
	var worst float64
	for i := range v.ind {
		worst = max(worst, v.ind[i]/copies+v.com[i])
	}
	return math.Sqrt(worst)
}

// values is how many values x has in the slots.
func values(x *ir.Node) int {
	if x.Op == ir.OpInput && x.Gather != nil {
		return len(x.Gather.Slots)
	}
	return x.Size()
}

func (m noiseModel) propagate(p *Plan, scales *ScalePlan, inputSigma float64) (map[*ir.Node]variances, error) {
	errs := map[*ir.Node]variances{}
	memo := map[*ir.Node]*elementwise{}
	for _, n := range p.Graph.Nodes {
		var v variances
		switch n.Op {
		case ir.OpInput:
			v = newVariances(values(n)).fresh(inputSigma)
		case ir.OpAffine:
			v = m.affine(p.Linear[n], scales, n, errs[n.Inputs[0]])
		case ir.OpPoly:
			v = m.poly(n, errs[n.Inputs[0]])
		case ir.OpMul:
			if e := m.elementwiseOf(p, scales, n, memo); e != nil && e.polys > 0 && values(e.root) == values(n) {
				if w, ok := e.variances(errs[e.root]); ok {
					v = w
					break
				}
			}
			a, b := n.Inputs[0], n.Inputs[1]
			v = correlated(errs[a], errs[b], rms(b), rms(a)).fresh(m.keySwitch(m.scale(a)*m.scale(b)), m.rounding(m.scale(n)))
		case ir.OpAdd:
			if e := m.elementwiseOf(p, scales, n, memo); e != nil && e.polys > 0 && values(e.root) == values(n) {
				if w, ok := e.variances(errs[e.root]); ok {
					v = w
					break
				}
			}
			v = correlated(errs[n.Inputs[0]], errs[n.Inputs[1]], 1, 1)
		case ir.OpOutput:
			v = errs[n.Inputs[0]]
		default:
			return nil, fmt.Errorf("node %s: op %s cannot be evaluated under encryption", n.Label(), n.Op)
		}
		errs[n] = v
	}
	return errs, nil
}

// affine is the error after an affine map: the input's error and the baby
// steps' key switches (the rotated copies of the input the diagonals
// multiply) through each row's weights, the rounding of the diagonals and
// the giant steps' key switches at the product's scale, the projection's
// trace, which averages the copies of all of these, its own key switches,
// the rescale, and the block sum of a hybrid map, which adds up rotated
// copies of the rescaled result.
func (m noiseModel) affine(pl *Linear, scales *ScalePlan, n *ir.Node, in variances) variances {
	l := n.Linear
	if l.Identity {
		return in
	}
	x := n.Inputs[0]
	ptScale, _ := scales.Plaintext[n].Float64()
	inScale := m.scale(x)
	babies, giants, diagonals, projections := 0, 0, 0, 0
	var pj *Projection
	if pl != nil {
		babies, giants, diagonals = len(pl.Split.Baby), len(pl.Split.Giant), len(pl.Diagonals)
		if pj = pl.Projection; pj != nil {
			projections++ // the conjugation
			for _, st := range pj.Trace {
				projections += len(st)
			}
		}
	}
	rotated := min(1, float64(babies)) * m.digits(inScale)
	in = variances{slices.Clone(in.ind), in.com}.fresh(rotated)
	out := newVariances(l.Rows)
	for r := range l.Rows {
		for k := l.RowPtr[r]; k < l.RowPtr[r+1]; k++ {
			w2 := l.Vals[k] * l.Vals[k]
			out.ind[r] += w2 * in.ind[l.ColIdx[k]]
			out.com[r] += w2 * in.com[l.ColIdx[k]]
		}
	}
	// A diagonal's rounding ε multiplies the slots: ε_i·x_i/Δ_pt. A
	// diagonal repeats as the slots do, and so does its rounding: the
	// encoding rounds 2·2^LogSlots coefficients, whose slots' real parts
	// have variance 2^LogSlots/12, independent from diagonal to diagonal.
	// The projection's trace adds up its 2·copies images coherently, which
	// its weights' factor compensates for the values, not for ε.
	amplified := 1.0
	if pj != nil {
		amplified = 1 / pj.Factor
	}
	rounded := amplified * rms(x) / ptScale
	rounded *= rounded * float64(diagonals) * math.Exp2(float64(m.logSlots)) / 12
	for i := range out.com {
		out.com[i] += rounded
	}
	giant := math.Sqrt(float64(giants)) * m.keySwitch(inScale*ptScale)
	if pj != nil {
		// The trace's mean over the copies, the same in each.
		copies := 0.5 / pj.Factor
		out = out.fresh(giant)
		for i := range out.ind {
			out.ind[i], out.com[i] = 0, out.com[i]+out.ind[i]/copies
		}
		giant = 0
	}
	projected := math.Sqrt(float64(projections)) * m.keySwitch(inScale*ptScale)
	if pj != nil {
		// What the trace leaves is the same in every copy of the slots,
		// and so are the roundings of what follows it, as measured.
		out = out.fresh(projected, m.rounding(m.scale(n)))
		for i := range out.ind {
			out.ind[i], out.com[i] = 0, out.com[i]+out.ind[i]
		}
		return out
	}
	if pl == nil || pl.Form != Hybrid {
		return out.fresh(giant, m.rounding(m.scale(n)))
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
	return out.fresh(c*giant, c*m.rounding(m.scale(n)), math.Sqrt(float64(rotations))*m.keySwitch(m.scale(n)))
}

// poly is the error after a polynomial: for x², 2x times the input's
// plus the relinearization and the rescale; otherwise the mapping of a
// Chebyshev interval onto [-1, 1] (a constant product and a rescale), the
// input's error through the polynomial's RMS slope on the input's range,
// and the evaluation's own roundings (polyOwn).
func (m noiseModel) poly(n *ir.Node, in variances) variances {
	x, p := n.Inputs[0], n.Poly
	mapped, own := m.polyOwn(n)
	if p.IsSquare() {
		return in.scaled(2 * rms(x)).fresh(own)
	}
	if mapped > 0 {
		in = variances{slices.Clone(in.ind), in.com}.fresh(mapped)
	}
	lo, hi := polyRange(n)
	return in.scaled(rmsSlope(p, lo, hi)).fresh(own)
}

// polyRange is the part of its input's range polynomial node n is
// evaluated on: within a Chebyshev series's interval, [-1, 1] without a
// range.
func polyRange(n *ir.Node) (lo, hi float64) {
	x, p := n.Inputs[0], n.Poly
	lo, hi = x.Range.Lo, x.Range.Hi
	if lo == 0 && hi == 0 {
		lo, hi = -1, 1
	}
	if p.Basis == ir.Chebyshev {
		lo, hi = max(lo, p.Interval.Lo), min(hi, p.Interval.Hi)
	}
	return lo, hi
}

// polyOwn is σ of the roundings of polynomial node n: mapped, of its
// input mapped onto a Chebyshev interval, at the default scale, in the
// units of its input, and own, of its evaluation. A Chebyshev series's
// are followed through its evaluation at each point of its input's range
// (chebyshevOwn), and own is their largest σ there: their root mean
// square over the range, values taken uniform on it, fell below what is
// measured for a ReLU's fit, whose roundings weigh most at its kink,
// where its inputs concentrate. Otherwise computing x^k by
// products rounds at every level, each rounding carried by the later
// products, which a rounding of k times the rescale's bounds per power,
// weighted by |c_k|.
func (m noiseModel) polyOwn(n *ir.Node) (mapped, own float64) {
	x, p := n.Inputs[0], n.Poly
	out := m.scale(n)
	if p.IsSquare() {
		return 0, math.Hypot(m.keySwitch(m.scale(x)*m.scale(x)), m.rounding(out))
	}
	if p.Basis == ir.Chebyshev {
		if p.Interval != (ir.Interval{Lo: -1, Hi: 1}) {
			mapped = m.rounding(math.Exp2(float64(m.set.LogScale))) * p.Interval.Width() / 2
		}
		lo, hi := polyRange(n)
		const points = 1024
		ts := make([]float64, points)
		for i := range ts {
			v := lo + (hi-lo)*(float64(i)+0.5)/points
			ts[i] = (2*v - p.Interval.Lo - p.Interval.Hi) / p.Interval.Width()
		}
		return mapped, slices.Max(chebyshevOwn(p.Coeffs, ts)) * m.evaluationRounding(n)
	}
	unit := magnitude(x) // of the argument the powers are computed on
	for k, c := range p.Coeffs {
		own += math.Abs(c) * float64(k) * math.Pow(unit, float64(max(k-1, 0)))
	}
	return mapped, (own + 1) * float64(p.Depth()) * m.evaluationRounding(n)
}

// evaluationRounding is σ of one rounding of polynomial node n's
// evaluation: a product's relinearization and rescale at its scale.
func (m noiseModel) evaluationRounding(n *ir.Node) float64 {
	out := m.scale(n)
	return math.Hypot(m.rounding(out), m.keySwitch(out*out))
}

// rmsSlope is the root mean square of p' on [lo, hi], from its
// differences on a fine grid.
func rmsSlope(p *ir.Polynomial, lo, hi float64) float64 {
	const points = 1024
	if hi <= lo {
		lo, hi = hi-1e-9, lo+1e-9
	}
	h := (hi - lo) / points
	var sum float64
	for i := range points {
		a := lo + float64(i)*h
		d := (p.Eval(a+h) - p.Eval(a)) / h
		sum += d * d
	}
	return math.Sqrt(sum / points)
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
