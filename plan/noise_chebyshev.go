package plan

import (
	"math"
	"math/bits"
)

// The roundings of a Chebyshev polynomial's evaluation, value by value.
//
// The runtime evaluates a Chebyshev series as Lattigo does: the powers
// T_n = 2·T_a·T_b − T_|a−b| (n split as Lattigo's SplitDegree), each
// rescaled once; then Paterson–Stockmeyer, p = q·T_m + r with m a power of
// two, recursively (Lattigo's recursePS), down to sums of the powers below
// 2^logSplit (Lattigo's OptimalSplit), each q rescaled before its
// product; and a last rescale. Every rescale rounds by one unit (the
// model's rounding at the output's scale with a relinearization's), the
// roundings are independent, and linearised, the output's error at t is
// their sum, each times the output's derivative along it at t. How much a
// rounding weighs depends on t: where p is flat, the powers' errors cancel
// as a perturbation of t would, which a bound uniform in t (polyOwn)
// cannot see. A q of degree 0 is a constant, whose rescale rounds one
// coefficient, not all: counted as a full rounding, it overestimates.

// psProgram is the evaluation of one series as straight-line operations
// on values, from the constant 1 (node 0) and t (node 1), with the nodes
// that round.
type psProgram struct {
	ops     []psOp
	rounded []int // nodes that are a rounding of their input
}

type psOp struct {
	kind   byte // '1' the constant, 't' t, '*' a·b, '+' ka·a + kb·b, 'r' a rounded
	a, b   int
	ka, kb float64
}

// chebyshevOwn is σ of the evaluation's roundings of the Chebyshev series
// c on [-1, 1] at each t, in units of one rounding.
func chebyshevOwn(c []float64, ts []float64) []float64 {
	p := newPSProgram(c)
	out := make([]float64, len(ts))
	v, adj := make([]float64, len(p.ops)), make([]float64, len(p.ops))
	for i, t := range ts {
		_, out[i] = p.at(t, v, adj)
	}
	return out
}

// at is the series' value at t and σ of the roundings there, in units of
// one, from the derivatives of the value along each (v and adj are
// scratch of the program's length).
func (p *psProgram) at(t float64, v, adj []float64) (value, own float64) {
	for k, op := range p.ops {
		switch op.kind {
		case '1':
			v[k] = 1
		case 't':
			v[k] = t
		case '*':
			v[k] = v[op.a] * v[op.b]
		case '+':
			v[k] = op.ka*v[op.a] + op.kb*v[op.b]
		case 'r':
			v[k] = v[op.a]
		}
		adj[k] = 0
	}
	adj[len(adj)-1] = 1
	for k := len(p.ops) - 1; k >= 0; k-- {
		switch op := p.ops[k]; op.kind {
		case '*':
			adj[op.a] += adj[k] * v[op.b]
			adj[op.b] += adj[k] * v[op.a]
		case '+':
			adj[op.a] += op.ka * adj[k]
			adj[op.b] += op.kb * adj[k]
		case 'r':
			adj[op.a] += adj[k]
		}
	}
	s := 1.0 // the last rescale
	for _, k := range p.rounded {
		s += adj[k] * adj[k]
	}
	return v[len(v)-1], math.Sqrt(s)
}

func newPSProgram(c []float64) *psProgram {
	p := &psProgram{ops: []psOp{{kind: '1'}, {kind: 't'}}}
	powers := map[int]int{0: 0, 1: 1}
	var power func(n int) int
	power = func(n int) int {
		if k, ok := powers[n]; ok {
			return k
		}
		a, b := n/2, n/2
		if n&(n-1) != 0 {
			k := bits.Len(uint(n-1)) - 1
			a, b = 1<<k-1, n+1-1<<k
		}
		prod := p.add(psOp{kind: '*', a: power(a), b: power(b)})
		k := p.round(p.add(psOp{kind: '+', a: prod, b: power(max(a-b, b-a)), ka: 2, kb: -1}))
		powers[n] = k
		return k
	}
	var ps func(q psPoly, logSplit int) int
	ps = func(q psPoly, logSplit int) int {
		d := q.degree()
		if d < 1<<logSplit {
			if q.lead && logSplit > 1 && q.maxDeg > 1<<bits.Len(uint(q.maxDeg))-1<<(logSplit-1) {
				if s := optimalSplit(bits.Len(uint(d))); s != logSplit {
					return ps(q, s)
				}
			}
			sum := p.add(psOp{kind: '+', a: 0, b: 0}) // 0
			for j, x := range q.coeffs {
				if x != 0 {
					sum = p.add(psOp{kind: '+', a: power(j), b: sum, ka: x, kb: 1})
				}
			}
			return sum
		}
		n := 1 << logSplit
		for n < d>>1+1 {
			n <<= 1
		}
		hi, lo := q.factorize(n)
		h := p.round(ps(hi, logSplit)) // rescaled before its product
		l := ps(lo, logSplit)
		return p.add(psOp{kind: '+', a: p.add(psOp{kind: '*', a: h, b: power(n)}), b: l, ka: 1, kb: 1})
	}
	ps(psPoly{coeffs: c, maxDeg: len(c) - 1, lead: true}, optimalSplit(bits.Len(uint(len(c)-1))))
	return p
}

func (p *psProgram) add(op psOp) int {
	p.ops = append(p.ops, op)
	return len(p.ops) - 1
}

func (p *psProgram) round(a int) int {
	k := p.add(psOp{kind: 'r', a: a})
	p.rounded = append(p.rounded, k)
	return k
}

// psPoly is a Chebyshev series in Lattigo's Paterson–Stockmeyer split.
type psPoly struct {
	coeffs []float64
	maxDeg int
	lead   bool
}

func (p psPoly) degree() int { return len(p.coeffs) - 1 }

// factorize is Lattigo's p = q·T_n + r in the Chebyshev basis.
func (p psPoly) factorize(n int) (q, r psPoly) {
	d := p.degree()
	r.coeffs = make([]float64, n)
	copy(r.coeffs, p.coeffs[:n])
	q.coeffs = make([]float64, d-n+1)
	q.coeffs[0] = p.coeffs[n]
	for i, j := n+1, 1; i <= d; i, j = i+1, j+1 {
		q.coeffs[i-n] = 2 * p.coeffs[i]
		r.coeffs[n-j] -= p.coeffs[i]
	}
	q.maxDeg, q.lead = p.maxDeg, p.lead
	if p.maxDeg == d {
		r.maxDeg = n - 1
	} else {
		r.maxDeg = p.maxDeg - (d - n + 1)
	}
	return q, r
}

// optimalSplit is Lattigo's bignum.OptimalSplit: the baby steps' log2.
func optimalSplit(logDegree int) int {
	s := logDegree >> 1
	a := 1<<s + 1<<(logDegree-s) + logDegree - s - 3
	b := 1<<(s+1) + 1<<(logDegree-s-1) + logDegree - s - 4
	if a > b {
		s++
	}
	return s
}
