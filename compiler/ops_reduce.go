package compiler

import (
	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
)

// The Reduce family took its axes as an attribute until ReduceSum-13 and
// the others' opset 18 made them an optional input.
var reduceOps = []opEntry{
	{"ReduceSum", 1, lowerReduce(reduceSum, axesAttribute), "axes attribute, keepdims"},
	{"ReduceSum", 13, lowerReduce(reduceSum, axesInput), "constant axes input, keepdims, noop_with_empty_axes"},
	{"ReduceMean", 1, lowerReduce(reduceMean, axesAttribute), "axes attribute, keepdims"},
	{"ReduceMean", 18, lowerReduce(reduceMean, axesInput), "constant axes input, keepdims, noop_with_empty_axes"},
	{"ReduceSumSquare", 1, lowerReduce(reduceSumSquare, axesAttribute), "axes attribute, keepdims; x·x costs one level"},
	{"ReduceSumSquare", 18, lowerReduce(reduceSumSquare, axesInput), "constant axes input, keepdims, noop_with_empty_axes; x·x costs one level"},
	{"ReduceL1", 1, lowerReduce(reduceL1, axesAttribute), "axes attribute, keepdims; |x| = 2·relu(x) − x, approximated"},
	{"ReduceL1", 18, lowerReduce(reduceL1, axesInput),
		"constant axes input, keepdims, noop_with_empty_axes; |x| = 2·relu(x) − x, approximated"},
	{"ReduceMax", 1, lowerReduce(reduceMax, axesAttribute), "axes attribute, keepdims; " + reduceMaxNotes},
	{"ReduceMax", 18, lowerReduce(reduceMax, axesInput), "constant axes input, keepdims, noop_with_empty_axes; " + reduceMaxNotes},
	{"ReduceMin", 1, lowerReduce(reduceMin, axesAttribute), "axes attribute, keepdims; −max(−x): " + reduceMaxNotes},
	{"ReduceMin", 18, lowerReduce(reduceMin, axesInput), "constant axes input, keepdims, noop_with_empty_axes; −max(−x): " + reduceMaxNotes},
	{"ReduceProd", 1, lowerReduce(reduceProd, axesAttribute), "axes attribute, keepdims; groups of at most 64 elements, depth ⌈log2 k⌉"},
	{"ReduceProd", 18, lowerReduce(reduceProd, axesInput), "constant axes input, keepdims, noop_with_empty_axes; groups of at most 64 elements"},
}

const reduceMaxNotes = "max(a, b) = b + relu(a − b) as a balanced tree of approximated ReLUs: ⌈log2 k⌉ levels for k elements"

// axisMask marks the axes of a tensor of rank r that a reduction removes.
func (l *lowerer) axisMask(axes []int, r int) ([]bool, error) {
	red := make([]bool, r)
	for _, a := range axes {
		a, err := l.axis(a, r)
		if err != nil {
			return nil, err
		}
		red[a] = true
	}
	return red, nil
}

// reduce sums (or averages) v over axes.
func (l *lowerer) reduce(v *value, axes []int, keep, mean bool, desc string) (*value, error) {
	r := len(v.shape)
	red, err := l.axisMask(axes, r)
	if err != nil {
		return nil, err
	}
	var out, kept []int
	count := 1
	for d := range r {
		switch {
		case !red[d]:
			out, kept = append(out, v.shape[d]), append(kept, v.shape[d])
		case keep:
			out, kept = append(out, 1), append(kept, 1)
			count *= v.shape[d]
		default:
			kept = append(kept, 1)
			count *= v.shape[d]
		}
	}
	w := 1.0
	if mean {
		w = 1 / float64(count)
	}
	kStr := ir.Strides(kept)
	b := ir.NewBuilder(ir.NumElements(out), v.size())
	col := 0
	forEach(v.shape, func(idx []int) {
		row := 0
		for d := range r {
			if !red[d] {
				row += idx[d] * kStr[d]
			}
		}
		b.Add(row, col, w)
		col++
	})
	lin, err := b.Build(nil, desc)
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	return l.linear(v, lin, out), nil
}

