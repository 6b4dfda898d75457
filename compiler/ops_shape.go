package compiler

import (
	"math"
	"slices"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
)

var shapeOps = []opEntry{
	{"Identity", 1, lowerIdentity, "free"},
	{"Dropout", 1, lowerDropout, "inference: the identity; the mask output is all ones"},
	{"Constant", 1, lowerConstant, "value, value_float(s), value_int(s); not sparse or string values"},
	{"Flatten", 1, lowerFlatten, "free on an encrypted tensor (a view)"},
	{"Reshape", 1, lowerReshapeAttr, "shape attribute"},
	{"Reshape", 5, lowerReshape, "constant shape input (after folding); 0 copies a dimension, -1 infers one; allowzero"},
	{"Shape", 1, lowerShape, "static shapes; start/end (opset 15)"},
	{"Size", 1, lowerSize, "a constant (static shapes)"},
	{"Gather", 1, lowerGather, "constant indices; on an encrypted tensor an affine selection"},
	{"Unsqueeze", 1, lowerUnsqueeze, "axes attribute"},
	{"Unsqueeze", 13, lowerUnsqueeze, "constant axes input"},
	{"Squeeze", 1, lowerSqueeze, "axes attribute"},
	{"Squeeze", 13, lowerSqueeze, "constant axes input"},
	{"Concat", 1, lowerConcat, "any mix of constant and encrypted inputs (affine embeddings summed)"},
	{"Cast", 1, lowerCast, "to floating types on any tensor (an encrypted value keeps CKKS precision: no rounding to float16/bfloat16); " +
		"to integer or bool types on constants only"},
	{"Slice", 1, lowerSlice, "starts/ends/axes attributes"},
	{"Slice", 10, lowerSlice, "constant starts/ends/axes/steps inputs; on an encrypted tensor an affine selection"},
	{"Transpose", 1, lowerTranspose, "an affine permutation on an encrypted tensor"},
	{"Pad", 1, lowerPad, "pads/value attributes; modes constant, reflect, edge"},
	{"Pad", 11, lowerPad, "constant pads/constant_value inputs; modes constant, reflect, edge"},
	{"ConstantOfShape", 9, lowerConstantOfShape, "constant shape; folded at compile time"},
	{"Expand", 8, lowerExpand, "constant shape; replicates an encrypted tensor affinely"},
	{"Range", 11, lowerRange, "constant inputs"},
	{"EyeLike", 9, lowerEyeLike, "a constant (only the input's shape is read)"},
}

func lowerIdentity(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	return []*value{x}, err
}

func lowerDropout(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	if len(ins) > 2 && ins[2] != nil {
		mode, err := l.constInput(ins, 2, "training_mode")
		if err != nil {
			return nil, err
		}
		if len(mode.Data) == 1 && mode.Data[0] != 0 {
			return nil, l.errorf("training_mode=true is not supported (inference only)")
		}
	}
	mask := mapConst(ir.NewTensor(x.shape...), func(float64) float64 { return 1 })
	return []*value{x, constValue(mask)}, nil
}

func lowerConstant(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	for name, a := range n.Attrs {
		switch name {
		case "value":
			if a.T == nil {
				return nil, l.errorf("attribute value is not a tensor")
			}
			return []*value{constValue(a.T)}, nil
		case "value_float":
			return []*value{constValue(&ir.Tensor{Shape: []int{}, Data: []float64{a.F}})}, nil
		case "value_floats":
			return []*value{constValue(&ir.Tensor{Shape: []int{len(a.Floats)}, Data: slices.Clone(a.Floats)})}, nil
		case "value_int":
			return []*value{constValue(&ir.Tensor{Shape: []int{}, Data: []float64{float64(a.I)}})}, nil
		case "value_ints":
			d := make([]float64, len(a.Ints))
			for i, v := range a.Ints {
				d[i] = float64(v)
			}
			return []*value{constValue(&ir.Tensor{Shape: []int{len(d)}, Data: d})}, nil
		default:
			return nil, l.errorf("attribute %s is not supported", name)
		}
	}
	return nil, l.fail(ErrModel, "no value attribute")
}

