package compiler

import (
	"math"
	"math/bits"
	"slices"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
)

// approximatedNotes are the Notes of a non-polynomial activation.
const approximatedNotes = "approximated by a polynomial on its calibrated range"

var elementwiseOps = []opEntry{
	{"Add", 1, binary(func(l *lowerer, a, b *value) (*value, error) { return l.add(a, b) }), "numpy broadcasting; constant or encrypted operands"},
	{"Sub", 1, binary(func(l *lowerer, a, b *value) (*value, error) { return l.add(a, l.neg(b)) }), "numpy broadcasting; constant or encrypted operands"},
	{"Mul", 1, binary(func(l *lowerer, a, b *value) (*value, error) { return l.mul(a, b) }),
		"numpy broadcasting; x·x and products of two encrypted tensors cost one level"},
	{"Div", 1, binary(lowerDiv), "divisor must be a non-zero constant"},
	{"Neg", 1, unary(func(l *lowerer, x *value) (*value, error) { return l.neg(x), nil }), "an affine map"},
	{"Pow", 1, lowerPow, "constant integer exponents 0 to 8, one per element or shared (x² costs one level, x^k ⌈log2 k⌉)"},
	{"Sum", 1, variadic(false), "numpy broadcasting"},
	{"Mean", 1, variadic(true), "numpy broadcasting"},
	{"Relu", 1, activation("relu"), approximatedNotes},
	{"Sigmoid", 1, activation("sigmoid"), approximatedNotes},
	{"Tanh", 1, activation("tanh"), approximatedNotes},
	{"Softplus", 1, activation("softplus"), approximatedNotes},
	{"LeakyRelu", 1, lowerLeakyRelu, approximatedNotes},
	{"Clip", 1, lowerClip, "min/max attributes; approximated by a polynomial (a ReLU when one bound is absent)"},
	{"Clip", 11, lowerClip, "constant min/max inputs; approximated by a polynomial (a ReLU when one bound is absent)"},
	{"PRelu", 1, lowerPRelu, "constant slope: slope·x + (1-slope)·relu(x); a vector slope as long as axis 1 is per channel"},
	{"PRelu", 7, lowerPRelu, "constant slope, numpy broadcasting: slope·x + (1-slope)·relu(x)"},
	{"Softmax", 1, lowerPost(ir.PostSoftmax), "last op on the last axis only (the axis defaults to 1): applied after decryption"},
	{"Softmax", 13, lowerPost(ir.PostSoftmax), "last op on the last axis only: applied after decryption"},
	{"LogSoftmax", 1, lowerPost(ir.PostLogSoftmax), "last op on the last axis only (the axis defaults to 1): applied after decryption"},
	{"LogSoftmax", 13, lowerPost(ir.PostLogSoftmax), "last op on the last axis only: applied after decryption"},
	{"ArgMax", 1, lowerPost(ir.PostArgMax), "last op on the last axis, keepdims=1: applied after decryption"},
}

func binary(f func(l *lowerer, a, b *value) (*value, error)) lowerFunc {
	return func(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
		a, err := l.input(ins, 0)
		if err != nil {
			return nil, err
		}
		b, err := l.input(ins, 1)
		if err != nil {
			return nil, err
		}
		v, err := f(l, a, b)
		return []*value{v}, err
	}
}

func unary(f func(l *lowerer, x *value) (*value, error)) lowerFunc {
	return func(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
		x, err := l.input(ins, 0)
		if err != nil {
			return nil, err
		}
		v, err := f(l, x)
		return []*value{v}, err
	}
}

