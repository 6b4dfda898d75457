package compiler

import (
	"fmt"
	"math"
	"slices"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
)

func init() {
	register("Conv", lowering{Since: 1, Fn: lowerConv,
		Notes: "1-D/2-D/3-D, any kernel, strides, pads, auto_pad, dilations and group (incl. depthwise); constant weights"})
	register("ConvTranspose", lowering{Since: 1, Fn: lowerConvTranspose,
		Notes: "strides, pads, dilations, group, output_padding, output_shape; constant weights"})
	register("Gemm", lowering{Since: 1, Fn: lowerGemm,
		Notes: "alpha, beta, transA, transB; a constant operand gives one affine map, two encrypted operands cost one level"})
	register("MatMul", lowering{Since: 1, Fn: lowerMatMul,
		Notes: "numpy semantics with batch broadcasting; a constant operand gives one affine map, two encrypted operands cost one level"})
	register("AveragePool", lowering{Since: 1, Fn: lowerAveragePool,
		Notes: "kernel_shape, strides, pads, auto_pad, count_include_pad, ceil_mode; no dilations"})
	register("GlobalAveragePool", lowering{Since: 1, Fn: lowerGlobalAveragePool, Notes: "an affine map (mean over the spatial axes)"})
	register("BatchNormalization", lowering{Since: 1, Fn: lowerBatchNorm,
		Notes: "inference: a per-channel affine map, squashed into the neighbouring linear layer"})
	register("ReduceSum",
		lowering{Since: 1, Fn: lowerReduce(reduceSum), Notes: "axes attribute, keepdims"},
		lowering{Since: 13, Fn: lowerReduce(reduceSum), Notes: "constant axes input, keepdims, noop_with_empty_axes"})
	register("ReduceMean",
		lowering{Since: 1, Fn: lowerReduce(reduceMean), Notes: "axes attribute, keepdims"},
		lowering{Since: 18, Fn: lowerReduce(reduceMean), Notes: "constant axes input, keepdims, noop_with_empty_axes"})
	register("ReduceSumSquare",
		lowering{Since: 1, Fn: lowerReduce(reduceSumSquare), Notes: "axes attribute, keepdims; x·x costs one level"},
		lowering{Since: 18, Fn: lowerReduce(reduceSumSquare), Notes: "constant axes input, keepdims, noop_with_empty_axes; x·x costs one level"})
	register("ReduceL1",
		lowering{Since: 1, Fn: lowerReduce(reduceL1), Notes: "axes attribute, keepdims; |x| = 2·relu(x) − x, approximated"},
		lowering{Since: 18, Fn: lowerReduce(reduceL1), Notes: "constant axes input, keepdims, noop_with_empty_axes; |x| = 2·relu(x) − x, approximated"})
	register("ReduceProd",
		lowering{Since: 1, Fn: lowerReduce(reduceProd), Notes: "axes attribute, keepdims; groups of at most 64 elements, depth ⌈log2 k⌉"},
		lowering{Since: 18, Fn: lowerReduce(reduceProd), Notes: "constant axes input, keepdims, noop_with_empty_axes; groups of at most 64 elements"})
}

// spatial holds the geometry of a convolution or pooling window.
type spatial struct {
	kernel, strides, dilations, padBegin, out []int
}

