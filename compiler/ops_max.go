package compiler

import (
	"fmt"
	"math/bits"
	"slices"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
)

// Max over windows (MaxPool, GlobalMaxPool, ReduceMax) is a balanced tree
// of max(a, b) = b + relu(a − b). Each level of the tree halves every
// window: the differences of all its pairs, over every window, are one
// affine map of the level's input, and their ReLU one Activation node that
// approx-activations fits on the calibrated range of those differences. A
// window of k values thus takes ⌈log2 k⌉ levels of ReLU, each costing the
// map, the polynomial and the map after it.

// maxWindows describes a max over windows of a tensor.
type maxWindows struct {
	out []int // the result's shape
	// entries lists, for every element of the result, the flat indices of
	// the input it is the max of (at least one).
	entries [][]int
	// geo, for a pooling, is the geometry of the first level's maps (the
	// pooling's); their outputs then stack the pairs of a window on the
	// channel axis, so that later levels are channel mixes at each position.
	// Without it, the pairs of a window are a trailing axis.
	geo *ir.Geometry
}

// maxLayer is a max lowered as a tree, for the compile report.
type maxLayer struct {
	origin string
	levels int // of ReLU
}

// stacking is the shape of a level holding k values per window, and where
// value j of window r sits in it.
func (w *maxWindows) stacking(k int) ([]int, func(r, j int) int) {
	if k == 1 {
		return w.out, func(r, _ int) int { return r }
	}
	if w.geo != nil && len(w.out) >= 3 {
		// [N, k·C, spatial…], value j of every channel in block j: a level
		// reads its pairs at the same position k/2 channel blocks apart.
		c, s := w.out[1], ir.NumElements(w.out[2:])
		shape := slices.Concat([]int{w.out[0], k * c}, w.out[2:])
		return shape, func(r, j int) int {
			nc, pos := r/s, r%s
			n, ch := nc/c, nc%c
			return ((n*k+j)*c+ch)*s + pos
		}
	}
	return append(slices.Clone(w.out), k), func(r, j int) int { return r*k + j }
}

// maxTree computes the max of every window of x.
func (l *lowerer) maxTree(x *value, w *maxWindows, desc string) (*value, error) {
	cur, entries, geo := x, w.entries, w.geo
	levels := 0
	for {
		k := 0
		for r, e := range entries {
			if len(e) == 0 {
				return nil, l.errorf("%s: output element %d has an empty window (only padding)", desc, r)
			}
			k = max(k, len(e))
		}
		half := (k + 1) / 2
		shape, index := w.stacking(half)
		size, err := l.resultSize(cur, shape)
		if err != nil {
			return nil, err
		}
		sel := ir.NewBuilder(size, cur.size())
		if k == 1 {
			for r, e := range entries {
				sel.Add(r, e[0], 1)
			}
			return l.geoLinear(cur, sel, geo, shape, desc)
		}
		// Value j of a window of n is max(e[j], e[j+h]), h = ⌈n/2⌉; when n
		// is odd its middle value e[h−1] is carried through: the difference
		// row is zero and the ReLU's (approximate) value is masked out, so a
		// window that padding shortened is exactly the max of what it holds.
		diff := ir.NewBuilder(size, cur.size())
		keep := make([]float64, size)
		masked := false
		next := make([][]int, len(entries))
		for r, e := range entries {
			h := (len(e) + 1) / 2
			for j := range h {
				row := index(r, j)
				next[r] = append(next[r], row)
				if j+h < len(e) {
					diff.Add(row, e[j], 1)
					diff.Add(row, e[j+h], -1)
					sel.Add(row, e[j+h], 1)
					keep[row] = 1
				} else {
					sel.Add(row, e[j], 1)
				}
			}
			masked = masked || h < half || len(e)%2 == 1
		}
		d, err := l.geoLinear(cur, diff, geo, shape, desc+" differences")
		if err != nil {
			return nil, err
		}
		b, err := l.geoLinear(cur, sel, geo, shape, desc+" second operands")
		if err != nil {
			return nil, err
		}
		relu := l.applyActivation(d, &ir.Activation{Func: "relu"})
		if masked {
			m := ir.NewBuilder(size, size)
			for i, v := range keep {
				m.Add(i, i, v)
			}
			if relu, err = l.geoLinear(relu, m, sameGeometry(geo, shape), shape, desc+" pairs"); err != nil {
				return nil, err
			}
		}
		if cur, err = l.add(b, relu); err != nil {
			return nil, err
		}
		levels++
		entries, geo = next, sameGeometry(geo, shape)
		if half == 1 {
			if cur.isConst() {
				return cur, nil
			}
			l.maxLayers = append(l.maxLayers, maxLayer{origin: l.origin(), levels: levels})
			return cur, nil
		}
	}
}

// geoLinear applies the map b holds to v, with geometry geo.
func (l *lowerer) geoLinear(v *value, b *ir.Builder, geo *ir.Geometry, shape []int, desc string) (*value, error) {
	lin, err := b.Build(nil, desc)
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	lin.Geometry = geo
	return l.linear(v, lin, shape), nil
}

