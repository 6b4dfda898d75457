package compiler

import (
	"fmt"
	"math"
	"slices"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
)

// Discrete Fourier transforms are linear: each output coefficient is a
// fixed combination of the (encrypted) signal, so DFT and STFT are affine
// maps whose weights are the cosines and sines of the transform.

var fourierOps = []opEntry{
	{"DFT", 17, lowerDFT, "axis attribute, inverse, onesided, constant dft_length; real or complex input: an affine map"},
	{"STFT", 17, lowerSTFT, "constant frame_step, window and frame_length; real signals, onesided: an affine map"},
}

// dftWeights adds to b the row of output bin k (real part at row re, the
// imaginary part at row re+1) of the transform of the L samples whose real
// parts sit at columns col(n) (imaginary parts, for a complex signal, at
// col(n)+1), each weighted by w(n).
func dftWeights(b *ir.Builder, re, k, L int, inverse, complexIn bool, col func(n int) int, w func(n int) float64) {
	sign, norm := -1.0, 1.0
	if inverse {
		sign, norm = 1, 1/float64(L)
	}
	for n := range L {
		theta := 2 * math.Pi * float64((k*n)%L) / float64(L)
		c, s := norm*w(n)*math.Cos(theta), norm*w(n)*sign*math.Sin(theta)
		// (a + ib)(c + is) = (ac − bs) + i(as + bc)
		b.Add(re, col(n), c)
		b.Add(re+1, col(n), s)
		if complexIn {
			b.Add(re, col(n)+1, -s)
			b.Add(re+1, col(n)+1, c)
		}
	}
}

func lowerDFT(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	r := len(x.shape)
	if r < 3 || (x.shape[r-1] != 1 && x.shape[r-1] != 2) {
		return nil, l.fail(ErrModel, "input %v must be [batch, signal…, 1 or 2]", x.shape)
	}
	a, err1 := n.AttrInt("axis", 1)
	inv, err2 := n.AttrInt("inverse", 0)
	one, err3 := n.AttrInt("onesided", 0)
	if err := firstErr(err1, err2, err3); err != nil {
		return nil, err
	}
	axis, err := l.axis(int(a), r)
	if err != nil {
		return nil, err
	}
	if axis == 0 || axis == r-1 {
		return nil, l.fail(ErrModel, "axis %d is not a signal axis of %v", a, x.shape)
	}
	L := x.shape[axis]
	if lt, err := l.optionalConst(ins, 1, "dft_length"); err != nil {
		return nil, err
	} else if lt != nil {
		v, err := l.ints(lt, "dft_length")
		if err != nil {
			return nil, err
		}
		if len(v) != 1 || v[0] <= 0 || v[0] > maxSlots {
			return nil, l.fail(ErrModel, "dft_length %v", v)
		}
		L = v[0]
	}
	complexIn := x.shape[r-1] == 2
	if one != 0 && complexIn {
		return nil, l.fail(ErrModel, "onesided needs a real input")
	}
	bins := L
	if one != 0 {
		bins = L/2 + 1
	}
	out := slices.Clone(x.shape)
	out[axis], out[r-1] = bins, 2
	size, err := l.resultSize(x, out)
	if err != nil {
		return nil, err
	}
	if size*L*2 > ir.MaxNonZeros {
		return nil, l.errorf("the transform has more than %d weights", ir.MaxNonZeros)
	}
	b := ir.NewBuilder(size, x.size())
	inStrides, outStrides := ir.Strides(x.shape), ir.Strides(out)
	// Every output position but the axis and the complex pair: one
	// transform along the axis (samples beyond the input are zero padding).
	outer := slices.Clone(out)
	outer[axis], outer[r-1] = 1, 1
	forEach(outer, func(o []int) {
		base, obase := 0, 0
		for d := range o {
			base += o[d] * inStrides[d]
			obase += o[d] * outStrides[d]
		}
		samples := min(L, x.shape[axis])
		for k := range bins {
			dftWeights(b, obase+k*outStrides[axis], k, L, inv != 0, complexIn,
				func(n int) int { return base + min(n, samples-1)*inStrides[axis] },
				func(n int) float64 { return boolValue(n < samples) })
		}
	})
	lin, err := b.Build(nil, fmt.Sprintf("dft %d", L))
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	return []*value{l.linear(x, lin, out)}, nil
}

func lowerSTFT(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	if len(x.shape) != 3 || x.shape[2] != 1 {
		return nil, l.errorf("signal %v: only real signals [batch, length, 1] are supported", x.shape)
	}
	one, err := n.AttrInt("onesided", 1)
	if err != nil {
		return nil, err
	}
	scalar := func(i int, what string) (int, bool, error) {
		t, err := l.optionalConst(ins, i, what)
		if err != nil || t == nil {
			return 0, false, err
		}
		v, err := l.ints(t, what)
		if err != nil {
			return 0, false, err
		}
		if len(v) != 1 || v[0] <= 0 || v[0] > x.shape[1] {
			return 0, false, l.fail(ErrModel, "%s %v for a signal of %d", what, v, x.shape[1])
		}
		return v[0], true, nil
	}
	step, ok, err := scalar(1, "frame_step")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, l.fail(ErrModel, "frame_step is missing")
	}
	window, err := l.optionalConst(ins, 2, "window")
	if err != nil {
		return nil, err
	}
	L, ok, err := scalar(3, "frame_length")
	if err != nil {
		return nil, err
	}
	switch {
	case window != nil && ok && len(window.Data) != L:
		return nil, l.fail(ErrModel, "a window of %d for frames of %d", len(window.Data), L)
	case window != nil:
		L = len(window.Data)
	case !ok:
		return nil, l.fail(ErrModel, "neither window nor frame_length is given")
	}
	if L == 0 || L > x.shape[1] {
		return nil, l.fail(ErrModel, "frames of %d for a signal of %d", L, x.shape[1])
	}
	frames := (x.shape[1]-L)/step + 1
	bins := L
	if one != 0 {
		bins = L/2 + 1
	}
	out := []int{x.shape[0], frames, bins, 2}
	size, err := l.resultSize(x, out)
	if err != nil {
		return nil, err
	}
	if size*L > ir.MaxNonZeros {
		return nil, l.errorf("the transform has more than %d weights", ir.MaxNonZeros)
	}
	w := func(n int) float64 { return 1 }
	if window != nil {
		w = func(n int) float64 { return window.Data[n] }
	}
	b := ir.NewBuilder(size, x.size())
	for bt := range x.shape[0] {
		for f := range frames {
			start := bt*x.shape[1] + f*step
			for k := range bins {
				row := ((bt*frames+f)*bins + k) * 2
				dftWeights(b, row, k, L, false, false, func(n int) int { return start + n }, w)
			}
		}
	}
	lin, err := b.Build(nil, fmt.Sprintf("stft %d/%d", L, step))
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	return []*value{l.linear(x, lin, out)}, nil
}
