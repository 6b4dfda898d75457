package plan

import (
	"math"
	"slices"

	"github.com/hecc-dev/hecc/ir"
)

// The error of a composite activation.
//
// A composite ReLU is x·(1 + s(x))/2 with s = p_k ∘ … ∘ p_1 a chain of
// sign polynomials: a product and a sum of functions of one node x, its
// root, whose errors are correlated. Taken node by node, the chain's error
// is x's through the product of the stages' RMS slopes, times x: a sign's
// stages are steep near 0, and that product is orders of magnitude above
// what the chain does to an error, since each stage's input sits where the
// next stage is flat except next to 0, where x is small. Differentiated as
// one function of x instead, the composite carries x's error by its slope
// 1 + s(x) + x·s'(x), bounded though s' is not, and each rounding inside
// by the slope of what follows it; a Chebyshev stage's own roundings are
// those of its evaluation at that point (noise_chebyshev.go), far smaller
// where the stage is flat, which is where its inputs mostly are.
//
// Each slope is taken in mean square over x's range, its values uniform
// on it, as a polynomial's is (noise.go): what reaches an output is a sum
// of many values' errors, whose variance is their mean. The slopes peak
// where the sign flips, within 2^-bits of the scale of 0, a small share
// of the range when each value is scaled by its own calibrated peak
// (passes/composite.go); at x's worst value instead, the bound was several
// times looser on deep circuits (docs/security.md). Values that concentrate in the flip have a
// larger error than this predicts: it holds for data spread over their
// range, as measured. The errors are linearised: they are far below the
// sign's transition, 2^-bits of the scale.

// elementwise is a node as a function of its root's value, on a grid of
// the root's range: the function and its slope, and the slope each of its
// roundings is carried by.
type elementwise struct {
	root  *ir.Node
	x     []float64 // the grid: the root's values
	f, df []float64
	valid []bool // grid points within every polynomial's interval
	terms map[source]*rounding
	polys int // polynomials in the function
}

// source is a node's rounding: of its output, or of its input (a
// polynomial's mapping onto its interval).
type source struct {
	n      *ir.Node
	mapped bool
}

// rounding is one node's own error, the variances of a value's real part
// (as variances), and the slope it is carried by at each grid point.
type rounding struct {
	ind, com float64
	slope    []float64
}

// elementwiseGrid is the points of [lo, hi] the slopes are taken at: a
// uniform grid and, where the range spans 0, points geometric towards 0,
// where a sign polynomial's transition is, down to 2^-40 of the range.
func elementwiseGrid(lo, hi float64) []float64 {
	const uniform, perOctave, octaves = 2048, 64, 40
	var g []float64
	for i := 0; i <= uniform; i++ {
		g = append(g, lo+(hi-lo)*float64(i)/uniform)
	}
	if lo < 0 && hi > 0 {
		g = append(g, 0)
		for j := range perOctave * octaves {
			d := math.Exp2(-float64(j) / perOctave)
			g = append(g, d*lo, d*hi)
		}
	}
	slices.Sort(g)
	return g
}

// identity is x as a function of itself.
func identity(x *ir.Node) *elementwise {
	lo, hi := x.Range.Lo, x.Range.Hi
	if lo == 0 && hi == 0 {
		lo, hi = -1, 1
	}
	g := elementwiseGrid(lo, hi)
	e := &elementwise{root: x, x: g, f: slices.Clone(g), df: make([]float64, len(g)), valid: make([]bool, len(g)), terms: map[source]*rounding{}}
	for i := range g {
		e.df[i], e.valid[i] = 1, true
	}
	return e
}