// windowGeometry reads kernel_shape, strides, pads, dilations and auto_pad
// for input spatial dims in, and computes the output dims.
func (l *lowerer) windowGeometry(n *onnx.Node, in, kernel []int, ceil bool) (*spatial, error) {
	k := len(in)
	g := &spatial{kernel: kernel, strides: ones(k), dilations: ones(k), padBegin: make([]int, k), out: make([]int, k)}
	for _, a := range []struct {
		name string
		dst  *[]int
	}{{"strides", &g.strides}, {"dilations", &g.dilations}} {
		v, err := n.AttrInts(a.name, nil)
		if err != nil {
			return nil, err
		}
		if v != nil {
			if len(v) != k {
				return nil, l.fail(ErrModel, "%s %v for %d spatial axes", a.name, v, k)
			}
			*a.dst = int64sToInts(v)
		}
	}
	padsA, err := n.AttrInts("pads", nil)
	if err != nil {
		return nil, err
	}
	pads := make([]int, 2*k)
	if padsA != nil {
		if len(padsA) != 2*k {
			return nil, l.fail(ErrModel, "pads %v for %d spatial axes", padsA, k)
		}
		pads = int64sToInts(padsA)
	}
	autoPad, err := n.AttrString("auto_pad", "NOTSET")
	if err != nil {
		return nil, err
	}
	for d := range k {
		if g.strides[d] <= 0 || g.dilations[d] <= 0 || kernel[d] <= 0 || pads[d] < 0 || pads[d+k] < 0 {
			return nil, l.fail(ErrModel, "invalid window: kernel %v strides %v dilations %v pads %v", kernel, g.strides, g.dilations, pads)
		}
		ext := (kernel[d]-1)*g.dilations[d] + 1
		switch autoPad {
		case "NOTSET", "":
		case "VALID":
			pads[d], pads[d+k] = 0, 0
		case "SAME_UPPER", "SAME_LOWER":
			out := (in[d] + g.strides[d] - 1) / g.strides[d]
			total := max(0, (out-1)*g.strides[d]+ext-in[d])
			small, big := total/2, total-total/2
			if autoPad == "SAME_UPPER" {
				pads[d], pads[d+k] = small, big
			} else {
				pads[d], pads[d+k] = big, small
			}
		default:
			return nil, l.errorf("auto_pad %q is not supported", autoPad)
		}
		span := in[d] + pads[d] + pads[d+k] - ext
		if span < 0 {
			return nil, l.fail(ErrModel, "the window (extent %d) is larger than the padded input (%d) on spatial axis %d", ext, in[d]+pads[d]+pads[d+k], d)
		}
		if ceil {
			g.out[d] = (span+g.strides[d]-1)/g.strides[d] + 1
			// The last window must start inside the input or its left padding.
			if (g.out[d]-1)*g.strides[d] >= in[d]+pads[d] {
				g.out[d]--
			}
		} else {
			g.out[d] = span/g.strides[d] + 1
		}
		g.padBegin[d] = pads[d]
	}
	return g, nil
}

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