func lowerFlatten(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	a, err := n.AttrInt("axis", 1)
	if err != nil {
		return nil, err
	}
	r := len(x.shape)
	axis := int(a)
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis > r {
		return nil, l.errorf("axis %d is out of range for rank %d", a, r)
	}
	outer := ir.NumElements(x.shape[:axis])
	return []*value{l.reshape(x, []int{outer, x.size() / max(outer, 1)})}, nil
}

func lowerReshapeAttr(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	s, err := n.AttrInts("shape", nil)
	if err != nil {
		return nil, err
	}
	return l.doReshape(ins, int64sToInts(s), false)
}

func lowerReshape(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	st, err := l.constInput(ins, 1, "shape")
	if err != nil {
		return nil, err
	}
	s, err := l.ints(st, "shape")
	if err != nil {
		return nil, err
	}
	allowZero, err := n.AttrInt("allowzero", 0)
	if err != nil {
		return nil, err
	}
	return l.doReshape(ins, s, allowZero != 0)
}

func (l *lowerer) doReshape(ins []*value, s []int, allowZero bool) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	shape := make([]int, len(s))
	infer, known := -1, 1
	for i, d := range s {
		switch {
		case d == 0 && !allowZero:
			if i >= len(x.shape) {
				return nil, l.errorf("shape %v copies dimension %d, the input has rank %d", s, i, len(x.shape))
			}
			shape[i] = x.shape[i]
		case d == -1:
			if infer >= 0 {
				return nil, l.fail(ErrModel, "shape %v has two -1 dimensions", s)
			}
			infer = i
			continue
		case d < 0:
			return nil, l.fail(ErrModel, "shape %v has a negative dimension", s)
		default:
			shape[i] = d
		}
		known *= shape[i]
		if known > ir.MaxElements {
			return nil, l.fail(ErrModel, "shape %v is too large", s)
		}
	}
	if infer >= 0 {
		if known == 0 || x.size()%known != 0 {
			return nil, l.fail(ErrModel, "cannot reshape %v into %v", x.shape, s)
		}
		shape[infer] = x.size() / known
	}
	if ir.NumElements(shape) != x.size() {
		return nil, l.fail(ErrModel, "cannot reshape %v (%d values) into %v", x.shape, x.size(), shape)
	}
	return []*value{l.reshape(x, shape)}, nil
}

func lowerShape(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	r := int64(len(x.shape))
	start, err := n.AttrInt("start", 0)
	if err != nil {
		return nil, err
	}
	end, err := n.AttrInt("end", r)
	if err != nil {
		return nil, err
	}
	start, end = clampSlice(start, r), clampSlice(end, r)
	var d []float64
	for i := start; i < end; i++ {
		d = append(d, float64(x.shape[i]))
	}
	return []*value{constValue(&ir.Tensor{Shape: []int{len(d)}, Data: d})}, nil
}

func clampSlice(v, r int64) int64 {
	if v < 0 {
		v += r
	}
	return max(0, min(v, r))
}

func lowerSize(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	return []*value{constValue(&ir.Tensor{Shape: []int{}, Data: []float64{float64(x.size())}})}, nil
}

