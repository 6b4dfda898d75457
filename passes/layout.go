package passes

import (
	"fmt"
	"math/bits"
	"slices"

	"github.com/hecc-dev/hecc/ir"
)

// maxLayoutSlots bounds how far a layout may spread a tensor: the slots of
// the largest ring in the security table (logN 15).
const maxLayoutSlots = 1 << 14

// Layout decides where every encrypted value sits in the slots of its
// ciphertext and rewrites the graph in slot coordinates.
//
// A value is compact (element k in slot k) unless it comes out of a
// convolution-like affine map (ir.Geometry) applied to a laid-out
// [N, C, spatial…] tensor. Such an output is placed where its receptive
// field starts in the input's slots — spatial strides multiplied by the
// map's stride, channels a fixed stride apart — so every output row reads
// its inputs at the same relative offsets, and the map has as many
// non-zero diagonals as (input channels + output channels − 1) × kernel
// positions instead of up to one per slot. The next dense layer reads the
// strided tensor at no extra cost: its diagonals follow its non-zero
// columns wherever they are. Values an output depends on only element-wise
// are compact, so the client decodes the result from the first slots.
//
// Layout also sizes the slots (the smallest power of two holding the
// largest laid-out value) and guarantees that the result reveals only the
// output: slots beyond it must be zero. An affine map leaves them zero (its
// rows there are zero) but a polynomial with p(0) ≠ 0 writes p(0) into
// them, so an output whose producer may hold such values gets a mask.
func Layout(g *ir.Graph, cfg *Config) error {
	if slots := chooseLayouts(g); slots != nil {
		spread, err := rewriteInSlots(g, slots)
		if err != nil {
			return err
		}
		if spread > 0 {
			cfg.logf("layout", "%d convolution outputs placed over their inputs' slots", spread)
		}
	}
	largest := 1
	for _, n := range g.Nodes {
		if n.Op != ir.OpConst {
			largest = max(largest, n.Size())
		}
	}
	g.LogSlots = bits.Len(uint(largest - 1))
	masked, err := maskOutputs(g)
	if err != nil {
		return err
	}
	cfg.logf("layout", "2^%d slots for a largest value of %d slots; %d outputs masked", g.LogSlots, largest, masked)
	return nil
}

// strided is a layout slot = offset + Σ idx[a]·stride[a] over a tensor's axes.
type strided struct {
	shape, stride []int
	offset        int
}

func compact(shape []int) *strided {
	return &strided{shape: shape, stride: ir.Strides(shape)}
}

// slots lists the slot of every element, in row-major order.
func (s *strided) slots() []int {
	out := make([]int, 0, ir.NumElements(s.shape))
	idx := make([]int, len(s.shape))
	for range ir.NumElements(s.shape) {
		slot := s.offset
		for a, i := range idx {
			slot += i * s.stride[a]
		}
		out = append(out, slot)
		for a := len(idx) - 1; a >= 0; a-- {
			if idx[a]++; idx[a] < s.shape[a] {
				break
			}
			idx[a] = 0
		}
	}
	return out
}

// chooseLayouts returns every encrypted node's slots, or nil when every
// value stays compact.
func chooseLayouts(g *ir.Graph) map[*ir.Node][]int {
	// Values an output reaches through element-wise nodes only stay compact.
	keep := map[*ir.Node]bool{}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if n.Op == ir.OpOutput || (keep[n] && n.Op != ir.OpAffine) || (keep[n] && n.Linear.Identity) {
			for _, in := range n.Inputs {
				keep[in] = true
			}
		}
	}
	lay := map[*ir.Node]*strided{}
	slots := map[*ir.Node][]int{}
	spread := false
	for _, n := range g.Nodes {
		switch n.Op {
		case ir.OpConst:
			continue
		case ir.OpInput:
			lay[n] = compact(n.Shape)
		case ir.OpAffine:
			in := lay[n.Inputs[0]]
			switch {
			case n.Linear.Identity && in != nil && slices.Equal(in.shape, n.Shape):
				lay[n] = in
			case n.Linear.Identity:
				slots[n] = slots[n.Inputs[0]] // a reshape keeps every element's slot
				continue
			default:
				if s := convLayout(n, in); s != nil && !keep[n] {
					lay[n], spread = s, true
				} else {
					lay[n] = compact(n.Shape)
				}
			}
		case ir.OpAdd, ir.OpMul:
			if !slices.Equal(slots[n.Inputs[0]], slots[n.Inputs[1]]) {
				return nil // operands laid out differently: keep everything compact
			}
			fallthrough
		default: // element-wise
			lay[n] = lay[n.Inputs[0]]
			if lay[n] == nil || !slices.Equal(lay[n].shape, n.Shape) {
				lay[n] = nil
				slots[n] = slots[n.Inputs[0]]
				continue
			}
		}
		slots[n] = lay[n].slots()
	}
	if !spread {
		return nil
	}
	return slots
}

