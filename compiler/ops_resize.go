package compiler

import (
	"fmt"
	"math"
	"slices"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
)

// Resize and Upsample with constant scales or sizes are affine maps: each
// output element is a fixed combination of input elements (one for nearest,
// two per axis for linear, four for cubic), with weights that depend only on
// the geometry. The map is separable: the weight of an input element is the
// product of one weight per axis.

var resizeOps = []opEntry{
	{"Upsample", 7, lowerUpsample, "scales attribute; modes nearest and linear (an affine map)"},
	{"Upsample", 9, lowerUpsample, "constant scales input; modes nearest and linear (an affine map)"},
	{"Resize", 10, lowerResize, "constant scales; modes nearest and linear (an affine map), as Upsample"},
	{"Resize", 11, lowerResize, "constant scales or sizes; modes nearest (every nearest_mode), linear and cubic " +
		"(cubic_coeff_a, exclude_outside), every coordinate_transformation_mode but half_pixel_symmetric, " +
		"extrapolation_value: an affine map; not antialias, axes or keep_aspect_ratio_policy (opset 18)"},
}

// tap is one input index and its weight along one axis.
type tap struct {
	idx int
	w   float64
}

// separable applies the map out[o] = Σ Π_a w_a · x[i_0, …, i_r] over the
// taps taps[a][o_a] of every axis; an output coordinate whose taps are nil
// on some axis takes the constant fill instead. The caller has bounded the
// work (the output's size times the product of the taps per axis).
func (l *lowerer) separable(v *value, out []int, taps [][][]tap, fill float64, desc string) (*value, error) {
	size, err := l.resultSize(v, out)
	if err != nil {
		return nil, err
	}
	b := ir.NewBuilder(size, v.size())
	var bias []float64
	strides := ir.Strides(v.shape)
	idx := make([]int, len(out))
	for o := range size {
		extrapolated := false
		for a, i := range idx {
			if taps[a][i] == nil {
				extrapolated = true
			}
		}
		if extrapolated {
			if fill != 0 {
				if bias == nil {
					bias = make([]float64, size)
				}
				bias[o] = fill
			}
		} else {
			var walk func(a, col int, w float64)
			walk = func(a, col int, w float64) {
				if a == len(out) {
					b.Add(o, col, w)
					return
				}
				for _, t := range taps[a][idx[a]] {
					walk(a+1, col+t.idx*strides[a], w*t.w)
				}
			}
			walk(0, 0, 1)
		}
		next(idx, out)
	}
	lin, err := b.Build(bias, desc)
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	return l.linear(v, lin, out), nil
}

// resizeSpec is the interpolation of a Resize or Upsample node.
type resizeSpec struct {
	mode        string // nearest, linear, cubic
	coordMode   string
	nearestMode string
	cubicA      float64
	exclude     bool
	extrapolate float64
	roi         []float64 // tf_crop_and_resize: starts then ends, per axis
}

func lowerUpsample(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	var scales []float64
	if l.since >= 9 {
		t, err := l.constInput(ins, 1, "scales")
		if err != nil {
			return nil, err
		}
		scales = t.Data
	} else if scales, err = n.AttrFloats("scales", nil); err != nil {
		return nil, err
	}
	mode, err := n.AttrString("mode", "nearest")
	if err != nil {
		return nil, err
	}
	for _, s := range scales {
		if s < 1 {
			return nil, l.fail(ErrModel, "scales %v: Upsample needs scales ≥ 1", scales)
		}
	}
	// Upsample is Resize-10: asymmetric coordinates, nearest rounds down.
	spec := &resizeSpec{mode: mode, coordMode: "asymmetric", nearestMode: "floor"}
	v, err := l.resize(x, spec, scales, nil)
	return []*value{v}, err
}