func lowerConv(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	w, err := l.constInput(ins, 1, "weights")
	if err != nil {
		return nil, err
	}
	bias, err := l.optionalConst(ins, 2, "bias")
	if err != nil {
		return nil, err
	}
	if len(x.shape) < 3 || len(w.Shape) != len(x.shape) {
		return nil, l.fail(ErrModel, "input %v and weights %v must both be [N, C, spatial…]", x.shape, w.Shape)
	}
	group, err := n.AttrInt("group", 1)
	if err != nil {
		return nil, err
	}
	N, C, M := x.shape[0], x.shape[1], w.Shape[0]
	G := int(group)
	if G <= 0 || C%G != 0 || M%G != 0 || w.Shape[1] != C/G {
		return nil, l.fail(ErrModel, "group=%d does not fit %d input channels, %d output channels and weights %v", group, C, M, w.Shape)
	}
	kernel := slices.Clone(w.Shape[2:])
	if ks, err := n.AttrInts("kernel_shape", nil); err != nil {
		return nil, err
	} else if ks != nil && !slices.Equal(int64sToInts(ks), kernel) {
		return nil, l.fail(ErrModel, "kernel_shape %v disagrees with weights %v", ks, w.Shape)
	}
	if bias != nil && len(bias.Data) != M {
		return nil, l.fail(ErrModel, "bias has %d values for %d output channels", len(bias.Data), M)
	}
	in := x.shape[2:]
	g, err := l.windowGeometry(n, in, kernel, false)
	if err != nil {
		return nil, err
	}
	out := slices.Concat([]int{N, M}, g.out)
	rows, err := l.resultSize(x, out)
	if err != nil {
		return nil, err
	}
	Cg, Mg := C/G, M/G
	if rows*Cg*ir.NumElements(kernel) > ir.MaxNonZeros {
		return nil, l.errorf("the convolution has more than %d weights", ir.MaxNonZeros)
	}
	b := ir.NewBuilder(rows, x.size())
	inStrides, wStrides := ir.Strides(x.shape), ir.Strides(w.Shape)
	pos := make([]int, len(in))
	var biasVec []float64
	if bias != nil {
		biasVec = make([]float64, rows)
	}
	row := 0
	for bn := range N {
		for m := range M {
			grp := m / Mg
			forEach(g.out, func(o []int) {
				forEach(kernel, func(k []int) {
					flatK := 0
					for d := range k {
						pos[d] = o[d]*g.strides[d] + k[d]*g.dilations[d] - g.padBegin[d]
						if pos[d] < 0 || pos[d] >= in[d] {
							return
						}
						flatK += k[d] * wStrides[2+d]
					}
					col := bn * inStrides[0]
					for d := range pos {
						col += pos[d] * inStrides[2+d]
					}
					for c := range Cg {
						b.Add(row, col+(grp*Cg+c)*inStrides[1], w.Data[m*wStrides[0]+c*wStrides[1]+flatK])
					}
				})
				if bias != nil {
					biasVec[row] = bias.Data[m]
				}
				row++
			})
		}
	}
	lin, err := b.Build(biasVec, fmt.Sprintf("conv %d@%v s%v p%v g%d", M, kernel, g.strides, g.padBegin, G))
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	lin.Geometry = &ir.Geometry{Stride: g.strides, Pad: g.padBegin}
	return []*value{l.linear(x, lin, out)}, nil
}

