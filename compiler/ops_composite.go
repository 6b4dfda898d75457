package compiler

import (
	"slices"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
)

// Operators that are exact compositions of affine maps, products and the
// activations the IR approximates: they cost what their parts cost, and
// their error is that of the approximated activations they contain.

var compositeOps = []opEntry{
	{"Abs", 1, unary(func(l *lowerer, x *value) (*value, error) { return l.abs(x) }), "|x| = 2·relu(x) − x: one approximated ReLU"},
	{"HardSigmoid", 1, lowerHardSigmoid, "alpha, beta: clip(alpha·x + beta, 0, 1), approximated"},
	{"HardSwish", 14, lowerHardSwish, "x · clip(x/6 + 1/2, 0, 1): an approximated clip and one product"},
	{"Shrink", 9, lowerShrink,
		"soft shrinkage (bias = lambd): relu(x − λ) − relu(−x − λ), approximated; hard shrinkage is discontinuous and refused"},
	{"Max", 1, lowerMinMax(true),
		"numpy broadcasting; max(a, b) = a + relu(b − a), approximated: constants combined exactly, encrypted operands as a balanced tree (⌈log2 k⌉ ReLU levels)"},
	{"Min", 1, lowerMinMax(false),
		"numpy broadcasting; min(a, b) = a − relu(a − b), approximated: constants combined exactly, encrypted operands as a balanced tree (⌈log2 k⌉ ReLU levels)"},
	{"ArgMin", 1, lowerArgMin, "argmax of −x: last op on the last axis, keepdims=1, applied after decryption"},
	{"Det", 11, lowerDet, "matrices up to 4×4 (Leibniz expansion): depth ⌈log2 n⌉"},
}

// abs is |x| = 2·relu(x) − x, which needs one ReLU approximation.
func (l *lowerer) abs(x *value) (*value, error) {
	relu := l.applyActivation(x, &ir.Activation{Func: "relu"})
	return l.add(l.scale(relu, 2), l.neg(x))
}

// hardSigmoid is clip(alpha·x + beta, 0, 1).
func (l *lowerer) hardSigmoid(x *value, alpha, beta float64) (*value, error) {
	y, err := l.add(l.scale(x, alpha), constValue(&ir.Tensor{Shape: []int{}, Data: []float64{beta}}))
	if err != nil {
		return nil, err
	}
	return l.applyActivation(y, &ir.Activation{Func: "clip", Lo: 0, Hi: 1}), nil
}

func lowerHardSigmoid(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	alpha, err1 := n.AttrFloat("alpha", 0.2)
	beta, err2 := n.AttrFloat("beta", 0.5)
	if err := firstErr(err1, err2); err != nil {
		return nil, err
	}
	return unary(func(l *lowerer, x *value) (*value, error) { return l.hardSigmoid(x, alpha, beta) })(l, n, ins)
}

func lowerHardSwish(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	return unary(func(l *lowerer, x *value) (*value, error) {
		h, err := l.hardSigmoid(x, 1.0/6, 0.5)
		if err != nil {
			return nil, err
		}
		return l.mul(x, h)
	})(l, n, ins)
}

func lowerShrink(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	lambd, err1 := n.AttrFloat("lambd", 0.5)
	bias, err2 := n.AttrFloat("bias", 0)
	if err := firstErr(err1, err2); err != nil {
		return nil, err
	}
	if lambd < 0 {
		return nil, l.fail(ErrModel, "lambd %g is negative", lambd)
	}
	if bias != lambd {
		return nil, l.errorf("bias %g ≠ lambd %g makes Shrink jump at ±lambd: no polynomial approximates a discontinuity (soft shrinkage, bias = lambd, is supported)", bias, lambd)
	}
	return unary(func(l *lowerer, x *value) (*value, error) {
		// Soft shrinkage: x − λ above λ, x + λ below −λ, 0 between.
		shift := constValue(&ir.Tensor{Shape: []int{}, Data: []float64{-lambd}})
		up, err := l.add(x, shift)
		if err != nil {
			return nil, err
		}
		down, err := l.add(l.neg(x), shift)
		if err != nil {
			return nil, err
		}
		relu := &ir.Activation{Func: "relu"}
		return l.add(l.applyActivation(up, relu), l.neg(l.applyActivation(down, relu)))
	})(l, n, ins)
}