// elementwise broadcasts a and b to a common shape and combines them: now
// when both are constants, else with an IR node of kind op (a constant
// operand becomes a Const node that fold-constants turns into an affine map).
func (l *lowerer) elementwise(op ir.Op, a, b *value) (*value, error) {
	out, err := l.broadcastShape(a.shape, b.shape)
	if err != nil {
		return nil, err
	}
	if a, err = l.broadcastTo(a, out); err != nil {
		return nil, err
	}
	if b, err = l.broadcastTo(b, out); err != nil {
		return nil, err
	}
	if a.isConst() && b.isConst() {
		t := &ir.Tensor{Shape: out, Data: make([]float64, len(a.c.Data))}
		for i := range t.Data {
			if op == ir.OpAdd {
				t.Data[i] = a.c.Data[i] + b.c.Data[i]
			} else {
				t.Data[i] = a.c.Data[i] * b.c.Data[i]
			}
		}
		return constValue(t), nil
	}
	operand := func(v *value) *ir.Node {
		if v.isConst() {
			return l.emit(&ir.Node{Op: ir.OpConst, Shape: slices.Clone(out), Const: v.c}).n
		}
		return l.irNode(v)
	}
	return l.emit(&ir.Node{Op: op, Inputs: []*ir.Node{operand(a), operand(b)}, Shape: slices.Clone(out)}), nil
}

func (l *lowerer) add(a, b *value) (*value, error) { return l.elementwise(ir.OpAdd, a, b) }
func (l *lowerer) mul(a, b *value) (*value, error) { return l.elementwise(ir.OpMul, a, b) }

// scale multiplies v by a scalar.
func (l *lowerer) scale(v *value, s float64) *value {
	if v.isConst() {
		return constValue(mapConst(v.c, func(x float64) float64 { return s * x }))
	}
	b := ir.NewBuilder(v.size(), v.size())
	for i := range v.size() {
		b.Add(i, i, s)
	}
	lin, _ := b.Build(nil, "scale") // diagonal entries: cannot fail
	if len(v.shape) >= 3 {
		lin.Geometry = ir.SameGeometry(len(v.shape) - 2)
	}
	return l.linear(v, lin, v.shape)
}

func (l *lowerer) neg(v *value) *value { return l.scale(v, -1) }

func lowerDiv(l *lowerer, a, b *value) (*value, error) {
	integer := isIntegerType(l.types[l.node.Inputs[0]])
	if integer && !a.isConst() {
		return nil, l.errorf("integer division of an encrypted dividend truncates the quotient toward zero, which is not continuous: no polynomial approximates it")
	}
	if !b.isConst() {
		return nil, l.errorf("the divisor depends on the encrypted input; only division by a constant is supported")
	}
	for _, v := range b.c.Data {
		if v == 0 {
			return nil, l.fail(ErrModel, "division by a constant that holds 0")
		}
	}
	if integer {
		// ONNX truncates an integer quotient toward zero.
		out, err := l.broadcastShape(a.shape, b.shape)
		if err != nil {
			return nil, err
		}
		ab, _ := l.broadcastTo(a, out)
		bb, _ := l.broadcastTo(b, out)
		q := &ir.Tensor{Shape: out, Data: make([]float64, len(ab.c.Data))}
		for i := range q.Data {
			q.Data[i] = math.Trunc(ab.c.Data[i] / bb.c.Data[i])
		}
		return constValue(q), nil
	}
	return l.mul(a, constValue(mapConst(b.c, func(x float64) float64 { return 1 / x })))
}