// convLayout places a convolution-like map's output over its input's slots,
// or returns nil when the map has no usable geometry.
func convLayout(n *ir.Node, in *strided) *strided {
	geo, x := n.Linear.Geometry, n.Inputs[0]
	r := len(n.Shape)
	if geo == nil || in == nil || r < 3 || len(x.Shape) != r || len(geo.Stride) != r-2 || !slices.Equal(in.shape, x.Shape) || n.Shape[0] != 1 {
		return nil
	}
	// Output position e sits where its window starts: at the input slot of
	// position stride·e − pad.
	out := &strided{shape: n.Shape, stride: make([]int, r), offset: in.offset}
	footprint := 1
	for d := 2; d < r; d++ {
		out.stride[d] = geo.Stride[d-2] * in.stride[d]
		out.offset -= geo.Pad[d-2] * in.stride[d]
		footprint += (n.Shape[d] - 1) * out.stride[d]
	}
	// Channels as far apart as the input's keep the channel offsets shared;
	// a wider footprint needs a wider stride.
	out.stride[1] = max(in.stride[1], footprint)
	out.stride[0] = out.stride[1] * n.Shape[1]
	out.offset = max(out.offset, 0) // a shift changes every diagonal alike
	if out.offset+out.stride[0] > maxLayoutSlots {
		return nil
	}
	return out
}

// rewriteInSlots rewrites every affine map and shape in slot coordinates,
// returning how many maps were spread out.
func rewriteInSlots(g *ir.Graph, slots map[*ir.Node][]int) (int, error) {
	extent := func(n *ir.Node) int {
		s := slots[n]
		if s == nil {
			return n.Size()
		}
		return slices.Max(s) + 1
	}
	isCompact := func(n *ir.Node) bool {
		for i, s := range slots[n] {
			if s != i {
				return false
			}
		}
		return true
	}
	spread := 0
	for _, n := range g.Nodes {
		if n.Op == ir.OpConst || n.Op == ir.OpInput {
			continue
		}
		if n.Op == ir.OpAffine {
			in := n.Inputs[0]
			if isCompact(n) && isCompact(in) {
				continue
			}
			l := n.Linear
			if l.Identity {
				l.Rows, l.Cols = extent(n), extent(in)
				if l.Rows != l.Cols || !slices.Equal(slots[n], slots[in]) {
					return 0, fmt.Errorf("node %s: a reshape would move its elements", n.Label())
				}
			} else {
				rows, cols := slots[n], slots[in]
				b := ir.NewBuilder(extent(n), extent(in))
				for r := range l.Rows {
					l.Row(r, func(c int, v float64) { b.Add(rows[r], cols[c], v) })
				}
				var bias []float64
				if l.Bias != nil {
					bias = make([]float64, extent(n))
					for r, v := range l.Bias {
						bias[rows[r]] = v
					}
				}
				laid, err := b.Build(bias, l.Desc)
				if err != nil {
					return 0, fmt.Errorf("node %s: %w", n.Label(), err)
				}
				n.Linear = laid
				if !isCompact(n) {
					spread++
				}
			}
		}
		if !isCompact(n) {
			n.Shape = []int{extent(n)}
		}
	}
	return spread, nil
}

// maskOutputs puts a masking map before every output whose producer may
// hold non-zero values beyond the output.
func maskOutputs(g *ir.Graph) (int, error) {
	clean := make(map[*ir.Node]bool, len(g.Nodes))
	masked := 0
	for i := 0; i < len(g.Nodes); i++ {
		n := g.Nodes[i]
		switch n.Op {
		case ir.OpInput:
			clean[n] = true // the client encrypts zeros there
		case ir.OpAffine:
			clean[n] = !n.Linear.Identity || clean[n.Inputs[0]]
		case ir.OpPoly:
			clean[n] = clean[n.Inputs[0]] && n.Poly.Eval(0) == 0
		case ir.OpActivation:
			clean[n] = clean[n.Inputs[0]] && n.Act.Eval(0) == 0
		case ir.OpAdd, ir.OpMul:
			clean[n] = clean[n.Inputs[0]] && clean[n.Inputs[1]]
		case ir.OpOutput:
			if in := n.Inputs[0]; !clean[in] {
				b := ir.NewBuilder(in.Size(), in.Size())
				for j := range in.Size() {
					b.Add(j, j, 1)
				}
				lin, err := b.Build(nil, "output mask")
				if err != nil {
					return 0, err
				}
				mask := &ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{in}, Shape: in.Shape, Origin: n.Origin, Linear: lin}
				g.Nodes = slices.Insert(g.Nodes, i, mask)
				n.Inputs[0] = mask
				i++
				masked++
			}
		}
	}
	return masked, nil
}