// lowerMinMax combines the constant operands exactly, the encrypted ones
// as a balanced tree of max(a, b) = a + relu(b − a) or min(a, b) = a −
// relu(a − b) (⌈log2 k⌉ levels of ReLU for k of them), then the two.
func lowerMinMax(isMax bool) lowerFunc {
	return func(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
		if len(ins) == 0 {
			return nil, l.fail(ErrModel, "no inputs")
		}
		var c *value
		var enc []*value
		for i := range ins {
			v, err := l.input(ins, i)
			if err != nil {
				return nil, err
			}
			switch {
			case !v.isConst():
				enc = append(enc, v)
			case c == nil:
				c = v
			default:
				if c, err = l.minMax(c, v, isMax); err != nil {
					return nil, err
				}
			}
		}
		for len(enc) > 1 {
			h := (len(enc) + 1) / 2
			for j := 0; j+h < len(enc); j++ {
				var err error
				if enc[j], err = l.minMax(enc[j], enc[j+h], isMax); err != nil {
					return nil, err
				}
			}
			enc = enc[:h]
		}
		switch {
		case len(enc) == 0:
			return []*value{c}, nil
		case c == nil:
			return []*value{enc[0]}, nil
		}
		v, err := l.minMax(enc[0], c, isMax)
		return []*value{v}, err
	}
}

func (l *lowerer) minMax(a, b *value, isMax bool) (*value, error) {
	if a.isConst() && b.isConst() {
		out, err := l.broadcastShape(a.shape, b.shape)
		if err != nil {
			return nil, err
		}
		ab, _ := l.broadcastTo(a, out)
		bb, _ := l.broadcastTo(b, out)
		t := ir.NewTensor(out...)
		for i := range t.Data {
			if isMax {
				t.Data[i] = max(ab.c.Data[i], bb.c.Data[i])
			} else {
				t.Data[i] = min(ab.c.Data[i], bb.c.Data[i])
			}
		}
		return constValue(t), nil
	}
	if isMax {
		d, err := l.add(b, l.neg(a))
		if err != nil {
			return nil, err
		}
		return l.add(a, l.applyActivation(d, &ir.Activation{Func: "relu"}))
	}
	d, err := l.add(a, l.neg(b))
	if err != nil {
		return nil, err
	}
	return l.add(a, l.neg(l.applyActivation(d, &ir.Activation{Func: "relu"})))
}

func lowerArgMin(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	// The first minimum of x is the first maximum of −x.
	return lowerPost(ir.PostArgMax)(l, n, []*value{l.neg(x)})
}

// lowerDet expands the determinant of the last two axes by Leibniz's
// formula: n! products of n selected elements, depth ⌈log2 n⌉.
func lowerDet(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	r := len(x.shape)
	if r < 2 || x.shape[r-1] != x.shape[r-2] {
		return nil, l.fail(ErrModel, "input %v is not a batch of square matrices", x.shape)
	}
	size := x.shape[r-1]
	if size > 4 {
		return nil, l.errorf("determinants of %d×%d matrices are not supported (at most 4×4: 24 products)", size, size)
	}
	batch := x.shape[:r-2]
	bStrides := ir.Strides(batch)
	// element (i, j) of every matrix, as a tensor of the batch shape
	elem := func(i, j int) (*value, error) {
		return l.selection(x, batch, "det element", 0, func(o []int) (int, bool) {
			m := 0
			for a := range o {
				m += o[a] * bStrides[a]
			}
			return m*size*size + i*size + j, true
		})
	}
	var det *value
	for _, p := range permutations(size) {
		var factors []*value
		for i, j := range p.perm {
			e, err := elem(i, j)
			if err != nil {
				return nil, err
			}
			factors = append(factors, e)
		}
		term, err := l.product(factors)
		if err != nil {
			return nil, err
		}
		if p.sign < 0 {
			term = l.neg(term)
		}
		if det == nil {
			det = term
		} else if det, err = l.add(det, term); err != nil {
			return nil, err
		}
	}
	return []*value{det}, nil
}

// signedPerm is a permutation with its sign.
type signedPerm struct {
	perm []int
	sign int
}

// permutations lists the permutations of 0…n-1 with their signs.
func permutations(n int) []signedPerm {
	if n == 0 {
		return []signedPerm{{sign: 1}}
	}
	var out []signedPerm
	for _, p := range permutations(n - 1) {
		// Insert n-1 at every position; moving it left past k elements
		// takes k transpositions.
		for pos := len(p.perm); pos >= 0; pos-- {
			perm := slices.Insert(slices.Clone(p.perm), pos, n-1)
			sign := p.sign
			if (len(p.perm)-pos)%2 == 1 {
				sign = -sign
			}
			out = append(out, signedPerm{perm: perm, sign: sign})
		}
	}
	return out
}