// Reductions: each is an element-wise part (none, x², |x|) followed by a
// sum, a mean or a product over the axes.
const (
	reduceSum       = "sum"
	reduceMean      = "mean"
	reduceSumSquare = "sum of squares"
	reduceL1        = "L1 norm"
	reduceProd      = "product"
	reduceMax       = "max"
	reduceMin       = "min"
)

// axesSource says where a version of a Reduce op reads its axes.
type axesSource int

const (
	axesAttribute axesSource = iota
	axesInput
)

func lowerReduce(kind string, from axesSource) lowerFunc {
	return func(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
		x, err := l.input(ins, 0)
		if err != nil {
			return nil, err
		}
		keep, err1 := n.AttrInt("keepdims", 1)
		noop, err2 := n.AttrInt("noop_with_empty_axes", 0)
		if err := firstErr(err1, err2); err != nil {
			return nil, err
		}
		var axes []int
		if from == axesInput {
			t, err := l.optionalConst(ins, 1, "axes")
			if err != nil {
				return nil, err
			}
			if t != nil {
				if axes, err = l.ints(t, "axes"); err != nil {
					return nil, err
				}
			}
		} else {
			a, err := n.AttrInts("axes", nil)
			if err != nil {
				return nil, err
			}
			axes = int64sToInts(a)
		}
		switch kind {
		case reduceSumSquare:
			x, err = l.mul(x, x)
		case reduceL1:
			x, err = l.abs(x)
		}
		if err != nil {
			return nil, err
		}
		if len(axes) == 0 {
			if noop != 0 {
				return []*value{x}, nil
			}
			for d := range x.shape {
				axes = append(axes, d)
			}
		}
		var v *value
		switch kind {
		case reduceProd:
			v, err = l.reduceProduct(x, axes, keep != 0)
		case reduceMax:
			v, err = l.reduceMax(x, axes, keep != 0)
		case reduceMin:
			if v, err = l.reduceMax(l.neg(x), axes, keep != 0); err == nil {
				v = l.neg(v)
			}
		default:
			v, err = l.reduce(x, axes, keep != 0, kind == reduceMean, "reduce "+kind)
		}
		return []*value{v}, err
	}
}

// reduceProduct multiplies the elements of v over axes: the k-th element of
// every group is picked by a selection, and the selections are multiplied
// as a balanced tree (depth ⌈log2 k⌉ for groups of k).
func (l *lowerer) reduceProduct(v *value, axes []int, keep bool) (*value, error) {
	r := len(v.shape)
	red, err := l.axisMask(axes, r)
	if err != nil {
		return nil, err
	}
	var out, kept, group []int
	for d := range r {
		switch {
		case !red[d]:
			out, kept = append(out, v.shape[d]), append(kept, v.shape[d])
		case keep:
			out = append(out, 1)
			group = append(group, v.shape[d])
		default:
			group = append(group, v.shape[d])
		}
	}
	count := ir.NumElements(group)
	if v.isConst() {
		t := &ir.Tensor{Shape: out, Data: make([]float64, ir.NumElements(out))}
		for i := range t.Data {
			t.Data[i] = 1
		}
		kStr := ir.Strides(kept)
		col := 0
		forEach(v.shape, func(idx []int) {
			row, k := 0, 0
			for d := range r {
				if !red[d] {
					row += idx[d] * kStr[k]
					k++
				}
			}
			t.Data[row] *= v.c.Data[col]
			col++
		})
		return constValue(t), nil
	}
	if count > 64 {
		return nil, l.errorf("a product of %d elements is not supported (at most 64, depth 6)", count)
	}
	strides := ir.Strides(v.shape)
	factors := make([]*value, count)
	gi := make([]int, len(group))
	for j := range count {
		unravel(j, group, gi)
		var err error
		factors[j], err = l.selection(v, kept, "reduce product", 0, func(o []int) (int, bool) {
			src, ko, gk := 0, 0, 0
			for d := range r {
				if red[d] {
					src += gi[gk] * strides[d]
					gk++
				} else {
					src += o[ko] * strides[d]
					ko++
				}
			}
			return src, true
		})
		if err != nil {
			return nil, err
		}
	}
	p, err := l.product(factors)
	if err != nil {
		return nil, err
	}
	return l.reshape(p, out), nil
}