func lowerGather(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	it, err := l.constInput(ins, 1, "indices")
	if err != nil {
		return nil, err
	}
	idx, err := l.ints(it, "indices")
	if err != nil {
		return nil, err
	}
	axis, err := l.axisAttr(n, 0, len(x.shape))
	if err != nil {
		return nil, err
	}
	dim := x.shape[axis]
	for i, v := range idx {
		if v < -dim || v >= dim {
			return nil, l.fail(ErrModel, "index %d is out of range for axis %d of size %d", v, axis, dim)
		}
		if v < 0 {
			idx[i] += dim
		}
	}
	// out shape = x.shape[:axis] + indices.shape + x.shape[axis+1:]
	out := slices.Concat(x.shape[:axis], it.Shape, x.shape[axis+1:])
	strides := ir.Strides(x.shape)
	ir_ := len(it.Shape)
	iStrides := ir.Strides(it.Shape)
	v, err := l.selection(x, out, "gather", 0, func(o []int) (int, bool) {
		src := 0
		for a := 0; a < axis; a++ {
			src += o[a] * strides[a]
		}
		k := 0
		for j := 0; j < ir_; j++ {
			k += o[axis+j] * iStrides[j]
		}
		src += idx[k] * strides[axis]
		for a := axis + 1; a < len(x.shape); a++ {
			src += o[a-1+ir_] * strides[a]
		}
		return src, true
	})
	return []*value{v}, err
}

// axesOf reads the axes of Squeeze and Unsqueeze: an attribute before
// opset 13, input inputIndex since.
func (l *lowerer) axesOf(n *onnx.Node, ins []*value, inputIndex int) ([]int, bool, error) {
	if l.since >= 13 {
		t, err := l.optionalConst(ins, inputIndex, "axes")
		if err != nil || t == nil {
			return nil, false, err
		}
		a, err := l.ints(t, "axes")
		return a, true, err
	}
	a, err := n.AttrInts("axes", nil)
	return int64sToInts(a), a != nil, err
}

func lowerUnsqueeze(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	axes, _, err := l.axesOf(n, ins, 1)
	if err != nil {
		return nil, err
	}
	r := len(x.shape) + len(axes)
	add := make([]bool, r)
	for _, a := range axes {
		a, err := l.axis(a, r)
		if err != nil {
			return nil, err
		}
		if add[a] {
			return nil, l.fail(ErrModel, "axis %d repeated", a)
		}
		add[a] = true
	}
	shape := make([]int, 0, r)
	j := 0
	for i := range r {
		if add[i] {
			shape = append(shape, 1)
		} else {
			shape = append(shape, x.shape[j])
			j++
		}
	}
	return []*value{l.reshape(x, shape)}, nil
}

func lowerSqueeze(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	axes, given, err := l.axesOf(n, ins, 1)
	if err != nil {
		return nil, err
	}
	drop := make([]bool, len(x.shape))
	for _, a := range axes {
		a, err := l.axis(a, len(x.shape))
		if err != nil {
			return nil, err
		}
		if x.shape[a] != 1 {
			return nil, l.fail(ErrModel, "cannot squeeze axis %d of size %d", a, x.shape[a])
		}
		drop[a] = true
	}
	var shape []int
	for i, d := range x.shape {
		if (given && !drop[i]) || (!given && d != 1) {
			shape = append(shape, d)
		}
	}
	return []*value{l.reshape(x, shape)}, nil
}

func lowerConcat(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	if len(ins) == 0 {
		return nil, l.fail(ErrModel, "no inputs")
	}
	first, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	axis, err := l.axisAttr(n, 0, len(first.shape))
	if err != nil {
		return nil, err
	}
	out := slices.Clone(first.shape)
	out[axis] = 0
	for i, v := range ins {
		if v == nil {
			return nil, l.fail(ErrModel, "input %d is missing", i)
		}
		if len(v.shape) != len(out) {
			return nil, l.fail(ErrModel, "input %d has rank %d, input 0 has %d", i, len(v.shape), len(out))
		}
		for d := range out {
			if d != axis && v.shape[d] != first.shape[d] {
				return nil, l.fail(ErrModel, "input %d has shape %v, incompatible with %v along axis %d", i, v.shape, first.shape, axis)
			}
		}
		out[axis] += v.shape[axis]
	}
	// Each input is embedded at its offset along the axis; the embeddings sum.
	var parts []*value
	offset := 0
	for _, v := range ins {
		off, vs := offset, v.shape
		strides := ir.Strides(vs)
		part, err := l.selection(v, out, "concat", 0, func(o []int) (int, bool) {
			k := o[axis] - off
			if k < 0 || k >= vs[axis] {
				return 0, false
			}
			src := 0
			for d := range vs {
				if d == axis {
					src += k * strides[d]
				} else {
					src += o[d] * strides[d]
				}
			}
			return src, true
		})
		if err != nil {
			return nil, err
		}
		parts = append(parts, part)
		offset += v.shape[axis]
	}
	sum := parts[0]
	for _, p := range parts[1:] {
		if sum, err = l.add(sum, p); err != nil {
			return nil, err
		}
	}
	return []*value{sum}, nil
}

