package compiler

import (
	"fmt"
	"slices"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
)

// Operators that pick, repeat, mask or accumulate elements at positions
// known at compile time: on an encrypted tensor each is one affine map
// (a selection, or a sparse matrix with several entries per row).

var selectOps = []opEntry{
	{"Split", 1, lowerSplit, "split attribute or constant input; equal parts by default"},
	{"Split", 2, lowerSplit, "split attribute; equal parts by default"},
	{"Split", 13, lowerSplit, "constant split input; equal parts by default"},
	{"Split", 18, lowerSplit, "constant split input, or num_outputs (the last part may be smaller)"},
	{"Tile", 6, lowerTile, "constant repeats"},
	{"DepthToSpace", 1, lowerDepthToSpace, "blocksize; DCR order"},
	{"DepthToSpace", 11, lowerDepthToSpace, "blocksize; modes DCR and CRD"},
	{"SpaceToDepth", 1, lowerSpaceToDepth, "blocksize"},
	{"GatherElements", 11, lowerGatherElements, "constant indices"},
	{"GatherND", 11, lowerGatherND, "constant indices; batch_dims (opset 12)"},
	{"Compress", 9, lowerCompress, "constant condition; with or without axis"},
	{"Trilu", 14, lowerTrilu, "constant k; upper and lower"},
	{"CumSum", 11, lowerCumSum, "constant axis; exclusive, reverse"},
	{"Where", 9, lowerWhere,
		"constant condition (c·x + (1−c)·y); numpy broadcasting; a condition computed from the encrypted input is refused"},
	{"ScatterElements", 11, lowerScatter(true), "constant indices; reductions none and add, mul with constant updates"},
	{"Scatter", 9, lowerScatter(true), "as ScatterElements without reduction"},
	{"ScatterND", 11, lowerScatter(false), "constant indices; reductions none and add, mul with constant updates"},
	{"ReverseSequence", 10, lowerReverseSequence, "constant sequence_lens"},
	{"MaxUnpool", 9, lowerMaxUnpool, "constant indices and output_shape: places each value, zero elsewhere"},
}

// sliceAxis keeps count elements of v from begin along axis.
func (l *lowerer) sliceAxis(v *value, axis, begin, count int) (*value, error) {
	out := slices.Clone(v.shape)
	out[axis] = count
	strides := ir.Strides(v.shape)
	return l.selection(v, out, "split", 0, func(o []int) (int, bool) {
		src := begin * strides[axis]
		for a := range o {
			src += o[a] * strides[a]
		}
		return src, true
	})
}

func lowerSplit(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	axis, err := l.axisAttr(n, 0, len(x.shape))
	if err != nil {
		return nil, err
	}
	var parts []int
	if l.since >= 13 || (l.since == 1 && len(ins) > 1 && ins[1] != nil) {
		t, err := l.optionalConst(ins, 1, "split")
		if err != nil {
			return nil, err
		}
		if t != nil {
			if parts, err = l.ints(t, "split"); err != nil {
				return nil, err
			}
		}
	}
	if parts == nil && l.since < 13 {
		s, err := n.AttrInts("split", nil)
		if err != nil {
			return nil, err
		}
		parts = int64sToInts(s)
	}
	dim := x.shape[axis]
	if parts == nil {
		k := len(n.Outputs)
		if l.since >= 18 {
			num, err := n.AttrInt("num_outputs", 0)
			if err != nil {
				return nil, err
			}
			if num > 0 {
				k = int(num)
			}
		}
		if k <= 0 || k > dim {
			return nil, l.fail(ErrModel, "cannot split an axis of %d into %d parts", dim, k)
		}
		chunk := dim / k
		if dim%k != 0 {
			if l.since < 18 {
				return nil, l.fail(ErrModel, "an axis of %d does not split into %d equal parts", dim, k)
			}
			chunk = (dim + k - 1) / k // opset 18: the last part is smaller
		}
		for range k - 1 {
			parts = append(parts, chunk)
		}
		parts = append(parts, dim-chunk*(k-1))
	}
	total := 0
	for _, p := range parts {
		if p < 0 {
			return nil, l.fail(ErrModel, "split %v has a negative part", parts)
		}
		total += p
	}
	if total != dim || len(parts) != len(n.Outputs) {
		return nil, l.fail(ErrModel, "split %v does not cut an axis of %d into %d outputs", parts, dim, len(n.Outputs))
	}
	outs := make([]*value, len(parts))
	begin := 0
	for i, p := range parts {
		if n.Outputs[i] != "" {
			if outs[i], err = l.sliceAxis(x, axis, begin, p); err != nil {
				return nil, err
			}
		}
		begin += p
	}
	return outs, nil
}