// elementwiseOf is n as an element-wise function of one earlier node
// through polynomials, uniform diagonal maps, products and sums, or nil.
// Errors are the propagated variances of the nodes before n.
func (m noiseModel) elementwiseOf(p *Plan, scales *ScalePlan, n *ir.Node, memo map[*ir.Node]*elementwise) *elementwise {
	if e, ok := memo[n]; ok {
		return e
	}
	operand := func(x *ir.Node) *elementwise {
		if e := m.elementwiseOf(p, scales, x, memo); e != nil {
			return e
		}
		return identity(x)
	}
	var e *elementwise
	switch n.Op {
	case ir.OpPoly:
		e = m.polyOf(operand(n.Inputs[0]), n)
	case ir.OpAffine:
		if w, b, ok := uniformDiagonal(n.Linear); ok {
			in := operand(n.Inputs[0])
			zero := newVariances(values(n.Inputs[0]))
			own := m.affine(p.Linear[n], scales, n, zero)
			e = in.affine(n, w, b, slices.Max(own.ind), slices.Max(own.com))
		}
	case ir.OpMul, ir.OpAdd:
		a, b := operand(n.Inputs[0]), operand(n.Inputs[1])
		if a.root != b.root {
			break
		}
		if n.Op == ir.OpAdd {
			e = a.sum(b)
			break
		}
		own := math.Hypot(m.keySwitch(m.scale(n.Inputs[0])*m.scale(n.Inputs[1])), m.rounding(m.scale(n)))
		e = a.product(b)
		e.terms[source{n, false}] = &rounding{ind: own * own / 2, slope: ones(len(e.f))}
	}
	memo[n] = e
	return e
}

// uniformDiagonal reports whether l is x ↦ w·x + b on every value.
func uniformDiagonal(l *ir.Linear) (w, b float64, ok bool) {
	if l.Identity {
		return 1, 0, true
	}
	if l.Rows != l.Cols || len(l.Vals) != l.Rows || l.Rows == 0 {
		return 0, 0, false
	}
	w = l.Vals[0]
	if l.Bias != nil {
		b = l.Bias[0]
	}
	for r := range l.Rows {
		if l.RowPtr[r+1]-l.RowPtr[r] != 1 || l.ColIdx[l.RowPtr[r]] != r || l.Vals[l.RowPtr[r]] != w {
			return 0, 0, false
		}
		if l.Bias != nil && l.Bias[r] != b {
			return 0, 0, false
		}
	}
	return w, b, true
}

