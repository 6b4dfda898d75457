package ir

import (
	"fmt"
	"math"
	"math/bits"
)

// Basis is the basis a polynomial's coefficients are expressed in.
type Basis uint8

// The supported bases.
const (
	Monomial Basis = iota + 1
	// Chebyshev coefficients are for T_k(t) with t = (2x-Lo-Hi)/(Hi-Lo),
	// the affine map of Interval onto [-1, 1].
	Chebyshev
)

func (b Basis) String() string {
	switch b {
	case Monomial:
		return "monomial"
	case Chebyshev:
		return "chebyshev"
	}
	return fmt.Sprintf("basis(%d)", uint8(b))
}

// Polynomial is an element-wise polynomial.
//
// An approximation records the activation it replaces in Replaces, and how
// its own input t relates to that activation's argument x: x = ArgScale·t +
// ArgShift (the map onto [-1, 1] is folded into the preceding affine node).
// MaxErr bounds |p(t) − f(x)| over the approximation interval, and Func
// names f for reports.
type Polynomial struct {
	Basis    Basis
	Coeffs   []float64 // Coeffs[k] multiplies x^k or T_k
	Interval Interval
	Func     string
	MaxErr   float64

	Replaces *Activation
	ArgScale float64
	ArgShift float64
	// Correction, per element of the node (nil for none), is the mean of
	// p − f over the calibration samples, which the affine map after the
	// polynomial subtracts. Exact evaluation adds it to f, so that the
	// circuit evaluated exactly is still the model.
	Correction []float64
}

// Square is x², the CryptoNets activation.
func Square() *Polynomial {
	return &Polynomial{Basis: Monomial, Coeffs: []float64{0, 0, 1}, Func: "square"}
}

// IsSquare reports whether p is exactly x².
func (p *Polynomial) IsSquare() bool {
	return p.Basis == Monomial && len(p.Coeffs) == 3 && p.Coeffs[0] == 0 && p.Coeffs[1] == 0 && p.Coeffs[2] == 1
}

// Degree is the index of the last non-zero coefficient.
func (p *Polynomial) Degree() int {
	for k := len(p.Coeffs) - 1; k > 0; k-- {
		if p.Coeffs[k] != 0 {
			return k
		}
	}
	return 0
}

// Depth is the number of levels evaluating p under CKKS consumes: one for
// x², ⌈log2(d+1)⌉ for a degree-d polynomial evaluated by baby-step
// giant-step, plus one when a Chebyshev polynomial's interval is not
// [-1, 1] and the input must first be mapped onto it.
func (p *Polynomial) Depth() int {
	if p.IsSquare() {
		return 1
	}
	d := bits.Len(uint(p.Degree()))
	if p.Basis == Chebyshev && p.Interval != (Interval{-1, 1}) {
		d++
	}
	return d
}

// Eval computes p(x).
func (p *Polynomial) Eval(x float64) float64 {
	switch p.Basis {
	case Chebyshev:
		t := (2*x - p.Interval.Lo - p.Interval.Hi) / (p.Interval.Hi - p.Interval.Lo)
		// Clenshaw's recurrence.
		var b1, b2 float64
		for k := len(p.Coeffs) - 1; k >= 1; k-- {
			b1, b2 = 2*t*b1-b2+p.Coeffs[k], b1
		}
		return t*b1 - b2 + p.Coeffs[0]
	default:
		var y float64
		for k := len(p.Coeffs) - 1; k >= 0; k-- {
			y = y*x + p.Coeffs[k]
		}
		return y
	}
}

// EvalSlice sets y[i] to p(x[i]), as Eval computes it, for every i (y
// may be x).
func (p *Polynomial) EvalSlice(y, x []float64) {
	if p.Basis != Chebyshev {
		for i, v := range x {
			y[i] = p.Eval(v)
		}
		return
	}
	lo, hi := p.Interval.Lo, p.Interval.Hi
	for i, v := range x {
		y[i] = (2*v - lo - hi) / (hi - lo)
	}
	Clenshaw(y, p.Coeffs, y)
}