func lowerTile(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	rt, err := l.constInput(ins, 1, "repeats")
	if err != nil {
		return nil, err
	}
	reps, err := l.ints(rt, "repeats")
	if err != nil {
		return nil, err
	}
	if len(reps) != len(x.shape) {
		return nil, l.fail(ErrModel, "repeats %v for rank %d", reps, len(x.shape))
	}
	out := make([]int, len(reps))
	for a, r := range reps {
		if r < 0 {
			return nil, l.fail(ErrModel, "repeats %v has a negative value", reps)
		}
		out[a] = x.shape[a] * r
	}
	if _, err := ir.CheckedNumElements(toInt64(out)); err != nil {
		return nil, l.fail(ErrModel, "%v", err)
	}
	strides := ir.Strides(x.shape)
	v, err := l.selection(x, out, "tile", 0, func(o []int) (int, bool) {
		src := 0
		for a := range o {
			src += (o[a] % x.shape[a]) * strides[a]
		}
		return src, true
	})
	return []*value{v}, err
}

// blockShuffle is reshape → transpose → reshape, as DepthToSpace and
// SpaceToDepth are specified.
func (l *lowerer) blockShuffle(x *value, view, perm, out []int) (*value, error) {
	t, err := l.transpose(l.reshape(x, view), perm)
	if err != nil {
		return nil, err
	}
	return l.reshape(t, out), nil
}

// blockInput checks a DepthToSpace/SpaceToDepth input and its blocksize.
func (l *lowerer) blockInput(n *onnx.Node, ins []*value) (*value, int, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, 0, err
	}
	b, err := n.AttrInt("blocksize", 0)
	if err != nil {
		return nil, 0, err
	}
	if len(x.shape) != 4 || b <= 0 || b > 1<<16 {
		return nil, 0, l.fail(ErrModel, "blocksize %d on input %v (want [N, C, H, W] and blocksize ≥ 1)", b, x.shape)
	}
	return x, int(b), nil
}

func lowerDepthToSpace(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, b, err := l.blockInput(n, ins)
	if err != nil {
		return nil, err
	}
	mode, err := n.AttrString("mode", "DCR")
	if err != nil {
		return nil, err
	}
	N, C, H, W := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	if C%(b*b) != 0 {
		return nil, l.fail(ErrModel, "%d channels are not a multiple of blocksize² = %d", C, b*b)
	}
	out := []int{N, C / (b * b), H * b, W * b}
	var v *value
	switch mode {
	case "DCR":
		v, err = l.blockShuffle(x, []int{N, b, b, C / (b * b), H, W}, []int{0, 3, 4, 1, 5, 2}, out)
	case "CRD":
		v, err = l.blockShuffle(x, []int{N, C / (b * b), b, b, H, W}, []int{0, 1, 4, 2, 5, 3}, out)
	default:
		return nil, l.errorf("mode %q is not supported (DCR, CRD)", mode)
	}
	return []*value{v}, err
}