// sameGeometry is the element-wise geometry of a level after a pooling's
// first, nil without geometry.
func sameGeometry(geo *ir.Geometry, shape []int) *ir.Geometry {
	if geo == nil || len(shape) < 3 {
		return nil
	}
	return ir.SameGeometry(len(shape) - 2)
}

// reduceMax is the max of v over axes.
func (l *lowerer) reduceMax(v *value, axes []int, keep bool) (*value, error) {
	r := len(v.shape)
	red, err := l.axisMask(axes, r)
	if err != nil {
		return nil, err
	}
	var out, kept []int
	for d := range r {
		switch {
		case !red[d]:
			out, kept = append(out, v.shape[d]), append(kept, v.shape[d])
		case keep:
			out, kept = append(out, 1), append(kept, 1)
		default:
			kept = append(kept, 1)
		}
	}
	if _, err := l.resultSize(v, out); err != nil {
		return nil, err
	}
	w := &maxWindows{out: out, entries: make([][]int, ir.NumElements(out))}
	kStr := ir.Strides(kept)
	col := 0
	forEach(v.shape, func(idx []int) {
		row := 0
		for d := range r {
			if !red[d] {
				row += idx[d] * kStr[d]
			}
		}
		w.entries[row] = append(w.entries[row], col)
		col++
	})
	return l.maxTree(v, w, "reduce max")
}

func lowerGlobalMaxPool(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
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
	v, err := l.reduceMax(x, axes, true)
	return []*value{v}, err
}

func lowerMaxPool(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	x, err := l.input(ins, 0)
	if err != nil {
		return nil, err
	}
	if len(n.Outputs) > 1 && n.Outputs[1] != "" {
		return nil, l.errorf("the Indices output (the positions of the maxima) is not supported: they depend on the values")
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
	if l.since < 10 {
		for _, a := range []string{"ceil_mode", "dilations"} {
			if _, ok := n.Attrs[a]; ok {
				return nil, l.fail(ErrModel, "attribute %s exists from opset 10 (MaxPool-10)", a)
			}
		}
	}
	ceil, err := n.AttrInt("ceil_mode", 0)
	if err != nil {
		return nil, err
	}
	g, err := l.windowGeometry(n, in, int64sToInts(ks), ceil != 0)
	if err != nil {
		return nil, err
	}
	// Pooling one axis after another keeps every level's values where the
	// input's are (a 2×2 window is a pair along each axis), when it takes
	// no more levels than the whole window (3×3×3: 6 against 5).
	var steps [][]int
	sum, prod := 0, 1
	for d, k := range g.kernel {
		sum += bits.Len(uint(k - 1))
		prod *= k
		if k > 1 {
			steps = append(steps, []int{d})
		}
	}
	if len(steps) < 2 || sum != bits.Len(uint(prod-1)) {
		steps = [][]int{nil}
		for d := range in {
			steps[0] = append(steps[0], d)
		}
	} else {
		// Axes of kernel 1 (strided or padded only) go with the first step.
		for d, k := range g.kernel {
			if k == 1 {
				steps[0] = append(steps[0], d)
			}
		}
	}
	v := x
	for _, axes := range steps {
		if v, err = l.poolStep(v, g, axes); err != nil {
			return nil, err
		}
	}
	return []*value{v}, nil
}

// poolStep max-pools x along the given spatial axes of the window g.
func (l *lowerer) poolStep(x *value, g *spatial, axes []int) (*value, error) {
	k := len(g.kernel)
	out := slices.Clone(x.shape)
	kernel := ones(k)
	geo := &ir.Geometry{Stride: ones(k), Pad: make([]int, k)}
	for _, d := range axes {
		out[2+d] = g.out[d]
		kernel[d] = g.kernel[d]
		geo.Stride[d], geo.Pad[d] = g.strides[d], g.padBegin[d]
	}
	if _, err := l.resultSize(x, out); err != nil {
		return nil, err
	}
	in := x.shape[2:]
	inStrides := ir.Strides(x.shape)
	w := &maxWindows{out: out, geo: geo, entries: make([][]int, 0, ir.NumElements(out))}
	pos := make([]int, k)
	for nc := range x.shape[0] * x.shape[1] {
		base := nc * inStrides[1]
		forEach(out[2:], func(o []int) {
			var cols []int
			forEach(kernel, func(kk []int) {
				col := base
				for d := range kk {
					pos[d] = o[d]*geo.Stride[d] - geo.Pad[d] + kk[d]*g.dilations[d]
					if pos[d] < 0 || pos[d] >= in[d] {
						return
					}
					col += pos[d] * inStrides[2+d]
				}
				cols = append(cols, col)
			})
			w.entries = append(w.entries, cols)
		})
	}
	return l.maxTree(x, w, fmt.Sprintf("maxpool %v s%v", kernel, geo.Stride))
}