// Clenshaw sets y[i] to the Chebyshev series c at t[i] (y may be t),
// rounding as Eval does after its change of variable. It runs Clenshaw's
// recurrence for four values in one loop (sixteen in vector registers
// where the processor has them): independent chains keep the processor
// busy where one would wait on each step.
func Clenshaw(y, c, t []float64) {
	c0 := c[0]
	i := clenshawBlocks(y, c, t)
	for ; i+4 <= len(t); i += 4 {
		t0, t1, t2, t3 := t[i], t[i+1], t[i+2], t[i+3]
		var a0, a1, a2, a3, b0, b1, b2, b3 float64 // b_{k+1}, b_{k+2}
		for k := len(c) - 1; k >= 1; k-- {
			ck := c[k]
			a0, b0 = 2*t0*a0-b0+ck, a0
			a1, b1 = 2*t1*a1-b1+ck, a1
			a2, b2 = 2*t2*a2-b2+ck, a2
			a3, b3 = 2*t3*a3-b3+ck, a3
		}
		y[i], y[i+1], y[i+2], y[i+3] = t0*a0-b0+c0, t1*a1-b1+c0, t2*a2-b2+c0, t3*a3-b3+c0
	}
	for ; i < len(t); i++ {
		var a, b float64
		for k := len(c) - 1; k >= 1; k-- {
			a, b = 2*t[i]*a-b+c[k], a
		}
		y[i] = t[i]*a - b + c0
	}
}

// EvalExact evaluates the function p approximates at the argument its
// input t stands for, or p itself when it replaces nothing.
func (p *Polynomial) EvalExact(t float64) float64 {
	if p.Replaces == nil {
		return p.Eval(t)
	}
	return p.Replaces.Eval(p.ArgScale*t + p.ArgShift)
}

func (p *Polynomial) check() error {
	if p.Replaces != nil {
		if err := p.Replaces.check(); err != nil {
			return err
		}
		if p.ArgScale == 0 || math.IsNaN(p.ArgScale) || math.IsInf(p.ArgScale, 0) || math.IsNaN(p.ArgShift) || math.IsInf(p.ArgShift, 0) {
			return fmt.Errorf("approximation maps its input by %g·t%+g", p.ArgScale, p.ArgShift)
		}
	}
	if p.Basis != Monomial && p.Basis != Chebyshev {
		return fmt.Errorf("polynomial has unknown basis %d", p.Basis)
	}
	if len(p.Coeffs) == 0 || len(p.Coeffs) > 1<<12 {
		return fmt.Errorf("polynomial has %d coefficients (1 to 4096 allowed)", len(p.Coeffs))
	}
	for _, c := range p.Coeffs {
		if math.IsNaN(c) || math.IsInf(c, 0) {
			return fmt.Errorf("polynomial coefficient is %v", c)
		}
	}
	for _, c := range p.Correction {
		if math.IsNaN(c) || math.IsInf(c, 0) {
			return fmt.Errorf("polynomial bias correction is %v", c)
		}
	}
	if p.Basis == Chebyshev && !(p.Interval.Lo < p.Interval.Hi) {
		return fmt.Errorf("chebyshev polynomial on an empty interval [%g, %g]", p.Interval.Lo, p.Interval.Hi)
	}
	return nil
}

func (p *Polynomial) String() string {
	s := fmt.Sprintf("%s deg %d", p.Basis, p.Degree())
	if p.Func != "" {
		s = p.Func + " " + s
	}
	if p.Basis == Chebyshev || p.Interval != (Interval{}) {
		s += fmt.Sprintf(" on [%.4g, %.4g]", p.Interval.Lo, p.Interval.Hi)
	}
	if p.MaxErr > 0 {
		s += fmt.Sprintf(" err %.3g", p.MaxErr)
	}
	return s
}