func lowerSpaceToDepth(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, b, err := l.blockInput(n, ins)
	if err != nil {
		return nil, err
	}
	N, C, H, W := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	if H%b != 0 || W%b != 0 {
		return nil, l.fail(ErrModel, "spatial size %d×%d is not a multiple of blocksize %d", H, W, b)
	}
	v, err := l.blockShuffle(x, []int{N, C, H / b, b, W / b, b}, []int{0, 3, 5, 1, 2, 4}, []int{N, C * b * b, H / b, W / b})
	return []*value{v}, err
}

// indices reads constant indices for an axis of size dim, normalising
// negative ones.
func (l *lowerer) indices(ins []*value, i, dim int) (*ir.Tensor, []int, error) {
	t, err := l.constInput(ins, i, "indices")
	if err != nil {
		return nil, nil, err
	}
	idx, err := l.ints(t, "indices")
	if err != nil {
		return nil, nil, err
	}
	for j, v := range idx {
		if v < -dim || v >= dim {
			return nil, nil, l.fail(ErrModel, "index %d is out of range for an axis of size %d", v, dim)
		}
		if v < 0 {
			idx[j] += dim
		}
	}
	return t, idx, nil
}

func lowerGatherElements(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	axis, err := l.axisAttr(n, 0, len(x.shape))
	if err != nil {
		return nil, err
	}
	it, idx, err := l.indices(ins, 1, x.shape[axis])
	if err != nil {
		return nil, err
	}
	if len(it.Shape) != len(x.shape) {
		return nil, l.fail(ErrModel, "indices %v and data %v have different ranks", it.Shape, x.shape)
	}
	for d := range it.Shape {
		if d != axis && it.Shape[d] > x.shape[d] {
			return nil, l.fail(ErrModel, "indices %v exceed data %v on axis %d", it.Shape, x.shape, d)
		}
	}
	strides, iStrides := ir.Strides(x.shape), ir.Strides(it.Shape)
	v, err := l.selection(x, it.Shape, "gather elements", 0, func(o []int) (int, bool) {
		src, k := 0, 0
		for d := range o {
			k += o[d] * iStrides[d]
			if d != axis {
				src += o[d] * strides[d]
			}
		}
		return src + idx[k]*strides[axis], true
	})
	return []*value{v}, err
}

func lowerGatherND(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	bd, err := n.AttrInt("batch_dims", 0)
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
	q, r, b := len(it.Shape), len(x.shape), int(bd)
	if q < 1 || b < 0 || b >= min(q, r) {
		return nil, l.fail(ErrModel, "batch_dims %d for indices %v and data %v", b, it.Shape, x.shape)
	}
	k := it.Shape[q-1]
	if k < 1 || b+k > r || !slices.Equal(it.Shape[:b], x.shape[:b]) {
		return nil, l.fail(ErrModel, "indices %v do not index data %v with batch_dims %d", it.Shape, x.shape, b)
	}
	for j, v := range idx {
		dim := x.shape[b+j%k]
		if v < -dim || v >= dim {
			return nil, l.fail(ErrModel, "index %d is out of range for an axis of size %d", v, dim)
		}
		if v < 0 {
			idx[j] += dim
		}
	}
	// out[i_0…i_{q-2}, rest…] = x[i_0…i_{b-1}, idx[i, 0…k-1], rest…]
	out := slices.Concat(it.Shape[:q-1], x.shape[b+k:])
	strides := ir.Strides(x.shape)
	tuples := ir.Strides(it.Shape[:q-1]) // position of an index tuple, in units of k
	v, err := l.selection(x, out, "gather nd", 0, func(o []int) (int, bool) {
		src, t := 0, 0
		for d := range q - 1 {
			t += o[d] * tuples[d]
			if d < b {
				src += o[d] * strides[d]
			}
		}
		for j := range k {
			src += idx[t*k+j] * strides[b+j]
		}
		for d := b + k; d < r; d++ {
			src += o[q-1+d-b-k] * strides[d]
		}
		return src, true
	})
	return []*value{v}, err
}

