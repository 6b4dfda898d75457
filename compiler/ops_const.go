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

func init() {
	unaries := []struct {
		op     string
		f      func(float64) float64
		reason string
	}{
		{"Sqrt", math.Sqrt, noActivation},
		{"Reciprocal", func(x float64) float64 { return 1 / x }, noActivation},
		{"Exp", math.Exp, noActivation},
		{"Log", math.Log, noActivation},
		{"Floor", math.Floor, discontinuous},
		{"Ceil", math.Ceil, discontinuous},
		{"Round", math.RoundToEven, discontinuous},
		{"Sign", func(x float64) float64 {
			switch {
			case x > 0:
				return 1
			case x < 0:
				return -1
			}
			return 0
		}, discontinuous},
		{"Not", func(x float64) float64 { return boolValue(x == 0) }, discontinuous},
	}
	for _, u := range unaries {
		register(u.op, lowering{Since: 1, Fn: constUnary(u.f, u.reason), Notes: "constants only (folded at compile time)"})
	}
	binaries := []struct {
		op    string
		since int64
		f     func(a, b float64) float64
	}{
		{"Equal", 1, func(a, b float64) float64 { return boolValue(a == b) }},
		{"Less", 1, func(a, b float64) float64 { return boolValue(a < b) }},
		{"Greater", 1, func(a, b float64) float64 { return boolValue(a > b) }},
		{"LessOrEqual", 12, func(a, b float64) float64 { return boolValue(a <= b) }},
		{"GreaterOrEqual", 12, func(a, b float64) float64 { return boolValue(a >= b) }},
		{"And", 1, func(a, b float64) float64 { return boolValue(a != 0 && b != 0) }},
		{"Or", 1, func(a, b float64) float64 { return boolValue(a != 0 || b != 0) }},
		{"Xor", 1, func(a, b float64) float64 { return boolValue((a != 0) != (b != 0)) }},
	}
	for _, b := range binaries {
		register(b.op, lowering{Since: b.since, Fn: constBinary(b.f), Notes: "constants only (folded at compile time); numpy broadcasting"})
	}
	register("Mod", lowering{Since: 10, Fn: lowerMod, Notes: "constants only (folded at compile time); fmod"})
}

func boolValue(b bool) float64 {
	if b {
		return 1
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
