package compiler

import (
	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
)

// Quantized operators whose result is exact in the reals: dequantization
// and integer convolutions and products are affine in the (encrypted)
// integer input once the zero points are subtracted.
var quantOps = []opEntry{
	{"DequantizeLinear", 10, lowerDequantize, "constant scale and zero point: (x − zero_point)·scale"},
	{"DequantizeLinear", 13, lowerDequantize, "constant scale and zero point, per tensor or per axis: (x − zero_point)·scale"},
	{"ConvInteger", 10, lowerConvInteger, "as Conv on x − x_zero_point with constant weights w − w_zero_point"},
	{"MatMulInteger", 10, lowerMatMulInteger, "as MatMul on a − a_zero_point and b − b_zero_point"},
}

// alongAxis reshapes a per-axis vector (scale, zero point) of a tensor of
// rank r so that it broadcasts along axis; a scalar is returned as is.
func alongAxis(t *ir.Tensor, axis, r int) *ir.Tensor {
	if len(t.Data) == 1 || len(t.Shape) != 1 {
		return t
	}
	shape := make([]int, r)
	for i := range shape {
		shape[i] = 1
	}
	shape[axis] = len(t.Data)
	return &ir.Tensor{Shape: shape, Data: t.Data}
}

// minusZeroPoint subtracts the optional zero point input i from v.
func (l *lowerer) minusZeroPoint(v *value, ins []*value, i, axis int) (*value, error) {
	zp, err := l.optionalConst(ins, i, "zero point")
	if err != nil || zp == nil {
		return v, err
	}
	return l.add(v, constValue(mapConst(alongAxis(zp, axis, len(v.shape)), func(z float64) float64 { return -z })))
}

func lowerDequantize(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	scale, err := l.constInput(ins, 1, "scale")
	if err != nil {
		return nil, err
	}
	a, err := n.AttrInt("axis", 1)
	if err != nil {
		return nil, err
	}
	axis := 0
	if len(scale.Data) > 1 {
		if axis, err = l.axis(int(a), len(x.shape)); err != nil {
			return nil, err
		}
		if len(scale.Data) != x.shape[axis] {
			return nil, l.fail(ErrModel, "%d scales for axis %d of size %d", len(scale.Data), axis, x.shape[axis])
		}
	}
	y, err := l.minusZeroPoint(x, ins, 2, axis)
	if err != nil {
		return nil, err
	}
	v, err := l.mul(y, constValue(alongAxis(scale, axis, len(x.shape))))
	return []*value{v}, err
}

func lowerConvInteger(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	w, err := l.constInput(ins, 1, "weights")
	if err != nil {
		return nil, err
	}
	if x, err = l.minusZeroPoint(x, ins, 2, 1); err != nil {
		return nil, err
	}
	// The weights' zero point is per tensor or per output channel (axis 0).
	wv, err := l.minusZeroPoint(constValue(w), ins, 3, 0)
	if err != nil {
		return nil, err
	}
	return lowerConv(l, n, []*value{x, wv})
}

func lowerMatMulInteger(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	a, b, err := l.inputPair(ins)
	if err != nil {
		return nil, err
	}
	// a's zero point is per tensor or per row (the second-to-last axis),
	// b's per tensor or per column (the last axis).
	if a, err = l.minusZeroPoint(a, ins, 2, max(0, len(a.shape)-2)); err != nil {
		return nil, err
	}
	if b, err = l.minusZeroPoint(b, ins, 3, len(b.shape)-1); err != nil {
		return nil, err
	}
	y, err := l.matmul(a, b, 1)
	return []*value{y}, err
}