func lowerConvTranspose(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	w, err := l.constInput(ins, 1, "weights")
	if err != nil {
		return nil, err
	}
	bias, err := l.optionalConst(ins, 2, "bias")
	if err != nil {
		return nil, err
	}
	if len(x.shape) < 3 || len(w.Shape) != len(x.shape) {
		return nil, l.fail(ErrModel, "input %v and weights %v must both be [N, C, spatial…]", x.shape, w.Shape)
	}
	group, err := n.AttrInt("group", 1)
	if err != nil {
		return nil, err
	}
	G := int(group)
	N, C := x.shape[0], x.shape[1]
	if G <= 0 || C%G != 0 || w.Shape[0] != C {
		return nil, l.fail(ErrModel, "group=%d does not fit %d input channels and weights %v", group, C, w.Shape)
	}
	Mg := w.Shape[1]
	M := Mg * G
	if bias != nil && len(bias.Data) != M {
		return nil, l.fail(ErrModel, "bias has %d values for %d output channels", len(bias.Data), M)
	}
	k := len(x.shape) - 2
	in, kernel := x.shape[2:], w.Shape[2:]
	attr := func(name string, def int) ([]int, error) {
		v, err := n.AttrInts(name, nil)
		if err != nil {
			return nil, err
		}
		if v == nil {
			out := make([]int, k)
			for i := range out {
				out[i] = def
			}
			return out, nil
		}
		return int64sToInts(v), nil
	}
	strides, err1 := attr("strides", 1)
	dil, err2 := attr("dilations", 1)
	outPad, err3 := attr("output_padding", 0)
	if err := firstErr(err1, err2, err3); err != nil {
		return nil, err
	}
	padsA, err := n.AttrInts("pads", nil)
	if err != nil {
		return nil, err
	}
	pads := int64sToInts(padsA)
	if pads == nil {
		pads = make([]int, 2*k)
	}
	if len(strides) != k || len(dil) != k || len(outPad) != k || len(pads) != 2*k {
		return nil, l.fail(ErrModel, "attributes do not match %d spatial axes", k)
	}
	autoPad, err := n.AttrString("auto_pad", "NOTSET")
	if err != nil {
		return nil, err
	}
	outShapeA, err := n.AttrInts("output_shape", nil)
	if err != nil {
		return nil, err
	}
	outSp := make([]int, k)
	for d := range k {
		full := strides[d]*(in[d]-1) + outPad[d] + (kernel[d]-1)*dil[d] + 1
		if outShapeA != nil || autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
			target := in[d] * strides[d]
			if outShapeA != nil {
				os := int64sToInts(outShapeA)
				target = os[len(os)-k+d]
			}
			// A target beyond the natural size extends the end with zeros.
			switch total := full - target; {
			case total < 0:
				pads[d], pads[d+k] = 0, total
			case autoPad == "SAME_UPPER":
				pads[d], pads[d+k] = total/2, total-total/2
			default:
				pads[d], pads[d+k] = total-total/2, total/2
			}
		} else if autoPad == "VALID" {
			pads[d], pads[d+k] = 0, 0
		}
		outSp[d] = full - pads[d] - pads[d+k]
		if outSp[d] <= 0 || strides[d] <= 0 || dil[d] <= 0 {
			return nil, l.fail(ErrModel, "output spatial size %d on axis %d", outSp[d], d)
		}
	}
	out := slices.Concat([]int{N, M}, outSp)
	rows, err := l.resultSize(x, out)
	if err != nil {
		return nil, err
	}
	if x.size()*Mg*ir.NumElements(kernel) > ir.MaxNonZeros {
		return nil, l.errorf("the transposed convolution has more than %d weights", ir.MaxNonZeros)
	}
	b := ir.NewBuilder(rows, x.size())
	inStrides, outStrides, wStrides := ir.Strides(x.shape), ir.Strides(out), ir.Strides(w.Shape)
	Cg := C / G
	pos := make([]int, k)
	// out[n, m, i·s + j·d − p] += x[n, c, i] · w[c, m mod Mg, j]
	for bn := range N {
		for c := range C {
			grp := c / Cg
			forEach(in, func(i []int) {
				col := bn*inStrides[0] + c*inStrides[1]
				for d := range i {
					col += i[d] * inStrides[2+d]
				}
				forEach(kernel, func(j []int) {
					row := bn * outStrides[0]
					flatJ := 0
					for d := range j {
						pos[d] = i[d]*strides[d] + j[d]*dil[d] - pads[d]
						if pos[d] < 0 || pos[d] >= outSp[d] {
							return
						}
						row += pos[d] * outStrides[2+d]
						flatJ += j[d] * wStrides[2+d]
					}
					for mm := range Mg {
						b.Add(row+(grp*Mg+mm)*outStrides[1], col, w.Data[c*wStrides[0]+mm*wStrides[1]+flatJ])
					}
				})
			})
		}
	}
	var biasVec []float64
	if bias != nil {
		biasVec = make([]float64, rows)
		for r := range rows {
			biasVec[r] = bias.Data[(r/outStrides[1])%M]
		}
	}
	lin, err := b.Build(biasVec, fmt.Sprintf("conv-transpose %d@%v s%v", M, kernel, strides))
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	return []*value{l.linear(x, lin, out)}, nil
}