func lowerPow(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	et, err := l.constInput(ins, 1, "exponent")
	if err != nil {
		return nil, err
	}
	if x.isConst() {
		b, err := l.broadcastShape(x.shape, et.Shape)
		if err != nil {
			return nil, err
		}
		xb, _ := l.broadcastTo(x, b)
		eb, _ := l.broadcastTo(constValue(et), b)
		out := &ir.Tensor{Shape: b, Data: make([]float64, len(xb.c.Data))}
		for i := range out.Data {
			out.Data[i] = math.Pow(xb.c.Data[i], eb.c.Data[i])
		}
		return []*value{constValue(out)}, nil
	}
	for _, e := range et.Data {
		if e != math.Trunc(e) || e < 0 || e > 8 {
			return nil, l.errorf("exponent %v is not supported (integers 0 to 8)", e)
		}
	}
	out, err := l.broadcastShape(x.shape, et.Shape)
	if err != nil {
		return nil, err
	}
	if x, err = l.broadcastTo(x, out); err != nil {
		return nil, err
	}
	eb, err := l.broadcastTo(constValue(et), out)
	if err != nil {
		return nil, err
	}
	// x^e = Σ_k [e = k]·x^k over the distinct exponents k: one power per
	// exponent (shared), and masks that fold into affine maps.
	exps := slices.Compact(slices.Sorted(slices.Values(eb.c.Data)))
	powers := map[int]*value{1: x}
	var sum *value
	for _, e := range exps {
		term, err := l.power(x, int(e), powers)
		if err != nil {
			return nil, err
		}
		if len(exps) > 1 {
			mask := mapConst(eb.c, func(v float64) float64 { return boolValue(v == e) })
			if term, err = l.mul(term, constValue(mask)); err != nil {
				return nil, err
			}
		}
		if sum == nil {
			sum = term
		} else if sum, err = l.add(sum, term); err != nil {
			return nil, err
		}
	}
	return []*value{sum}, nil
}

// power computes x^k (k ≥ 0) at depth ⌈log2 k⌉, as x^k = (x^(k/2))² for
// even k and x^h·x^(k−h) for odd k, h the largest power of two below k;
// powers memoises them so that several exponents share their squares.
func (l *lowerer) power(x *value, k int, powers map[int]*value) (*value, error) {
	if k == 0 {
		return constValue(mapConst(ir.NewTensor(x.shape...), func(float64) float64 { return 1 })), nil
	}
	if p, ok := powers[k]; ok {
		return p, nil
	}
	h := k / 2
	if k%2 == 1 {
		h = 1 << (bits.Len(uint(k)) - 1)
	}
	a, err := l.power(x, h, powers)
	if err != nil {
		return nil, err
	}
	b, err := l.power(x, k-h, powers)
	if err != nil {
		return nil, err
	}
	p, err := l.mul(a, b)
	if err != nil {
		return nil, err
	}
	powers[k] = p
	return p, nil
}

func variadic(mean bool) lowerFunc {
	return func(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
		if len(ins) == 0 {
			return nil, l.fail(ErrModel, "no inputs")
		}
		sum, err := l.input(ins, 0)
		if err != nil {
			return nil, err
		}
		for i := 1; i < len(ins); i++ {
			v, err := l.input(ins, i)
			if err != nil {
				return nil, err
			}
			if sum, err = l.add(sum, v); err != nil {
				return nil, err
			}
		}
		if mean {
			sum = l.scale(sum, 1/float64(len(ins)))
		}
		return []*value{sum}, nil
	}
}

// applyActivation evaluates a constant now and emits an Activation node
// for an encrypted tensor (approx-activations replaces it).
func (l *lowerer) applyActivation(x *value, a *ir.Activation) *value {
	if x.isConst() {
		return constValue(mapConst(x.c, a.Eval))
	}
	return l.emit(&ir.Node{Op: ir.OpActivation, Inputs: []*ir.Node{l.irNode(x)}, Shape: slices.Clone(x.shape), Act: a})
}

func activation(fn string) lowerFunc {
	return unary(func(l *lowerer, x *value) (*value, error) {
		return l.applyActivation(x, &ir.Activation{Func: fn}), nil
	})
}

func lowerLeakyRelu(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	alpha, err := n.AttrFloat("alpha", 0.01)
	if err != nil {
		return nil, err
	}
	return unary(func(l *lowerer, x *value) (*value, error) {
		return l.applyActivation(x, &ir.Activation{Func: "leaky_relu", Alpha: alpha}), nil
	})(l, n, ins)
}