func lowerResize(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	mode, err := n.AttrString("mode", "nearest")
	if err != nil {
		return nil, err
	}
	if l.since < 11 {
		t, err := l.constInput(ins, 1, "scales")
		if err != nil {
			return nil, err
		}
		for _, s := range t.Data {
			// Resize-10 leaves the rounding of a downsampling nearest
			// resize unspecified, and runtimes disagree.
			if s < 1 && mode == "nearest" {
				return nil, l.errorf("nearest downsampling (scales %v) is ambiguous before opset 11; re-export at opset 11 or later", t.Data)
			}
		}
		spec := &resizeSpec{mode: mode, coordMode: "asymmetric", nearestMode: "floor"}
		v, err := l.resize(x, spec, t.Data, nil)
		return []*value{v}, err
	}
	spec := &resizeSpec{mode: mode}
	var err1, err2, err3, err4, err5 error
	spec.coordMode, err1 = n.AttrString("coordinate_transformation_mode", "half_pixel")
	spec.nearestMode, err2 = n.AttrString("nearest_mode", "round_prefer_floor")
	spec.cubicA, err3 = n.AttrFloat("cubic_coeff_a", -0.75)
	exclude, err4 := n.AttrInt("exclude_outside", 0)
	spec.extrapolate, err5 = n.AttrFloat("extrapolation_value", 0)
	if err := firstErr(err1, err2, err3, err4, err5); err != nil {
		return nil, err
	}
	spec.exclude = exclude != 0
	if a, err := n.AttrInt("antialias", 0); err != nil || a != 0 {
		return nil, l.errorf("antialias is not supported")
	}
	if a, err := n.AttrInts("axes", nil); err != nil || a != nil {
		return nil, l.errorf("the axes attribute is not supported: give scales or sizes for every axis")
	}
	if p, err := n.AttrString("keep_aspect_ratio_policy", "stretch"); err != nil || p != "stretch" {
		return nil, l.errorf("keep_aspect_ratio_policy %q is not supported (stretch only)", p)
	}
	roi, err := l.optionalConst(ins, 1, "roi")
	if err != nil {
		return nil, err
	}
	scalesT, err := l.optionalConst(ins, 2, "scales")
	if err != nil {
		return nil, err
	}
	sizesT, err := l.optionalConst(ins, 3, "sizes")
	if err != nil {
		return nil, err
	}
	var scales []float64
	var sizes []int
	if scalesT != nil && len(scalesT.Data) > 0 {
		scales = scalesT.Data
	}
	if sizesT != nil && len(sizesT.Data) > 0 {
		if sizes, err = l.ints(sizesT, "sizes"); err != nil {
			return nil, err
		}
	}
	if (scales == nil) == (sizes == nil) {
		return nil, l.fail(ErrModel, "exactly one of scales and sizes must be given")
	}
	if spec.coordMode == "tf_crop_and_resize" {
		if roi == nil || len(roi.Data) != 2*len(x.shape) {
			return nil, l.fail(ErrModel, "tf_crop_and_resize needs a roi of %d values", 2*len(x.shape))
		}
		spec.roi = roi.Data
	}
	v, err := l.resize(x, spec, scales, sizes)
	return []*value{v}, err
}

// resize builds the interpolation map of x for per-axis scales or sizes,
// following the ONNX reference implementation (interpolate_nd).
func (l *lowerer) resize(x *value, spec *resizeSpec, scales []float64, sizes []int) (*value, error) {
	r := len(x.shape)
	if (scales != nil && len(scales) != r) || (sizes != nil && len(sizes) != r) {
		return nil, l.fail(ErrModel, "scales %v / sizes %v for an input of rank %d", scales, sizes, r)
	}
	var ntaps int
	switch spec.mode {
	case "nearest":
		ntaps = 1
	case "linear", "bilinear", "trilinear":
		ntaps = 2
	case "cubic", "bicubic":
		ntaps = 4
	default:
		return nil, l.errorf("mode %q is not supported (nearest, linear, cubic)", spec.mode)
	}
	out := make([]int, r)
	scale := make([]float64, r)
	for a := range r {
		in := x.shape[a]
		if sizes != nil {
			out[a] = sizes[a]
			scale[a] = float64(sizes[a]) / float64(in)
		} else {
			scale[a] = scales[a]
			if !(scale[a] > 0) || math.IsInf(scale[a], 0) {
				return nil, l.fail(ErrModel, "scale %v on axis %d", scale[a], a)
			}
			f := math.Floor(scale[a] * float64(in))
			if f > ir.MaxElements {
				return nil, l.fail(ErrModel, "scale %v on axis %d is too large", scale[a], a)
			}
			out[a] = int(f)
		}
		if out[a] <= 0 || out[a] > ir.MaxElements {
			return nil, l.fail(ErrModel, "the output has %d elements on axis %d", out[a], a)
		}
	}
	size, err := l.resultSize(x, out)
	if err != nil {
		return nil, err
	}
	// Bound the work before the taps are computed (each output reads at
	// most ntaps^r inputs).
	if work := float64(size) * math.Pow(float64(ntaps), float64(r)); work > ir.MaxNonZeros {
		return nil, l.errorf("the resize has more than %d weights", ir.MaxNonZeros)
	}
	taps := make([][][]tap, r)
	for a := range r {
		taps[a] = make([][]tap, out[a])
		var roi [2]float64
		if spec.roi != nil {
			roi = [2]float64{spec.roi[a], spec.roi[a+r]}
		}
		for o := range out[a] {
			t, err := spec.axisTaps(o, x.shape[a], scale[a], roi, ntaps)
			if err != nil {
				return nil, l.errorf("%v", err)
			}
			taps[a][o] = t
		}
	}
	return l.separable(x, out, taps, spec.extrapolate, fmt.Sprintf("resize %s %v→%v", spec.mode, x.shape, out))
}