func lowerCompress(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	cond, err := l.constInput(ins, 1, "condition")
	if err != nil {
		return nil, err
	}
	a, err := n.AttrInt("axis", 0)
	if err != nil {
		return nil, err
	}
	if _, given := n.Attrs["axis"]; !given { // compress the flattened input
		x = l.reshape(x, []int{x.size()})
	}
	axis, err := l.axis(int(a), len(x.shape))
	if err != nil {
		return nil, err
	}
	var keep []int
	for i, c := range cond.Data {
		if c != 0 && i < x.shape[axis] {
			keep = append(keep, i)
		}
	}
	if len(cond.Data) > x.shape[axis] {
		return nil, l.fail(ErrModel, "condition has %d values for an axis of %d", len(cond.Data), x.shape[axis])
	}
	out := slices.Clone(x.shape)
	out[axis] = len(keep)
	strides := ir.Strides(x.shape)
	v, err := l.selection(x, out, "compress", 0, func(o []int) (int, bool) {
		src := 0
		for d := range o {
			if d == axis {
				src += keep[o[d]] * strides[d]
			} else {
				src += o[d] * strides[d]
			}
		}
		return src, true
	})
	return []*value{v}, err
}

func lowerTrilu(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	if len(x.shape) < 2 {
		return nil, l.fail(ErrModel, "input %v is not a matrix", x.shape)
	}
	upper, err := n.AttrInt("upper", 1)
	if err != nil {
		return nil, err
	}
	k := 0
	if kt, err := l.optionalConst(ins, 1, "k"); err != nil {
		return nil, err
	} else if kt != nil {
		ks, err := l.ints(kt, "k")
		if err != nil {
			return nil, err
		}
		if len(ks) != 1 {
			return nil, l.fail(ErrModel, "k is not a scalar")
		}
		k = ks[0]
	}
	r := len(x.shape)
	strides := ir.Strides(x.shape)
	v, err := l.selection(x, x.shape, "trilu", 0, func(o []int) (int, bool) {
		d := o[r-1] - o[r-2]
		if (upper != 0 && d < k) || (upper == 0 && d > k) {
			return 0, false
		}
		src := 0
		for a, s := range strides {
			src += o[a] * s
		}
		return src, true
	})
	return []*value{v}, err
}

func lowerCumSum(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	at, err := l.constInput(ins, 1, "axis")
	if err != nil {
		return nil, err
	}
	as, err := l.ints(at, "axis")
	if err != nil {
		return nil, err
	}
	if len(as) != 1 {
		return nil, l.fail(ErrModel, "axis is not a scalar")
	}
	axis, err := l.axis(as[0], len(x.shape))
	if err != nil {
		return nil, err
	}
	exclusive, err1 := n.AttrInt("exclusive", 0)
	reverse, err2 := n.AttrInt("reverse", 0)
	if err := firstErr(err1, err2); err != nil {
		return nil, err
	}
	dim, stride := x.shape[axis], ir.Strides(x.shape)[axis]
	if x.size()*dim > ir.MaxNonZeros {
		return nil, l.errorf("cumulative sum has more than %d weights", ir.MaxNonZeros)
	}
	b := ir.NewBuilder(x.size(), x.size())
	for row := range x.size() {
		j := (row / stride) % dim
		base := row - j*stride
		for k := range dim {
			in := (reverse == 0 && (k < j || (k == j && exclusive == 0))) ||
				(reverse != 0 && (k > j || (k == j && exclusive == 0)))
			if in {
				b.Add(row, base+k*stride, 1)
			}
		}
	}
	lin, err := b.Build(nil, fmt.Sprintf("cumsum axis %d", axis))
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	return []*value{l.linear(x, lin, x.shape)}, nil
}