// ONNX TensorProto data types that Cast may target.
var castInteger = map[int64]bool{2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 12: true, 13: true}

const castBool = 9

func lowerCast(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	to, err := n.AttrInt("to", 0)
	if err != nil {
		return nil, err
	}
	switch {
	case to == 10 || to == 16: // float16, bfloat16
		// A constant is rounded as the model says; an encrypted value
		// keeps the precision CKKS gives it (rounding is not polynomial).
		if x.isConst() {
			return []*value{constValue(mapConst(x.c, func(v float64) float64 { return roundFloat(v, to == 10) }))}, nil
		}
		return []*value{x}, nil
	case to == 1:
		if x.isConst() {
			return []*value{constValue(mapConst(x.c, func(v float64) float64 { return float64(float32(v)) }))}, nil
		}
		return []*value{x}, nil
	case to == 11: // double
		return []*value{x}, nil
	case castInteger[to] || to == castBool:
		if !x.isConst() {
			return nil, l.errorf("cast of an encrypted tensor to an integer or bool type is not supported")
		}
		f := math.Trunc
		if to == castBool {
			f = func(v float64) float64 {
				if v != 0 {
					return 1
				}
				return 0
			}
		}
		return []*value{constValue(mapConst(x.c, f))}, nil
	}
	return nil, l.errorf("cast to data type %d is not supported", to)
}

// roundFloat rounds v to the nearest float16 (11 significant bits, exponents
// down to −14 with subnormals, overflow to ±Inf at 65520) or bfloat16 (8
// significant bits, float32's exponent range), ties to even.
func roundFloat(v float64, half bool) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	bits, minExp, maxAbs := 8, -126, 0x1.FCp127
	if half {
		bits, minExp, maxAbs = 11, -14, 65504.0
	}
	e := max(math.Ilogb(v), minExp)
	q := math.Ldexp(1, e-bits+1) // spacing of representable values near v
	r := math.RoundToEven(v/q) * q
	if math.Abs(r) > maxAbs {
		return math.Inf(int(math.Copysign(1, v)))
	}
	return r
}