// axisTaps is interpolate_1d_with_x of the ONNX reference: the input
// coordinate of output coordinate o, then the n neighbours (edge-padded)
// and their coefficients. nil means the extrapolation value.
func (s *resizeSpec) axisTaps(o, in int, scale float64, roi [2]float64, n int) ([]tap, error) {
	x := float64(o)
	width := scale * float64(in) // the reference's output_width, not rounded
	var xo float64
	switch s.coordMode {
	case "half_pixel":
		xo = (x+0.5)/scale - 0.5
	case "pytorch_half_pixel":
		xo = -0.5
		if width != 1 {
			xo = (x+0.5)/scale - 0.5
		}
	case "align_corners":
		if width != 1 {
			xo = x * float64(in-1) / (width - 1)
		}
	case "asymmetric":
		xo = x / scale
	case "tf_half_pixel_for_nn":
		xo = (x + 0.5) / scale
	case "tf_crop_and_resize":
		if width == 1 {
			xo = (roi[1] - roi[0]) * float64(in-1) / 2
		} else {
			xo = x * (roi[1] - roi[0]) * float64(in-1) / (width - 1)
		}
		xo += roi[0] * float64(in-1)
		if xo < 0 || xo > float64(in-1) {
			return nil, nil
		}
	default:
		return nil, fmt.Errorf("coordinate_transformation_mode %q is not supported", s.coordMode)
	}
	if math.IsNaN(xo) || math.IsInf(xo, 0) {
		return nil, fmt.Errorf("scale %v gives input coordinate %v", scale, xo)
	}
	// The reference prefers the left neighbour: an integer coordinate has
	// ratio 1 to the index below it.
	base := math.Floor(xo)
	ratio := xo - base
	if ratio == 0 {
		base--
		ratio = 1
	}
	coeffs, err := s.coefficients(ratio)
	if err != nil {
		return nil, err
	}
	// The n nearest indices of the edge-padded axis, window kept inside
	// the padding (pad = ceil(n/2)); for nearest, n = 2 with one weight 0.
	m := len(coeffs)
	pad := (m + 1) / 2
	start := int(base) - m/2 + 1
	start = max(-pad, min(start, in+pad-m))
	taps := make([]tap, 0, m)
	var sum float64
	for i, c := range coeffs {
		idx := start + i
		if s.exclude && (idx < 0 || idx >= in) {
			continue
		}
		sum += c
		taps = append(taps, tap{idx: max(0, min(idx, in-1)), w: c})
	}
	if s.exclude {
		if sum == 0 {
			return nil, fmt.Errorf("exclude_outside leaves output coordinate %d no input", o)
		}
		for i := range taps {
			taps[i].w /= sum
		}
	}
	// Zero weights (the unused neighbour of nearest) need no work.
	return slices.DeleteFunc(taps, func(t tap) bool { return t.w == 0 }), nil
}

// coefficients are the reference's nearest_coeffs, linear_coeffs and
// cubic_coeffs for a ratio in (0, 1].
func (s *resizeSpec) coefficients(ratio float64) ([]float64, error) {
	switch s.mode {
	case "nearest":
		right := false
		switch s.nearestMode {
		case "round_prefer_floor":
			right = ratio > 0.5
		case "round_prefer_ceil":
			right = ratio >= 0.5
		case "floor":
			right = ratio == 1
		case "ceil":
			right = true
		default:
			return nil, fmt.Errorf("nearest_mode %q is not supported", s.nearestMode)
		}
		if right {
			return []float64{0, 1}, nil
		}
		return []float64{1, 0}, nil
	case "linear", "bilinear", "trilinear":
		return []float64{1 - ratio, ratio}, nil
	}
	return s.cubic(ratio), nil
}

// cubic is the cubic convolution (Keys) kernel with coefficient cubicA at
// the four neighbours of a point at ratio r past the second one.
func (s *resizeSpec) cubic(r float64) []float64 {
	a, q := s.cubicA, 1-r
	return []float64{
		((a*(r+1)-5*a)*(r+1)+8*a)*(r+1) - 4*a,
		((a+2)*r-(a+3))*r*r + 1,
		((a+2)*q-(a+3))*q*q + 1,
		((a*(q+1)-5*a)*(q+1)+8*a)*(q+1) - 4*a,
	}
}
