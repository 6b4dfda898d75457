package compiler

import (
	"fmt"
	"math"
	"slices"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
)

// constInput returns input i, which must be a constant (a weight, a shape,
// axes …); what names it in the error.
func (l *lowerer) constInput(ins []*value, i int, what string) (*ir.Tensor, error) {
	if i >= len(ins) || ins[i] == nil {
		return nil, l.errorf("%s (input %d) is missing", what, i)
	}
	if !ins[i].isConst() {
		return nil, l.errorf("%s (input %d) depends on the encrypted input; it must be a constant", what, i)
	}
	return ins[i].c, nil
}

// optionalConst returns input i if present, else nil.
func (l *lowerer) optionalConst(ins []*value, i int, what string) (*ir.Tensor, error) {
	if i >= len(ins) || ins[i] == nil {
		return nil, nil
	}
	return l.constInput(ins, i, what)
}

// input returns required input i.
func (l *lowerer) input(ins []*value, i int) (*value, error) {
	if i >= len(ins) || ins[i] == nil {
		return nil, l.fail(ErrModel, "input %d is missing", i)
	}
	return ins[i], nil
}

// inputPair returns required inputs 0 and 1.
func (l *lowerer) inputPair(ins []*value) (a, b *value, err error) {
	if a, err = l.input(ins, 0); err != nil {
		return nil, nil, err
	}
	if b, err = l.input(ins, 1); err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

// ints converts a constant of integers (shapes, axes, indices) to []int,
// refusing values that are not integers or are implausibly large.
func (l *lowerer) ints(t *ir.Tensor, what string) ([]int, error) {
	out := make([]int, len(t.Data))
	for i, v := range t.Data {
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return nil, l.errorf("%s holds %v, not an integer", what, v)
		}
		out[i] = int(clampInt(v))
	}
	return out, nil
}

// clampInt keeps ONNX's INT64_MAX/MIN sentinels (used by Slice for "to the
// end") representable.
func clampInt(v float64) float64 { return math.Max(math.Min(v, 1<<62), -(1 << 62)) }

// int64sToInts converts attribute ints; nil (an absent attribute) stays nil.
func int64sToInts(v []int64) []int {
	if v == nil {
		return nil
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(max(min(x, 1<<62), -(1 << 62)))
	}
	return out
}

// axisAttr reads node n's axis attribute (def when absent) and normalises
// it for a tensor of rank r.
func (l *lowerer) axisAttr(n *onnx.Node, def int64, r int) (int, error) {
	a, err := n.AttrInt("axis", def)
	if err != nil {
		return 0, err
	}
	return l.axis(int(a), r)
}

// axis normalises a possibly negative axis for a tensor of rank r.
func (l *lowerer) axis(a, r int) (int, error) {
	if a < -r || a >= r {
		return 0, l.errorf("axis %d is out of range for rank %d", a, r)
	}
	if a < 0 {
		a += r
	}
	return a, nil
}

// broadcastShape is numpy's broadcast of two shapes.
func (l *lowerer) broadcastShape(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := range n {
		da, db := dimFromEnd(a, n-1-i), dimFromEnd(b, n-1-i)
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, l.fail(ErrModel, "shapes %v and %v cannot be broadcast", a, b)
		}
	}
	return out, nil
}

func dimFromEnd(s []int, k int) int {
	if k < len(s) {
		return s[len(s)-1-k]
	}
	return 1
}

// broadcastTo expands v to shape out (numpy rules). A constant is
// materialised; an encrypted tensor gets a replicating selection map.
func (l *lowerer) broadcastTo(v *value, out []int) (*value, error) {
	if slices.Equal(v.shape, out) {
		return v, nil
	}
	if v.size() == ir.NumElements(out) {
		return l.reshape(v, out), nil // only axes of size 1 were added
	}
	in := v.shape
	strides := ir.Strides(in)
	off := len(out) - len(in)
	return l.selection(v, out, "broadcast", 0, func(o []int) (int, bool) {
		i := 0
		for a := range in {
			if in[a] != 1 {
				i += o[a+off] * strides[a]
			}
		}
		return i, true
	})
}

// mapConst applies f element-wise to a constant.
func mapConst(t *ir.Tensor, f func(float64) float64) *ir.Tensor {
	out := &ir.Tensor{Shape: t.Shape, Data: make([]float64, len(t.Data))}
	for i, v := range t.Data {
		out.Data[i] = f(v)
	}
	return out
}

// unravel converts a flat index to a multi-index.
func unravel(i int, shape []int, idx []int) {
	for a := len(shape) - 1; a >= 0; a-- {
		idx[a] = i % shape[a]
		i /= shape[a]
	}
}

func checkFinite(t *ir.Tensor, what string) error {
	for _, v := range t.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s holds %v", what, v)
		}
	}
	return nil
}

// ones is a list of k ones (default strides and dilations).
func ones(k int) []int {
	v := make([]int, k)
	for i := range v {
		v[i] = 1
	}
	return v
}

// forEach calls f for every multi-index of shape.
func forEach(shape []int, f func(idx []int)) {
	n := ir.NumElements(shape)
	idx := make([]int, len(shape))
	for range n {
		f(idx)
		next(idx, shape)
	}
}

// firstErr is the first non-nil error, for reading several attributes.
func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// transpose permutes the axes of v: out axis i is v's axis perm[i].
func (l *lowerer) transpose(v *value, perm []int) (*value, error) {
	r := len(v.shape)
	if len(perm) != r {
		return nil, l.fail(ErrModel, "perm %v for rank %d", perm, r)
	}
	seen := make([]bool, r)
	out := make([]int, r)
	for i, p := range perm {
		if p < 0 || p >= r || seen[p] {
			return nil, l.fail(ErrModel, "perm %v is not a permutation", perm)
		}
		seen[p] = true
		out[i] = v.shape[p]
	}
	strides := ir.Strides(v.shape)
	return l.selection(v, out, "transpose", 0, func(o []int) (int, bool) {
		src := 0
		for i, p := range perm {
			src += o[i] * strides[p]
		}
		return src, true
	})
}

// boolValue is ONNX's encoding of a bool as a number.
func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// product multiplies values as a balanced tree: depth ⌈log2 len⌉.
func (l *lowerer) product(factors []*value) (*value, error) {
	for len(factors) > 1 {
		var next []*value
		for i := 0; i+1 < len(factors); i += 2 {
			p, err := l.mul(factors[i], factors[i+1])
			if err != nil {
				return nil, err
			}
			next = append(next, p)
		}
		if len(factors)%2 == 1 {
			next = append(next, factors[len(factors)-1])
		}
		factors = next
	}
	return factors[0], nil
}