func lowerSlice(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	r := len(x.shape)
	var starts, ends, axes, steps []int
	if l.since >= 10 {
		read := func(i int, what string) ([]int, error) {
			t, err := l.optionalConst(ins, i, what)
			if err != nil || t == nil {
				return nil, err
			}
			return l.ints(t, what)
		}
		if starts, err = read(1, "starts"); err != nil {
			return nil, err
		}
		if ends, err = read(2, "ends"); err != nil {
			return nil, err
		}
		if axes, err = read(3, "axes"); err != nil {
			return nil, err
		}
		if steps, err = read(4, "steps"); err != nil {
			return nil, err
		}
	} else {
		s, err1 := n.AttrInts("starts", nil)
		e, err2 := n.AttrInts("ends", nil)
		a, err3 := n.AttrInts("axes", nil)
		if err := firstErr(err1, err2, err3); err != nil {
			return nil, err
		}
		starts, ends, axes = int64sToInts(s), int64sToInts(e), int64sToInts(a)
	}
	if len(starts) != len(ends) || (axes != nil && len(axes) != len(starts)) || (steps != nil && len(steps) != len(starts)) {
		return nil, l.fail(ErrModel, "starts, ends, axes and steps have different lengths")
	}
	if axes == nil && len(starts) > r {
		return nil, l.fail(ErrModel, "%d starts for a tensor of rank %d", len(starts), r)
	}
	begin, step, out := make([]int, r), make([]int, r), slices.Clone(x.shape)
	for i := range step {
		step[i] = 1
	}
	for i := range starts {
		ax := i
		if axes != nil {
			if ax, err = l.axis(axes[i], r); err != nil {
				return nil, err
			}
		}
		st := 1
		if steps != nil {
			st = steps[i]
		}
		if st == 0 {
			return nil, l.fail(ErrModel, "step 0 on axis %d", ax)
		}
		b, count := sliceRange(starts[i], ends[i], st, x.shape[ax])
		begin[ax], step[ax], out[ax] = b, st, count
	}
	strides := ir.Strides(x.shape)
	v, err := l.selection(x, out, "slice", 0, func(o []int) (int, bool) {
		src := 0
		for a := range o {
			src += (begin[a] + o[a]*step[a]) * strides[a]
		}
		return src, true
	})
	return []*value{v}, err
}

// sliceRange clamps a slice as ONNX specifies and returns its first index
// and element count.
func sliceRange(start, end, step, dim int) (int, int) {
	norm := func(v, lo, hi int) int {
		if v < 0 {
			v += dim
		}
		return max(lo, min(v, hi))
	}
	if step > 0 {
		s, e := norm(start, 0, dim), norm(end, 0, dim)
		return s, max(0, (e-s+step-1)/step)
	}
	s, e := norm(start, 0, dim-1), norm(end, -1, dim-1)
	return s, max(0, (s-e-step-1)/(-step))
}

func lowerTranspose(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	r := len(x.shape)
	permA, err := n.AttrInts("perm", nil)
	if err != nil {
		return nil, err
	}
	perm := int64sToInts(permA)
	if perm == nil {
		for i := range r {
			perm = append(perm, r-1-i)
		}
	}
	v, err := l.transpose(x, perm)
	return []*value{v}, err
}

func lowerPad(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	mode, err := n.AttrString("mode", "constant")
	if err != nil {
		return nil, err
	}
	var pads []int
	fill := 0.0
	if l.since >= 11 {
		pt, err := l.constInput(ins, 1, "pads")
		if err != nil {
			return nil, err
		}
		if pads, err = l.ints(pt, "pads"); err != nil {
			return nil, err
		}
		cv, err := l.optionalConst(ins, 2, "constant_value")
		if err != nil {
			return nil, err
		}
		if cv != nil && len(cv.Data) > 0 {
			fill = cv.Data[0]
		}
		if len(ins) > 3 && ins[3] != nil {
			return nil, l.errorf("the axes input (opset 18) is not supported")
		}
	} else {
		p, err := n.AttrInts("pads", nil)
		if err != nil {
			return nil, err
		}
		pads = int64sToInts(p)
		if fill, err = n.AttrFloat("value", 0); err != nil {
			return nil, err
		}
	}
	r := len(x.shape)
	if len(pads) != 2*r {
		return nil, l.fail(ErrModel, "pads %v has %d values for rank %d (want %d)", pads, len(pads), r, 2*r)
	}
	out := make([]int, r)
	for a := range r {
		out[a] = x.shape[a] + pads[a] + pads[a+r]
		if out[a] <= 0 {
			return nil, l.fail(ErrModel, "pads %v leave axis %d empty", pads, a)
		}
	}
	if mode != "constant" && mode != "reflect" && mode != "edge" {
		return nil, l.errorf("mode %q is not supported (constant, reflect, edge)", mode)
	}
	for a := range r {
		if mode == "reflect" && (pads[a] >= x.shape[a] || pads[a+r] >= x.shape[a]) {
			return nil, l.errorf("reflect padding of %d/%d on an axis of size %d", pads[a], pads[a+r], x.shape[a])
		}
	}
	strides := ir.Strides(x.shape)
	v, err := l.selection(x, out, "pad "+mode, fill, func(o []int) (int, bool) {
		src := 0
		for a := range r {
			i, dim := o[a]-pads[a], x.shape[a]
			if i < 0 || i >= dim {
				switch mode {
				case "constant":
					return 0, false
				case "edge":
					i = max(0, min(i, dim-1))
				case "reflect":
					if i < 0 {
						i = -i
					} else {
						i = 2*(dim-1) - i
					}
				}
			}
			src += i * strides[a]
		}
		return src, true
	})
	// Output position o reads input position o − pad on every spatial axis.
	if err == nil && !v.isConst() && r >= 3 && pads[0] == 0 && pads[1] == 0 && pads[r] == 0 && pads[r+1] == 0 {
		v.n.Linear.Geometry = &ir.Geometry{Stride: ones(r - 2), Pad: slices.Clone(pads[2:r])}
	}
	return []*value{v}, err
}