func lowerGemm(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	a, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	bv, err := l.input(ins, 1)
	if err != nil {
		return nil, err
	}
	alpha, err1 := n.AttrFloat("alpha", 1)
	beta, err2 := n.AttrFloat("beta", 1)
	transA, err3 := n.AttrInt("transA", 0)
	transB, err4 := n.AttrInt("transB", 0)
	if err := firstErr(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	if len(a.shape) != 2 || len(bv.shape) != 2 {
		return nil, l.fail(ErrModel, "operands %v and %v must be matrices", a.shape, bv.shape)
	}
	// Gemm is MatMul of the (possibly transposed) operands, scaled.
	at, bt := a, bv
	if transA != 0 {
		if at, err = l.transpose(a, []int{1, 0}); err != nil {
			return nil, err
		}
	}
	if transB != 0 {
		if bt, err = l.transpose(bv, []int{1, 0}); err != nil {
			return nil, err
		}
	}
	y, err := l.matmul(at, bt, alpha)
	if err != nil {
		return nil, err
	}
	if len(ins) > 2 && ins[2] != nil && beta != 0 {
		if y, err = l.add(y, l.scale(ins[2], beta)); err != nil {
			return nil, err
		}
	}
	return []*value{y}, nil
}

func lowerMatMul(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	a, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	b, err := l.input(ins, 1)
	if err != nil {
		return nil, err
	}
	y, err := l.matmul(a, b, 1)
	return []*value{y}, err
}

// matmul is numpy's matmul scaled by alpha. With a constant operand it is
// one affine map; with two encrypted operands, see matmulEncrypted.
func (l *lowerer) matmul(a, b *value, alpha float64) (*value, error) {
	as, bs := slices.Clone(a.shape), slices.Clone(b.shape)
	if len(as) == 0 || len(bs) == 0 {
		return nil, l.fail(ErrModel, "matmul of a scalar")
	}
	squeezeM, squeezeN := len(as) == 1, len(bs) == 1
	if squeezeM {
		as = []int{1, as[0]}
	}
	if squeezeN {
		bs = []int{bs[0], 1}
	}
	M, K, K2, N := as[len(as)-2], as[len(as)-1], bs[len(bs)-2], bs[len(bs)-1]
	if K != K2 {
		return nil, l.fail(ErrModel, "cannot multiply %v by %v: inner dimensions %d and %d differ", a.shape, b.shape, K, K2)
	}
	batch, err := l.broadcastShape(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		return nil, err
	}
	out := slices.Concat(batch, []int{M, N})
	enc := a // the encrypted operand, if any
	if a.isConst() && !b.isConst() {
		enc = b
	}
	rows, err := l.resultSize(enc, out)
	if err != nil {
		return nil, err
	}
	aBatch, bBatch := as[:len(as)-2], bs[:len(bs)-2]
	aStr, bStr := ir.Strides(as), ir.Strides(bs)
	final := slices.Clone(out)
	if squeezeM {
		final = slices.Delete(final, len(final)-2, len(final)-1)
	}
	if squeezeN {
		final = final[:len(final)-1]
	}
	if !a.isConst() && !b.isConst() {
		y, err := l.matmulEncrypted(l.reshape(a, as), l.reshape(b, bs), batch, M, K, N, alpha)
		if err != nil {
			return nil, err
		}
		return l.reshape(y, final), nil
	}
	if rows*K > ir.MaxNonZeros {
		return nil, l.errorf("matmul has more than %d weights", ir.MaxNonZeros)
	}
	weights := b
	if enc == b {
		weights = a
	}
	bld := ir.NewBuilder(rows, enc.size())
	row := 0
	forEach(batch, func(bi []int) {
		ao, bo := batchOffset(bi, aBatch, aStr), batchOffset(bi, bBatch, bStr)
		for m := range M {
			for nn := range N {
				for k := range K {
					ia := ao + m*aStr[len(as)-2] + k
					ib := bo + k*bStr[len(bs)-2] + nn
					if enc == a {
						bld.Add(row, ia, alpha*weights.c.Data[ib])
					} else {
						bld.Add(row, ib, alpha*weights.c.Data[ia])
					}
				}
				row++
			}
		}
	})
	lin, err := bld.Build(nil, fmt.Sprintf("matmul %d×%d·%d×%d", M, K, K, N))
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	if a.isConst() && b.isConst() {
		// Both constant: the map built for a as the "encrypted" side.
		return constValue(&ir.Tensor{Shape: final, Data: lin.Apply(a.c.Data)}), nil
	}
	return l.linear(enc, lin, final), nil
}

// batchOffset is the flat offset of a broadcast batch index idx in an
// operand whose batch axes have the given shape and strides.
func batchOffset(idx []int, shape, strides []int) int {
	off, skip := 0, len(idx)-len(shape)
	for d := range shape {
		if shape[d] != 1 {
			off += idx[d+skip] * strides[d]
		}
	}
	return off
}

// matmulEncrypted multiplies two encrypted operands a [batch…, M, K] and
// b [batch…, K, N]: both are replicated to [batch, M, N, K] by selections
// (A'[·,m,n,k] = a[·,m,k], B'[·,m,n,k] = b[·,k,n]), multiplied element-wise
// (one level), and summed over k by an affine map that also applies alpha.
// The selections squash into whatever affine map produced each operand.
func (l *lowerer) matmulEncrypted(a, b *value, batch []int, M, K, N int, alpha float64) (*value, error) {
	as, bs := a.shape, b.shape
	aBatch, bBatch := as[:len(as)-2], bs[:len(bs)-2]
	aStr, bStr := ir.Strides(as), ir.Strides(bs)
	wide := slices.Concat(batch, []int{M, N, K})
	nb := len(batch)
	ar, err := l.selection(a, wide, "matmul operand", 0, func(o []int) (int, bool) {
		return batchOffset(o[:nb], aBatch, aStr) + o[nb]*aStr[len(as)-2] + o[nb+2], true
	})
	if err != nil {
		return nil, err
	}
	br, err := l.selection(b, wide, "matmul operand", 0, func(o []int) (int, bool) {
		return batchOffset(o[:nb], bBatch, bStr) + o[nb+2]*bStr[len(bs)-2] + o[nb+1], true
	})
	if err != nil {
		return nil, err
	}
	prod, err := l.mul(ar, br)
	if err != nil {
		return nil, err
	}
	rows := ir.NumElements(wide) / K
	sum := ir.NewBuilder(rows, prod.size())
	for r := range rows {
		for k := range K {
			sum.Add(r, r*K+k, alpha)
		}
	}
	lin, err := sum.Build(nil, fmt.Sprintf("matmul sum over %d", K))
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	return l.linear(prod, lin, slices.Concat(batch, []int{M, N})), nil
}

func lowerAveragePool(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	if len(x.shape) < 3 {
		return nil, l.fail(ErrModel, "input %v must be [N, C, spatial…]", x.shape)
	}
	ks, err := n.AttrInts("kernel_shape", nil)
	if err != nil {
		return nil, err
	}
	in := x.shape[2:]
	if len(ks) != len(in) {
		return nil, l.fail(ErrModel, "kernel_shape %v for %d spatial axes", ks, len(in))
	}
	if d, err := n.AttrInts("dilations", nil); err != nil || d != nil && slices.ContainsFunc(d, func(v int64) bool { return v != 1 }) {
		return nil, l.errorf("dilations are not supported")
	}
	ceil, err1 := n.AttrInt("ceil_mode", 0)
	include, err2 := n.AttrInt("count_include_pad", 0)
	if err := firstErr(err1, err2); err != nil {
		return nil, err
	}
	g, err := l.windowGeometry(n, in, int64sToInts(ks), ceil != 0)
	if err != nil {
		return nil, err
	}
	padsA, _ := n.AttrInts("pads", nil)
	padEnd := make([]int, len(in))
	if len(padsA) == 2*len(in) {
		for d := range in {
			padEnd[d] = int(padsA[len(in)+d])
		}
	}
	out := slices.Concat(x.shape[:2], g.out)
	rows := ir.NumElements(out)
	b := ir.NewBuilder(rows, x.size())
	inStrides := ir.Strides(x.shape)
	pos := make([]int, len(in))
	row := 0
	for nc := range x.shape[0] * x.shape[1] {
		base := nc * inStrides[1]
		forEach(g.out, func(o []int) {
			var cols []int
			padded := 1
			for d := range o {
				start := o[d]*g.strides[d] - g.padBegin[d]
				end := min(start+g.kernel[d], in[d]+padEnd[d])
				padded *= end - start
			}
			forEach(g.kernel, func(k []int) {
				col := base
				for d := range k {
					pos[d] = o[d]*g.strides[d] + k[d] - g.padBegin[d]
					if pos[d] < 0 || pos[d] >= in[d] {
						return
					}
					col += pos[d] * inStrides[2+d]
				}
				cols = append(cols, col)
			})
			div := len(cols)
			if include != 0 {
				div = padded
			}
			for _, c := range cols {
				b.Add(row, c, 1/float64(div))
			}
			row++
		})
	}
	lin, err := b.Build(nil, fmt.Sprintf("avgpool %v s%v", g.kernel, g.strides))
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	lin.Geometry = &ir.Geometry{Stride: g.strides, Pad: g.padBegin}
	return []*value{l.linear(x, lin, out)}, nil
}

func lowerGlobalAveragePool(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	if len(x.shape) < 3 {
		return nil, l.fail(ErrModel, "input %v must be [N, C, spatial…]", x.shape)
	}
	axes := make([]int, len(x.shape)-2)
	for i := range axes {
		axes[i] = i + 2
	}
	v, err := l.reduce(x, axes, true, true, "global avgpool")
	return []*value{v}, err
}

// reduce sums (or averages) v over axes.
func (l *lowerer) reduce(v *value, axes []int, keep, mean bool, desc string) (*value, error) {
	r := len(v.shape)
	red := make([]bool, r)
	for _, a := range axes {
		a, err := l.axis(a, r)
		if err != nil {
			return nil, err
		}
		red[a] = true
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
)

func lowerReduce(kind string) lowerFunc {
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
		if (kind == reduceSum && l.opset >= 13) || l.opset >= 18 {
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
		if kind == reduceProd {
			v, err = l.reduceProduct(x, axes, keep != 0)
		} else {
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
	red := make([]bool, r)
	for _, a := range axes {
		a, err := l.axis(a, r)
		if err != nil {
			return nil, err
		}
		red[a] = true
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

func lowerBatchNorm(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	if len(x.shape) < 2 {
		return nil, l.fail(ErrModel, "input %v has no channel axis", x.shape)
	}
	if t, err := n.AttrInt("training_mode", 0); err != nil || t != 0 {
		return nil, l.errorf("training_mode=1 is not supported (inference only)")
	}
	eps, err := n.AttrFloat("epsilon", 1e-5)
	if err != nil {
		return nil, err
	}
	C := x.shape[1]
	var p [4]*ir.Tensor
	for i, what := range []string{"scale", "bias", "mean", "var"} {
		if p[i], err = l.constInput(ins, i+1, what); err != nil {
			return nil, err
		}
		if len(p[i].Data) != C {
			return nil, l.fail(ErrModel, "%s has %d values for %d channels", what, len(p[i].Data), C)
		}
	}
	scale, shift := make([]float64, C), make([]float64, C)
	for c := range C {
		den := p[3].Data[c] + eps
		if den <= 0 {
			return nil, l.fail(ErrModel, "variance + epsilon is %g for channel %d", den, c)
		}
		scale[c] = p[0].Data[c] / math.Sqrt(den)
		shift[c] = p[1].Data[c] - p[2].Data[c]*scale[c]
	}
	inner := ir.NumElements(x.shape[2:])
	b := ir.NewBuilder(x.size(), x.size())
	bias := make([]float64, x.size())
	for i := range x.size() {
		c := (i / inner) % C
		b.Add(i, i, scale[c])
		bias[i] = shift[c]
	}
	lin, err := b.Build(bias, "batchnorm")
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	if len(x.shape) >= 3 {
		lin.Geometry = ir.SameGeometry(len(x.shape) - 2)
	}
	outs := []*value{l.linear(x, lin, x.shape)}
	// Outputs 1–4 exist only in training mode.
	return outs, nil
}
