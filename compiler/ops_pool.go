package compiler

import (
	"fmt"
	"slices"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
)

var poolOps = []opEntry{
	{"AveragePool", 1, lowerAveragePool, "kernel_shape, strides, pads, auto_pad, count_include_pad, ceil_mode; no dilations"},
	{"GlobalAveragePool", 1, lowerGlobalAveragePool, "an affine map (mean over the spatial axes)"},
	{"MaxPool", 1, lowerMaxPool, maxPoolNotes},
	{"MaxPool", 10, lowerMaxPool, "ceil_mode, dilations; " + maxPoolNotes},
	{"GlobalMaxPool", 1, lowerGlobalMaxPool, "a balanced tree of approximated ReLUs over the spatial positions: ⌈log2 k⌉ levels for k positions"},
}

const maxPoolNotes = "kernel_shape, strides, pads, auto_pad; max(a, b) = b + relu(a − b) as a balanced tree, one approximated ReLU per level: " +
	"⌈log2 k⌉ levels for a window of k (2×2: 2); padding never wins; no Indices output"

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