func lowerWhere(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	c, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	if !c.isConst() {
		return nil, l.errorf("the condition depends on the encrypted input: comparisons are not polynomials, only a constant condition is supported")
	}
	x, err := l.input(ins, 1)
	if err != nil {
		return nil, err
	}
	y, err := l.input(ins, 2)
	if err != nil {
		return nil, err
	}
	out, err := l.broadcastShape(c.shape, x.shape)
	if err != nil {
		return nil, err
	}
	if out, err = l.broadcastShape(out, y.shape); err != nil {
		return nil, err
	}
	cb, err := l.broadcastTo(c, out)
	if err != nil {
		return nil, err
	}
	if x.isConst() && y.isConst() {
		xb, _ := l.broadcastTo(x, out)
		yb, _ := l.broadcastTo(y, out)
		t := ir.NewTensor(out...)
		for i, cv := range cb.c.Data {
			t.Data[i] = yb.c.Data[i]
			if cv != 0 {
				t.Data[i] = xb.c.Data[i]
			}
		}
		return []*value{constValue(t)}, nil
	}
	mask := mapConst(cb.c, func(v float64) float64 {
		if v != 0 {
			return 1
		}
		return 0
	})
	// A constant branch is masked now, so that an infinite value the
	// condition discards never multiplies a zero.
	branch := func(v *value, m *ir.Tensor) (*value, error) {
		if !v.isConst() {
			return l.mul(v, constValue(m))
		}
		vb, _ := l.broadcastTo(v, out)
		t := ir.NewTensor(out...)
		for i := range t.Data {
			if m.Data[i] != 0 {
				t.Data[i] = vb.c.Data[i]
			}
		}
		return constValue(t), nil
	}
	xs, err := branch(x, mask)
	if err != nil {
		return nil, err
	}
	ys, err := branch(y, mapConst(mask, func(v float64) float64 { return 1 - v }))
	if err != nil {
		return nil, err
	}
	v, err := l.add(xs, ys)
	return []*value{v}, err
}

// lowerScatter writes updates into a copy of data at constant positions:
// ScatterElements/Scatter (elements) name one position per update along
// an axis, ScatterND one slice per index tuple. The result is the data with
// the written positions zeroed (or kept, for add) plus the updates moved
// there: two affine maps and an addition.
func lowerScatter(elements bool) lowerFunc {
	return func(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
		x, err := l.input(ins, 0)
		if err != nil {
			return nil, err
		}
		u, err := l.input(ins, 2)
		if err != nil {
			return nil, err
		}
		red, err := n.AttrString("reduction", "none")
		if err != nil {
			return nil, err
		}
		var pos []int // pos[j]: where update element j goes
		if elements {
			pos, err = l.scatterElementsPositions(n, ins, x, u)
		} else {
			pos, err = l.scatterNDPositions(ins, x, u)
		}
		if err != nil {
			return nil, err
		}
		written := make([]bool, x.size())
		for _, p := range pos {
			written[p] = true
		}
		switch red {
		case "none", "add":
		case "mul":
			if !u.isConst() {
				return nil, l.errorf("reduction mul with updates that depend on the encrypted input is not supported")
			}
			f := ir.NewTensor(x.shape...)
			for i := range f.Data {
				f.Data[i] = 1
			}
			for j, p := range pos {
				f.Data[p] *= u.c.Data[j]
			}
			v, err := l.mul(x, constValue(f))
			return []*value{v}, err
		default:
			return nil, l.errorf("reduction %q is not supported (none, add, mul)", red)
		}
		kept := x
		if red == "none" {
			strides := ir.Strides(x.shape)
			if kept, err = l.selection(x, x.shape, "scatter keep", 0, func(o []int) (int, bool) {
				src := 0
				for a := range o {
					src += o[a] * strides[a]
				}
				return src, !written[src]
			}); err != nil {
				return nil, err
			}
		}
		b := ir.NewBuilder(x.size(), u.size())
		for j, p := range pos {
			b.Add(p, j, 1)
		}
		lin, err := b.Build(nil, "scatter")
		if err != nil {
			return nil, l.errorf("%v", err)
		}
		v, err := l.add(kept, l.linear(u, lin, x.shape))
		return []*value{v}, err
	}
}

