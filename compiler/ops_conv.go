package compiler

import (
	"fmt"
	"math"
	"slices"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
)

var convOps = []opEntry{
	{"Conv", 1, lowerConv, "1-D/2-D/3-D, any kernel, strides, pads, auto_pad, dilations and group (incl. depthwise); constant weights"},
	{"ConvTranspose", 1, lowerConvTranspose, "strides, pads, dilations, group, output_padding, output_shape; constant weights"},
	{"BatchNormalization", 1, lowerBatchNorm, "inference: a per-channel affine map, squashed into the neighbouring linear layer"},
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

// convOperands reads what Conv and ConvTranspose share: the input
// [N, C, spatial…], constant weights of the same rank, the optional bias and
// the group attribute.
func (l *lowerer) convOperands(n *onnx.Node, ins []*value) (x *value, w, bias *ir.Tensor, group int, err error) {
	if x, err = l.input(ins, 0); err != nil {
		return nil, nil, nil, 0, err
	}
	if w, err = l.constInput(ins, 1, "weights"); err != nil {
		return nil, nil, nil, 0, err
	}
	if bias, err = l.optionalConst(ins, 2, "bias"); err != nil {
		return nil, nil, nil, 0, err
	}
	if len(x.shape) < 3 || len(w.Shape) != len(x.shape) {
		return nil, nil, nil, 0, l.fail(ErrModel, "input %v and weights %v must both be [N, C, spatial…]", x.shape, w.Shape)
	}
	g, err := n.AttrInt("group", 1)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	return x, w, bias, int(g), nil
}

func lowerConv(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, w, bias, G, err := l.convOperands(n, ins)
	if err != nil {
		return nil, err
	}
	N, C, M := x.shape[0], x.shape[1], w.Shape[0]
	if G <= 0 || C%G != 0 || M%G != 0 || w.Shape[1] != C/G {
		return nil, l.fail(ErrModel, "group=%d does not fit %d input channels, %d output channels and weights %v", G, C, M, w.Shape)
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
	x, w, bias, G, err := l.convOperands(n, ins)
	if err != nil {
		return nil, err
	}
	N, C := x.shape[0], x.shape[1]
	if G <= 0 || C%G != 0 || w.Shape[0] != C {
		return nil, l.fail(ErrModel, "group=%d does not fit %d input channels and weights %v", G, C, w.Shape)
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
