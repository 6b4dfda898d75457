package compiler

import (
	"math"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
)

// GridSample with a constant grid is an affine map: every output pixel is
// a fixed combination of input pixels (one for nearest, 2×2 for bilinear,
// 4×4 for bicubic) whose weights follow from the grid. The semantics are
// PyTorch's grid_sample, which ONNX specifies.

var gridSampleOps = []opEntry{
	{"GridSample", 16, lowerGridSample,
		"constant grid; 4-D input; modes bilinear, nearest, bicubic; padding zeros, border, reflection; align_corners: an affine map"},
}

type gridSampler struct {
	mode, padding string
	align         bool
}

// unnormalize maps a grid coordinate in [-1, 1] to a pixel coordinate.
func (s *gridSampler) unnormalize(c float64, size int) float64 {
	if s.align {
		return (c + 1) / 2 * float64(size-1)
	}
	return ((c+1)*float64(size) - 1) / 2
}

// pad applies the padding mode to a pixel coordinate: border clamps it,
// reflection reflects it at the image's edges (then clamps); zeros leaves
// it, and out-of-range taps read 0.
func (s *gridSampler) pad(c float64, size int) float64 {
	switch s.padding {
	case "border":
		return math.Max(0, math.Min(c, float64(size-1)))
	case "reflection":
		if s.align {
			c = reflect(c, 0, 2*float64(size-1))
		} else {
			c = reflect(c, -1, 2*float64(size)-1)
		}
		return math.Max(0, math.Min(c, float64(size-1)))
	}
	return c
}

// reflect is PyTorch's reflect_coordinates over [twiceLow/2, twiceHigh/2].
func reflect(c, twiceLow, twiceHigh float64) float64 {
	if twiceLow == twiceHigh {
		return 0
	}
	lo, span := twiceLow/2, (twiceHigh-twiceLow)/2
	c = math.Abs(c - lo)
	extra := math.Mod(c, span)
	if int64(math.Floor(c/span))%2 == 0 {
		return extra + lo
	}
	return span - extra + lo
}

// taps returns the input indices and weights along one axis for grid
// coordinate g; an index outside [0, size) reads 0.
func (s *gridSampler) taps(g float64, size int) []tap {
	c := s.unnormalize(g, size)
	switch s.mode {
	case "nearest":
		return []tap{{idx: int(math.RoundToEven(s.pad(c, size))), w: 1}}
	case "bilinear":
		c = s.pad(c, size)
		f := math.Floor(c)
		return []tap{{idx: int(f), w: 1 - (c - f)}, {idx: int(f) + 1, w: c - f}}
	}
	// bicubic: the coefficients come from the unpadded coordinate, each
	// of the four taps is padded on its own.
	f := math.Floor(c)
	r := c - f
	coeffs := (&resizeSpec{mode: "cubic", cubicA: -0.75}).cubic(r)
	out := make([]tap, 4)
	for i := range out {
		out[i] = tap{idx: int(math.Floor(s.pad(f-1+float64(i), size))), w: coeffs[i]}
	}
	return out
}

func lowerGridSample(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	grid, err := l.constInput(ins, 1, "grid")
	if err != nil {
		return nil, err
	}
	if len(x.shape) != 4 || len(grid.Shape) != 4 || grid.Shape[0] != x.shape[0] || grid.Shape[3] != 2 {
		return nil, l.fail(ErrModel, "input %v and grid %v must be [N, C, H, W] and [N, H_out, W_out, 2]", x.shape, grid.Shape)
	}
	if err := checkFinite(grid, "the grid"); err != nil {
		return nil, l.fail(ErrModel, "%v", err)
	}
	s := &gridSampler{}
	align, err1 := n.AttrInt("align_corners", 0)
	mode, err2 := n.AttrString("mode", "bilinear")
	padding, err3 := n.AttrString("padding_mode", "zeros")
	if err := firstErr(err1, err2, err3); err != nil {
		return nil, err
	}
	s.align, s.mode, s.padding = align != 0, mode, padding
	if mode != "bilinear" && mode != "nearest" && mode != "bicubic" {
		return nil, l.errorf("mode %q is not supported (bilinear, nearest, bicubic)", mode)
	}
	if padding != "zeros" && padding != "border" && padding != "reflection" {
		return nil, l.errorf("padding_mode %q is not supported (zeros, border, reflection)", padding)
	}
	N, C, H, W := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	Ho, Wo := grid.Shape[1], grid.Shape[2]
	out := []int{N, C, Ho, Wo}
	size, err := l.resultSize(x, out)
	if err != nil {
		return nil, err
	}
	b := ir.NewBuilder(size, x.size())
	for bn := range N {
		for i := range Ho {
			for j := range Wo {
				g := ((bn*Ho+i)*Wo + j) * 2
				xs, ys := s.taps(grid.Data[g], W), s.taps(grid.Data[g+1], H)
				for c := range C {
					row := ((bn*C+c)*Ho+i)*Wo + j
					for _, ty := range ys {
						for _, tx := range xs {
							if ty.idx >= 0 && ty.idx < H && tx.idx >= 0 && tx.idx < W {
								b.Add(row, ((bn*C+c)*H+ty.idx)*W+tx.idx, ty.w*tx.w)
							}
						}
					}
				}
			}
		}
	}
	lin, err := b.Build(nil, "grid sample "+mode)
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	return []*value{l.linear(x, lin, out)}, nil
}