func lowerConstantOfShape(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	st, err := l.constInput(ins, 0, "shape")
	if err != nil {
		return nil, err
	}
	shape, err := l.ints(st, "shape")
	if err != nil {
		return nil, err
	}
	if _, err := l.foldedSize(shape); err != nil {
		return nil, err
	}
	fill := 0.0
	if t, err := n.AttrTensor("value"); err != nil {
		return nil, err
	} else if t != nil && len(t.Data) > 0 {
		fill = t.Data[0]
	}
	t := ir.NewTensor(shape...)
	for i := range t.Data {
		t.Data[i] = fill
	}
	return []*value{constValue(t)}, nil
}

func lowerExpand(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	st, err := l.constInput(ins, 1, "shape")
	if err != nil {
		return nil, err
	}
	shape, err := l.ints(st, "shape")
	if err != nil {
		return nil, err
	}
	out, err := l.broadcastShape(x.shape, shape)
	if err != nil {
		return nil, err
	}
	v, err := l.broadcastTo(x, out)
	return []*value{v}, err
}

func lowerRange(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	var v [3]float64
	for i, what := range []string{"start", "limit", "delta"} {
		t, err := l.constInput(ins, i, what)
		if err != nil {
			return nil, err
		}
		if len(t.Data) != 1 {
			return nil, l.fail(ErrModel, "%s is not a scalar", what)
		}
		v[i] = t.Data[0]
	}
	if err := checkFinite(&ir.Tensor{Data: v[:]}, "range"); err != nil {
		return nil, l.fail(ErrModel, "%v", err)
	}
	if v[2] == 0 {
		return nil, l.fail(ErrModel, "delta is 0")
	}
	count := int(max(0, math.Ceil((v[1]-v[0])/v[2])))
	if count > maxFolded {
		return nil, l.errorf("a range of %d values is more than the %d constant folding may make", count, maxFolded)
	}
	t := ir.NewTensor(count)
	for i := range t.Data {
		t.Data[i] = v[0] + float64(i)*v[2]
	}
	return []*value{constValue(t)}, nil
}

// lowerEyeLike makes a constant: it reads only its input's shape.
func lowerEyeLike(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	if len(x.shape) != 2 {
		return nil, l.fail(ErrModel, "input %v is not a matrix", x.shape)
	}
	k, err := n.AttrInt("k", 0)
	if err != nil {
		return nil, err
	}
	t := ir.NewTensor(x.shape...)
	for i := range x.shape[0] {
		if j := int64(i) + k; j >= 0 && j < int64(x.shape[1]) {
			t.Data[i*x.shape[1]+int(j)] = 1
		}
	}
	return []*value{constValue(t)}, nil
}