func ones(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// clone copies e's slopes, so that e is left as it is.
func (e *elementwise) clone() *elementwise {
	out := &elementwise{root: e.root, x: e.x, f: slices.Clone(e.f), df: slices.Clone(e.df), valid: slices.Clone(e.valid), terms: map[source]*rounding{}, polys: e.polys}
	for k, t := range e.terms {
		out.terms[k] = &rounding{ind: t.ind, com: t.com, slope: slices.Clone(t.slope)}
	}
	return out
}

// polyOf is q(e) for polynomial node n: the mapping of its interval
// rounds its input, its evaluation its output: a Chebyshev series's by
// what each rounding does at each point (chebyshevOwn), another's by the
// bound over its interval (polyOwn).
func (m noiseModel) polyOf(e *elementwise, n *ir.Node) *elementwise {
	mapped, own := m.polyOwn(n)
	ownAt := make([]float64, len(e.f))
	if q := n.Poly; q.Basis == ir.Chebyshev && !q.IsSquare() {
		unit := m.evaluationRounding(n)
		ts := make([]float64, len(e.f))
		for i, x := range e.f {
			ts[i] = (2*x - q.Interval.Lo - q.Interval.Hi) / q.Interval.Width()
		}
		for i, u := range chebyshevOwn(q.Coeffs, ts) {
			ownAt[i] = u * unit
		}
	} else {
		for i := range ownAt {
			ownAt[i] = own
		}
	}
	return e.poly(n, mapped, ownAt)
}

// poly is q(e) for polynomial node n: the mapping of its interval rounds
// its input (σ mapped), its evaluation its output (σ ownAt each point).
func (e *elementwise) poly(n *ir.Node, mapped float64, ownAt []float64) *elementwise {
	q := n.Poly
	dq := derivative(q)
	out := e.clone()
	out.polys++
	if mapped > 0 {
		out.terms[source{n, true}] = &rounding{ind: mapped * mapped / 2, slope: ones(len(e.f))}
	}
	for i, x := range e.f {
		if q.Basis == ir.Chebyshev {
			iv := q.Interval
			if slack := 1e-9 * iv.Width(); x < iv.Lo-slack || x > iv.Hi+slack {
				out.valid[i] = false
			}
		}
		s := dq.Eval(x)
		out.f[i] = q.Eval(x)
		out.df[i] *= s
		for _, t := range out.terms {
			t.slope[i] *= s
		}
	}
	out.terms[source{n, false}] = &rounding{ind: 0.5, slope: ownAt}
	return out
}

// mergeRounding is the rounding of one node reached by two paths: its
// slopes add.
func mergeRounding(a, b *rounding) *rounding {
	out := &rounding{ind: b.ind, com: b.com, slope: slices.Clone(b.slope)}
	if a != nil {
		for i := range out.slope {
			out.slope[i] += a.slope[i]
		}
	}
	return out
}

// affine is w·e + b for uniform diagonal node n with its own error.
func (e *elementwise) affine(n *ir.Node, w, b, ind, com float64) *elementwise {
	out := e.clone()
	for i := range out.f {
		out.f[i], out.df[i] = w*e.f[i]+b, w*e.df[i]
	}
	for _, t := range out.terms {
		for i := range t.slope {
			t.slope[i] *= w
		}
	}
	out.terms[source{n, false}] = &rounding{ind: ind, com: com, slope: ones(len(e.f))}
	return out
}

// sum is a + b.
func (a *elementwise) sum(b *elementwise) *elementwise {
	out := a.clone()
	out.polys += b.polys
	for i := range out.f {
		out.f[i] = a.f[i] + b.f[i]
		out.df[i] = a.df[i] + b.df[i]
		out.valid[i] = a.valid[i] && b.valid[i]
	}
	for k, t := range b.terms {
		out.terms[k] = mergeRounding(out.terms[k], t)
	}
	return out
}

// product is a·b: (ab)' = a'b + ab'.
func (a *elementwise) product(b *elementwise) *elementwise {
	out := a.clone()
	out.polys += b.polys
	for i := range out.f {
		out.f[i] = a.f[i] * b.f[i]
		out.df[i] = a.df[i]*b.f[i] + a.f[i]*b.df[i]
		out.valid[i] = a.valid[i] && b.valid[i]
	}
	for _, t := range out.terms {
		for i := range t.slope {
			t.slope[i] *= b.f[i]
		}
	}
	for k, t := range b.terms {
		s := &rounding{ind: t.ind, com: t.com, slope: slices.Clone(t.slope)}
		for i := range s.slope {
			s.slope[i] *= a.f[i]
		}
		out.terms[k] = mergeRounding(out.terms[k], s)
	}
	return out
}

// variances is the error of e's values: the root's error by the slope
// and every rounding by its own, in mean square over the grid's points
// within the polynomials' intervals, each weighted by its share of the
// root's range (values uniform on it). False when no point is within.
func (e *elementwise) variances(root variances) (variances, bool) {
	var weight, slope2, ind, com float64
	for i, d := range e.df {
		if !e.valid[i] {
			continue
		}
		w := (e.x[min(i+1, len(e.x)-1)] - e.x[max(i-1, 0)]) / 2
		weight += w
		slope2 += w * d * d
		for _, t := range e.terms {
			c2 := t.slope[i] * t.slope[i]
			ind += w * c2 * t.ind
			com += w * c2 * t.com
		}
	}
	if !(weight > 0) {
		return variances{}, false
	}
	out := newVariances(len(root.ind))
	for i := range out.ind {
		out.ind[i] = (slope2*root.ind[i] + ind) / weight
		out.com[i] = (slope2*root.com[i] + com) / weight
	}
	return out, true
}

// derivative is p' as a polynomial of the same basis and interval.
func derivative(p *ir.Polynomial) *ir.Polynomial {
	n := len(p.Coeffs) - 1
	d := make([]float64, n+2)
	if p.Basis != ir.Chebyshev {
		for k := 1; k <= n; k++ {
			d[k-1] = float64(k) * p.Coeffs[k]
		}
		return &ir.Polynomial{Basis: p.Basis, Coeffs: d}
	}
	// T_k' = k·U_{k-1}, which gives d_{k-1} = d_{k+1} + 2k·c_k with d_0
	// halved, times the derivative of the map onto [-1, 1].
	for k := n; k >= 1; k-- {
		d[k-1] = d[k+1] + 2*float64(k)*p.Coeffs[k]
	}
	d[0] /= 2
	f := 2 / p.Interval.Width()
	for k := range d {
		d[k] *= f
	}
	return &ir.Polynomial{Basis: ir.Chebyshev, Coeffs: d, Interval: p.Interval}
}