func (l *lowerer) scatterElementsPositions(n *onnx.Node, ins []*value, x, u *value) ([]int, error) {
	axis, err := l.axisAttr(n, 0, len(x.shape))
	if err != nil {
		return nil, err
	}
	it, idx, err := l.indices(ins, 1, x.shape[axis])
	if err != nil {
		return nil, err
	}
	if !slices.Equal(it.Shape, u.shape) || len(it.Shape) != len(x.shape) {
		return nil, l.fail(ErrModel, "indices %v, updates %v and data %v do not match", it.Shape, u.shape, x.shape)
	}
	strides := ir.Strides(x.shape)
	pos := make([]int, len(idx))
	o := make([]int, len(it.Shape))
	for j := range idx {
		unravel(j, it.Shape, o)
		p := 0
		for d := range o {
			if d != axis && o[d] >= x.shape[d] {
				return nil, l.fail(ErrModel, "indices %v exceed data %v on axis %d", it.Shape, x.shape, d)
			}
			if d == axis {
				p += idx[j] * strides[d]
			} else {
				p += o[d] * strides[d]
			}
		}
		pos[j] = p
	}
	return pos, nil
}

func (l *lowerer) scatterNDPositions(ins []*value, x, u *value) ([]int, error) {
	it, err := l.constInput(ins, 1, "indices")
	if err != nil {
		return nil, err
	}
	idx, err := l.ints(it, "indices")
	if err != nil {
		return nil, err
	}
	q, r := len(it.Shape), len(x.shape)
	if q < 1 {
		return nil, l.fail(ErrModel, "indices is a scalar")
	}
	k := it.Shape[q-1]
	if k < 1 || k > r || !slices.Equal(u.shape, slices.Concat(it.Shape[:q-1], x.shape[k:])) {
		return nil, l.fail(ErrModel, "indices %v, updates %v and data %v do not match", it.Shape, u.shape, x.shape)
	}
	strides := ir.Strides(x.shape)
	inner := ir.NumElements(x.shape[k:])
	pos := make([]int, 0, u.size())
	for t := 0; t < len(idx)/k; t++ {
		base := 0
		for j := range k {
			v, dim := idx[t*k+j], x.shape[j]
			if v < -dim || v >= dim {
				return nil, l.fail(ErrModel, "index %d is out of range for an axis of size %d", v, dim)
			}
			if v < 0 {
				v += dim
			}
			base += v * strides[j]
		}
		for i := range inner {
			pos = append(pos, base+i)
		}
	}
	return pos, nil
}

func lowerReverseSequence(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	bAttr, err1 := n.AttrInt("batch_axis", 1)
	tAttr, err2 := n.AttrInt("time_axis", 0)
	if err := firstErr(err1, err2); err != nil {
		return nil, err
	}
	if len(x.shape) < 2 || bAttr < 0 || bAttr > 1 || tAttr < 0 || tAttr > 1 || bAttr == tAttr {
		return nil, l.fail(ErrModel, "batch_axis %d and time_axis %d for shape %v (want 0 and 1 in some order)", bAttr, tAttr, x.shape)
	}
	bAxis, tAxis := int(bAttr), int(tAttr)
	lt, err := l.constInput(ins, 1, "sequence_lens")
	if err != nil {
		return nil, err
	}
	lens, err := l.ints(lt, "sequence_lens")
	if err != nil {
		return nil, err
	}
	if len(lens) != x.shape[bAxis] {
		return nil, l.fail(ErrModel, "%d sequence lengths for a batch of %d", len(lens), x.shape[bAxis])
	}
	for _, s := range lens {
		if s < 0 || s > x.shape[tAxis] {
			return nil, l.fail(ErrModel, "sequence length %d for a time axis of %d", s, x.shape[tAxis])
		}
	}
	strides := ir.Strides(x.shape)
	v, err := l.selection(x, x.shape, "reverse sequence", 0, func(o []int) (int, bool) {
		src := 0
		for a := range o {
			i := o[a]
			if a == tAxis && i < lens[o[bAxis]] {
				i = lens[o[bAxis]] - 1 - i
			}
			src += i * strides[a]
		}
		return src, true
	})
	return []*value{v}, err
}

