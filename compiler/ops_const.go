package compiler

import (
	"math"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
)

// Operators hecc evaluates on constants only. Exporters emit them in shape
// computations and weight preprocessing (Sqrt of a dimension for attention
// scaling, Equal/Where on shapes …), which lowering folds away; on a tensor
// computed from the encrypted input each is refused with the reason.

const (
	discontinuous = "it is discontinuous, so no polynomial approximates it under encryption"
	noActivation  = "no polynomial approximation of it is implemented (hecc approximates relu, leaky_relu, clip, sigmoid, tanh and softplus)"
)

const (
	constNotes       = "constants only (folded at compile time)"
	constBinaryNotes = "constants only (folded at compile time); numpy broadcasting"
)

var constOps = []opEntry{
	{"Sqrt", 1, constUnary(math.Sqrt, noActivation), constNotes},
	{"Reciprocal", 1, constUnary(func(x float64) float64 { return 1 / x }, noActivation), constNotes},
	{"Exp", 1, constUnary(math.Exp, noActivation), constNotes},
	{"Log", 1, constUnary(math.Log, noActivation), constNotes},
	{"Floor", 1, constUnary(math.Floor, discontinuous), constNotes},
	{"Ceil", 1, constUnary(math.Ceil, discontinuous), constNotes},
	{"Round", 1, constUnary(math.RoundToEven, discontinuous), constNotes},
	{"Sign", 1, constUnary(sign, discontinuous), constNotes},
	{"Not", 1, constUnary(func(x float64) float64 { return boolValue(x == 0) }, discontinuous), constNotes},
	{"Equal", 1, constBinary(func(a, b float64) float64 { return boolValue(a == b) }), constBinaryNotes},
	{"Less", 1, constBinary(func(a, b float64) float64 { return boolValue(a < b) }), constBinaryNotes},
	{"Greater", 1, constBinary(func(a, b float64) float64 { return boolValue(a > b) }), constBinaryNotes},
	{"LessOrEqual", 12, constBinary(func(a, b float64) float64 { return boolValue(a <= b) }), constBinaryNotes},
	{"GreaterOrEqual", 12, constBinary(func(a, b float64) float64 { return boolValue(a >= b) }), constBinaryNotes},
	{"And", 1, constBinary(func(a, b float64) float64 { return boolValue(a != 0 && b != 0) }), constBinaryNotes},
	{"Or", 1, constBinary(func(a, b float64) float64 { return boolValue(a != 0 || b != 0) }), constBinaryNotes},
	{"Xor", 1, constBinary(func(a, b float64) float64 { return boolValue((a != 0) != (b != 0)) }), constBinaryNotes},
	{"Mod", 10, lowerMod, "constants only (folded at compile time); fmod"},
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

func constUnary(f func(float64) float64, reason string) lowerFunc {
	return unary(func(l *lowerer, x *value) (*value, error) {
		if !x.isConst() {
			return nil, l.errorf("the input depends on the encrypted input: %s", reason)
		}
		return constValue(mapConst(x.c, f)), nil
	})
}

func constBinary(f func(a, b float64) float64) lowerFunc {
	return binary(func(l *lowerer, a, b *value) (*value, error) {
		if !a.isConst() || !b.isConst() {
			return nil, l.errorf("an operand depends on the encrypted input: %s", discontinuous)
		}
		out, err := l.broadcastShape(a.shape, b.shape)
		if err != nil {
			return nil, err
		}
		ab, _ := l.broadcastTo(a, out)
		bb, _ := l.broadcastTo(b, out)
		t := ir.NewTensor(out...)
		for i := range t.Data {
			t.Data[i] = f(ab.c.Data[i], bb.c.Data[i])
		}
		return constValue(t), nil
	})
}

func lowerMod(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	fmod, err := n.AttrInt("fmod", 0)
	if err != nil {
		return nil, err
	}
	return constBinary(func(a, b float64) float64 {
		m := math.Mod(a, b)
		// Integer Mod (fmod=0) takes the divisor's sign, as Python's %.
		if fmod == 0 && m != 0 && (m < 0) != (b < 0) {
			m += b
		}
		return m
	})(l, n, ins)
}