func lowerClip(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	lo, hi := math.Inf(-1), math.Inf(1)
	if l.since >= 11 {
		for i, bound := range []*float64{&lo, &hi} {
			t, err := l.optionalConst(ins, i+1, []string{"min", "max"}[i])
			if err != nil {
				return nil, err
			}
			if t != nil && len(t.Data) == 1 {
				*bound = t.Data[0]
			}
		}
	} else {
		if lo, err = n.AttrFloat("min", lo); err != nil {
			return nil, err
		}
		if hi, err = n.AttrFloat("max", hi); err != nil {
			return nil, err
		}
	}
	if lo > hi {
		return nil, l.fail(ErrModel, "min %g exceeds max %g", lo, hi)
	}
	relu := &ir.Activation{Func: "relu"}
	switch {
	case math.IsInf(lo, -1) && math.IsInf(hi, 1):
		return []*value{x}, nil
	case math.IsInf(hi, 1):
		// One bound is a ReLU: lo + relu(x − lo) is approximated on the
		// range of x − lo, with no second corner to fit.
		v, err := l.add(x, constValue(&ir.Tensor{Shape: []int{}, Data: []float64{-lo}}))
		if err != nil {
			return nil, err
		}
		v, err = l.add(l.applyActivation(v, relu), constValue(&ir.Tensor{Shape: []int{}, Data: []float64{lo}}))
		return []*value{v}, err
	case math.IsInf(lo, -1):
		// hi − relu(hi − x)
		v, err := l.add(l.neg(x), constValue(&ir.Tensor{Shape: []int{}, Data: []float64{hi}}))
		if err != nil {
			return nil, err
		}
		v, err = l.add(l.neg(l.applyActivation(v, relu)), constValue(&ir.Tensor{Shape: []int{}, Data: []float64{hi}}))
		return []*value{v}, err
	}
	return []*value{l.applyActivation(x, &ir.Activation{Func: "clip", Lo: lo, Hi: hi})}, nil
}

// lowerPRelu uses prelu(x) = slope·x + (1-slope)·relu(x), so that only the
// ReLU needs approximating.
func lowerPRelu(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	slope, err := l.constInput(ins, 1, "slope")
	if err != nil {
		return nil, err
	}
	// Before opset 7 a vector slope holds one value per channel (axis 1).
	if l.since < 7 && len(slope.Shape) == 1 && len(x.shape) > 2 && slope.Shape[0] == x.shape[1] {
		shape := make([]int, len(x.shape)-1)
		for i := range shape {
			shape[i] = 1
		}
		shape[0] = slope.Shape[0]
		slope = &ir.Tensor{Shape: shape, Data: slope.Data}
	}
	lin, err := l.mul(x, constValue(slope))
	if err != nil {
		return nil, err
	}
	relu := l.applyActivation(x, &ir.Activation{Func: "relu"})
	rest, err := l.mul(relu, constValue(mapConst(slope, func(s float64) float64 { return 1 - s })))
	if err != nil {
		return nil, err
	}
	v, err := l.add(lin, rest)
	return []*value{v}, err
}

func lowerPost(kind string) lowerFunc {
	return func(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
		x, err := l.input(ins, 0)
		if err != nil {
			return nil, err
		}
		r := len(x.shape)
		def := int64(-1)
		if kind != ir.PostArgMax && l.since < 13 {
			def = 1
		}
		if kind == ir.PostArgMax {
			def = 0
		}
		axis, err := l.axisAttr(n, def, r)
		if err != nil {
			return nil, err
		}
		if axis != r-1 {
			return nil, l.errorf("axis %d is not the last axis of shape %v; only the last axis is supported", axis, x.shape)
		}
		if kind == ir.PostArgMax {
			if keep, err := n.AttrInt("keepdims", 1); err != nil || keep != 1 {
				return nil, l.errorf("keepdims=0 is not supported")
			}
			if last, _ := n.AttrInt("select_last_index", 0); last != 0 {
				return nil, l.errorf("select_last_index=1 is not supported")
			}
		}
		if x.isConst() {
			t, err := ir.ApplyPost(kind, x.c)
			if err != nil {
				return nil, l.errorf("%v", err)
			}
			return []*value{constValue(t)}, nil
		}
		return []*value{{shape: x.shape, n: x.n, post: kind}}, nil
	}
}