// lowerMaxUnpool places each value at the position its (constant) index
// names in the unpooled tensor; the rest of the output is zero. Indices are
// flat in the shape before pooling, (in − 1)·stride + kernel − pads; a
// larger output_shape pads that tensor at the end of each axis.
func lowerMaxUnpool(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	if len(x.shape) < 3 {
		return nil, l.fail(ErrModel, "input %v must be [N, C, spatial…]", x.shape)
	}
	it, err := l.constInput(ins, 1, "indices")
	if err != nil {
		return nil, err
	}
	idx, err := l.ints(it, "indices")
	if err != nil {
		return nil, err
	}
	if len(idx) != x.size() {
		return nil, l.fail(ErrModel, "%d indices for %d values", len(idx), x.size())
	}
	in := x.shape[2:]
	ks, err1 := n.AttrInts("kernel_shape", nil)
	st, err2 := n.AttrInts("strides", nil)
	pads, err3 := n.AttrInts("pads", nil)
	if err := firstErr(err1, err2, err3); err != nil {
		return nil, err
	}
	k := len(in)
	if len(ks) != k || (st != nil && len(st) != k) || (pads != nil && len(pads) != 2*k) {
		return nil, l.fail(ErrModel, "kernel_shape %v, strides %v, pads %v for %d spatial axes", ks, st, pads, k)
	}
	unpooled := slices.Clone(x.shape[:2])
	for d := range k {
		unpooled = append(unpooled, (in[d]-1)*attrOr(st, d, 1)+attrOr(ks, d, 1)-attrOr(pads, d, 0)-attrOr(pads, k+d, 0))
	}
	inner, err := ir.CheckedNumElements(toInt64(unpooled))
	if err != nil {
		return nil, l.fail(ErrModel, "%v", err)
	}
	out := unpooled
	if ot, err := l.optionalConst(ins, 2, "output_shape"); err != nil {
		return nil, err
	} else if ot != nil {
		if out, err = l.ints(ot, "output_shape"); err != nil {
			return nil, err
		}
		if len(out) != len(unpooled) {
			return nil, l.fail(ErrModel, "output_shape %v for an input of rank %d", out, len(x.shape))
		}
		for d := range out {
			if out[d] < unpooled[d] {
				return nil, l.fail(ErrModel, "output_shape %v is smaller than the unpooled shape %v", out, unpooled)
			}
		}
	}
	size, err := l.resultSize(x, out)
	if err != nil {
		return nil, err
	}
	b := ir.NewBuilder(size, x.size())
	coord, outStrides := make([]int, len(out)), ir.Strides(out)
	for j, p := range idx {
		if p < 0 || p >= inner {
			return nil, l.fail(ErrModel, "index %d is outside the unpooled shape %v", p, unpooled)
		}
		unravel(p, unpooled, coord)
		row := 0
		for d, c := range coord {
			row += c * outStrides[d]
		}
		b.Add(row, j, 1)
	}
	lin, err := b.Build(nil, "max unpool")
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	return []*value{l.linear(x, lin, out)}, nil
}

// attrOr returns v[i] bounded to a sane range, or def when v is absent.
func attrOr(v []int64, i, def int) int {
	if v == nil {
		return def
	}
	return int(min(max(v[i], -(1<<20)), 1<<20))
}
