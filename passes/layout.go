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
	maxInputSlots := DefaultMaxInputSlots
	if cfg != nil && cfg.MaxInputSlots > 0 {
		maxInputSlots = cfg.MaxInputSlots
	}
	if slots, gathers, copies := chooseLayouts(g, maxInputSlots, cfg != nil && cfg.ClientCopies); slots != nil {
		spread, err := rewriteInSlots(g, slots, gathers, copies)
		if err != nil {
			return err
		}
		if spread > 0 {
			cfg.logf("layout", "%d convolution outputs placed over their inputs' slots", spread)
		}
		for in, kr := range gathers {
			cfg.logf("layout", "input %q laid out by the client %s", in.Name, kr.describe)
		}
		for x, cp := range copies {
			cfg.logf("layout", "%s writes its %d channels %d times for %s: %d diagonals in the two maps instead of %d",
				x.Label(), cp.channels, cp.count, cp.reader.Label(), cp.diagonals, cp.before)
		}
	}
	largest := 1
	for _, n := range g.Nodes {
		if n.Op != ir.OpConst {
			largest = max(largest, n.CiphertextSize())
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

// strided is a layout slot = offset + Σ idx[a]·stride[a] over a tensor's
// axes, plus phase[c] for channel c (axis 1) when phase is not nil.
type strided struct {
	shape, stride []int
	offset        int
	phase         []int
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
		if s.phase != nil {
			slot += s.phase[idx[1]]
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
// value stays compact, and the inputs the client lays out itself (only
// with clientCopies: every such layout holds copies of input values).
func chooseLayouts(g *ir.Graph, maxInputSlots int, clientCopies bool) (map[*ir.Node][]int, map[*ir.Node]*clientLayout, map[*ir.Node]*channelCopies) {
	users := g.Users()
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
	// Values a convolution-like map reads through element-wise nodes keep
	// their channels evenly spaced (convLayout).
	convReads := map[*ir.Node]bool{}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if (n.Op == ir.OpAffine && n.Linear.Geometry != nil) || (convReads[n] && n.Op != ir.OpAffine) {
			for _, in := range n.Inputs {
				convReads[in] = true
			}
		}
	}
	// The dense maps reading a value through element-wise nodes and
	// reshapes that keep it in the standard form: those whose result
	// reaches an output.
	standardReaders := func(n *ir.Node) []*ir.Node {
		var out []*ir.Node
		var walk func(n *ir.Node)
		walk = func(n *ir.Node) {
			for _, u := range users[n] {
				switch {
				case u.Op == ir.OpAffine && !u.Linear.Identity:
					if keep[u] {
						out = append(out, u)
					}
				case u.Op != ir.OpOutput:
					walk(u)
				}
			}
		}
		walk(n)
		return out
	}
	lay := map[*ir.Node]*strided{}
	slots := map[*ir.Node][]int{}
	gathers := map[*ir.Node]*clientLayout{}
	copies := map[*ir.Node]*channelCopies{}
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
				x := n.Inputs[0]
				var kr *clientLayout
				if clientCopies && x.Op == ir.OpInput && len(users[x]) == 1 && !keep[n] {
					if kr = kernelPositionLayout(x, n, maxInputSlots); kr == nil {
						kr = kernelRowLayout(x, n)
					}
				}
				if kr != nil {
					lay[n], spread = kr.out, true
					gathers[x] = kr
				} else if s := spreadLayout(n, in, slots[x], !convReads[n], standardReaders(n)); s != nil && !keep[n] {
					lay[n], spread = s, true
					if x.Op == ir.OpAffine && len(users[x]) == 1 && gathers[x.Inputs[0]] == nil {
						if cp := channelCopiesFor(n, x, lay[x], s.slots(), slots[x], slots[x.Inputs[0]]); cp != nil {
							copies[x] = cp
						}
					}
				} else {
					lay[n] = compact(n.Shape)
				}
			}
		case ir.OpAdd, ir.OpMul:
			if !slices.Equal(slots[n.Inputs[0]], slots[n.Inputs[1]]) {
				return nil, nil, nil // operands laid out differently: keep everything compact
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
		return nil, nil, nil
	}
	return slots, gathers, copies
}

// channelCopies makes an affine map write its output's channels count
// times, period slots apart, so that the convolution reading it (reader)
// finds every input channel in each window of Cin consecutive channel
// blocks: block b holds input channel b mod Cin. Output channel c (block
// c) reads the window starting at block c, or, for the last output
// channels, the last window: its offsets run from min(0, (count−1)·Cin −
// Cout + 1) to Cin − 1 (from 6 to 16 channels: 9 offsets, against 11
// when channel c read copy ⌊c/Cin⌋ and 21 without copies) — fewer
// diagonals for a convolution that widens, for a few more in the map that
// writes the copies.
type channelCopies struct {
	channels          int
	count, period     int
	reader            *ir.Node
	pick              func(r, c int) int // the copy the reader's row r reads column c from
	diagonals, before int                // of the two maps, with and without
}

// channelCopiesFor returns the copies that x, the only input of
// convolution-like map n, should write, or nil when they do not fit or do
// not save diagonals. outSlots, xSlots and inSlots are the slots of n, x
// and x's input.
func channelCopiesFor(n, x *ir.Node, xLay *strided, outSlots, xSlots, inSlots []int) *channelCopies {
	if xLay == nil || len(n.Shape) != 4 || len(x.Shape) != 4 || xSlots == nil || inSlots == nil || x.Linear.Identity {
		return nil
	}
	cin, cout, positions := x.Shape[1], n.Shape[1], n.Shape[2]*n.Shape[3]
	count := (cout + cin - 1) / cin
	period := cin * xLay.stride[1]
	if count < 2 || xLay.stride[0] != period || slices.Max(xSlots)+1+(count-1)*period > maxLayoutSlots {
		return nil
	}
	inPositions, last := x.Shape[2]*x.Shape[3], (count-1)*cin
	pick := func(r, c int) int {
		oc, ic := (r/positions)%cout, (c/inPositions)%cin
		start := min(0, last-oc) // of the window, in blocks from oc's
		d := start + ((ic-oc-start)%cin+cin)%cin
		return (oc + d - ic) / cin
	}
	diagonals := func(l *ir.Linear, rows, cols []int, shift func(r, c int) []int) int {
		seen := map[int]bool{}
		for r := range l.Rows {
			l.Row(r, func(c int, _ float64) {
				for _, k := range shift(r, c) {
					seen[rows[r]+k-cols[c]] = true
				}
			})
		}
		return len(seen)
	}
	none := func(int, int) []int { return []int{0} }
	all := make([]int, count)
	for k := range all {
		all[k] = k * period
	}
	cp := &channelCopies{channels: cin, count: count, period: period, reader: n, pick: pick,
		before: diagonals(n.Linear, outSlots, xSlots, none) + diagonals(x.Linear, xSlots, inSlots, none)}
	cp.diagonals = diagonals(n.Linear, outSlots, xSlots, func(r, c int) []int { return []int{-pick(r, c) * period} }) +
		diagonals(x.Linear, xSlots, inSlots, func(int, int) []int { return all })
	if 10*cp.diagonals > 9*cp.before {
		return nil
	}
	return cp
}

// convLayout places a convolution-like map's output over its input's slots,
// or returns nil when the map has no usable geometry.
//
// A strided map's outputs fill one slot in Π stride of their window: with
// interleave (no convolution-like map reads the output, so nothing needs
// its channels evenly spaced), up to Π stride channels share one block of
// slots, each shifted by a different phase (a, b…) below the stride.
// Their diagonals are then the kernel offsets less the phases, which
// mostly coincide: a 5×5 kernel at stride 2 needs 6×6 diagonals for four
// channels instead of 4×5×5.
func convLayout(n *ir.Node, in *strided, interleave bool) *strided {
	geo, x := n.Linear.Geometry, n.Inputs[0]
	r := len(n.Shape)
	if geo == nil || in == nil || in.phase != nil || r < 3 || len(x.Shape) != r || len(geo.Stride) != r-2 || !slices.Equal(in.shape, x.Shape) || n.Shape[0] != 1 {
		return nil
	}
	phases := []int{0} // slot offsets below the strides, in mixed radix
	if interleave {
		for d := 2; d < r; d++ {
			var next []int
			for _, p := range phases {
				for a := range geo.Stride[d-2] {
					next = append(next, p+a*in.stride[d])
				}
			}
			phases = next
		}
		if len(phases) < 2 || n.Shape[1] < 2 {
			interleave = false
		}
	}
	// Output position e sits where its window starts: at the input slot of
	// position stride·e − pad.
	out := &strided{shape: n.Shape, stride: make([]int, r), offset: in.offset}
	footprint := 1
	for d := 2; d < r; d++ {
		out.stride[d] = geo.Stride[d-2] * in.stride[d]
		out.offset -= geo.Pad[d-2] * in.stride[d]
	}
	for d := r - 1; d >= 2; d-- {
		// An output wider than its input (padding beyond the kernel's
		// reach) would put two positions in one slot.
		if d < r-1 && out.stride[d] < footprint {
			if interleave {
				return convLayout(n, in, false)
			}
			return nil
		}
		footprint += (n.Shape[d] - 1) * out.stride[d]
		if interleave {
			footprint += (geo.Stride[d-2] - 1) * in.stride[d]
		}
	}
	// Channels (or groups of interleaved channels) as far apart as the
	// input's keep the channel offsets shared; a wider footprint needs a
	// wider stride.
	block := max(in.stride[1], footprint)
	groups := n.Shape[1]
	if interleave {
		groups = (n.Shape[1] + len(phases) - 1) / len(phases)
		out.phase = make([]int, n.Shape[1])
		for c := range out.phase {
			out.phase[c] = c/len(phases)*block + phases[c%len(phases)]
		}
	} else {
		out.stride[1] = block
	}
	out.stride[0] = block * groups
	out.offset = max(out.offset, 0) // a shift changes every diagonal alike
	if out.offset+out.stride[0] > maxLayoutSlots {
		return nil
	}
	return out
}

// spreadLayout is convLayout's layout for n, interleaved when interleave
// allows it and n, with the dense maps that read it in the standard form
// (outputs, which hybrid forms do not write), then has fewer diagonals.
// Not so for a pooling alone: each output channel reads only its own input
// channel, whose diagonals coincide only when the channels are evenly
// spaced like the input's; but a dense output layer after it has fewer
// diagonals over the fewer slots. inSlots are the slots of n's input.
func spreadLayout(n *ir.Node, in *strided, inSlots []int, interleave bool, standardReaders []*ir.Node) *strided {
	even := convLayout(n, in, false)
	if !interleave || even == nil {
		return even
	}
	mixed := convLayout(n, in, true)
	if mixed == nil || mixed.phase == nil {
		return even
	}
	diagonals := func(s *strided) int {
		slots := s.slots()
		count := func(l *ir.Linear, rows func(r int) int, cols func(c int) int) int {
			seen := map[int]bool{}
			for r := range l.Rows {
				l.Row(r, func(c int, _ float64) { seen[cols(c)-rows(r)] = true })
			}
			return len(seen)
		}
		d := count(n.Linear, func(r int) int { return slots[r] }, func(c int) int { return inSlots[c] })
		for _, u := range standardReaders {
			d += count(u.Linear, func(r int) int { return r }, func(c int) int { return slots[c] })
		}
		return d
	}
	if diagonals(mixed) < diagonals(even) {
		return mixed
	}
	return even
}

// clientLayout is how the client lays out the input of a first 2-D
// convolution so that the convolution needs fewer rotations, or none.
type clientLayout struct {
	conv     *ir.Node
	slots    []int    // the gather: input element per slot, −1 for zero
	parts    int      // ciphertexts the slots span
	out      *strided // the convolution's output layout
	col      func(r, c int) int
	describe string // for the compile report
}

// DefaultMaxInputSlots bounds the slots of all the ciphertexts a client
// sends for one input. A layout of one ciphertext per kernel position
// saves the first convolution's rotations and keys, but the upload grows
// with the slots; the default caps it, and hecc compile --max-input-slots
// moves the cap.
const DefaultMaxInputSlots = 1 << 16

// kernel2D is a 2-D convolution of a [1, Cin, H, W] input as the layouts
// see it: its kernel's extent comes from where each output's weights sit
// relative to its window's anchor.
type kernel2D struct {
	cin, h, w, cout, oh, ow, sy, sx, py, px, kh, kw int
}

func conv2D(in, conv *ir.Node) (k kernel2D, ok bool) {
	geo, l := conv.Linear.Geometry, conv.Linear
	if geo == nil || l.Identity || len(geo.Stride) != 2 || len(in.Shape) != 4 || len(conv.Shape) != 4 || in.Shape[0] != 1 || conv.Shape[0] != 1 {
		return k, false
	}
	k = kernel2D{cin: in.Shape[1], h: in.Shape[2], w: in.Shape[3], cout: conv.Shape[1], oh: conv.Shape[2], ow: conv.Shape[3],
		sy: geo.Stride[0], sx: geo.Stride[1], py: geo.Pad[0], px: geo.Pad[1]}
	inside := true
	for r := range l.Rows {
		oy, ox := (r/k.ow)%k.oh, r%k.ow
		l.Row(r, func(c int, _ float64) {
			j, i := (c/k.w)%k.h-(k.sy*oy-k.py), c%k.w-(k.sx*ox-k.px)
			inside = inside && j >= 0 && i >= 0
			k.kh, k.kw = max(k.kh, j+1), max(k.kw, i+1)
		})
	}
	return k, inside && k.kh > 0
}

// kernelPositionLayout is LoLa's convolution representation: the client
// sends one ciphertext per kernel position (ci, j, i), whose slot
// (c, oy, ox) holds the input that position reads for output (c, oy, ox),
// for every output channel c. The convolution is then a sum of
// Cin·KH·KW slot-wise products, with no rotation and no key, and its
// output is compact. It returns nil when conv is not a 2-D convolution of
// in or the ciphertexts would take more than maxSlots slots in all.
func kernelPositionLayout(in, conv *ir.Node, maxSlots int) *clientLayout {
	k, ok := conv2D(in, conv)
	parts := k.cin * k.kh * k.kw
	part := k.cout * k.oh * k.ow
	if !ok || parts < 2 || parts > ir.MaxInputParts || parts*(1<<bits.Len(uint(part-1))) > maxSlots {
		return nil
	}
	kl := &clientLayout{conv: conv, parts: parts, out: compact(conv.Shape), slots: make([]int, parts*part),
		describe: fmt.Sprintf("in %d ciphertexts, one per input channel and kernel position of %s, each with a copy per output channel: the convolution needs no rotation", parts, conv.Label())}
	for ci := range k.cin {
		for j := range k.kh {
			for i := range k.kw {
				base := ((ci*k.kh+j)*k.kw + i) * part
				for c := range k.cout {
					for oy := range k.oh {
						for ox := range k.ow {
							iy, ix := k.sy*oy-k.py+j, k.sx*ox-k.px+i
							s := base + (c*k.oh+oy)*k.ow + ox
							kl.slots[s] = -1
							if iy >= 0 && iy < k.h && ix >= 0 && ix < k.w {
								kl.slots[s] = (ci*k.h+iy)*k.w + ix
							}
						}
					}
				}
			}
		}
	}
	kl.col = func(r, c int) int {
		oy, ox := (r/k.ow)%k.oh, r%k.ow
		ci, iy, ix := c/(k.h*k.w), (c/k.w)%k.h, c%k.w
		j, i := iy-(k.sy*oy-k.py), ix-(k.sx*ox-k.px)
		return ((ci*k.kh+j)*k.kw+i)*part + r
	}
	return kl
}

// kernelRowLayout is LoLa's duplicated input, by kernel row: the client
// lays its input out in blocks of one ciphertext, each holding one copy m
// of its Cin·KH copies, one per (input channel ci, kernel row j), m = ci·KH
// + j: the block's row oy holds the input row that kernel row j reads for
// output row oy, padding included. Block b holds copy b mod (Cin·KH), so
// every window of Cin·KH consecutive blocks holds every copy; output
// channel c sits at block c and reads the window at its own block (the
// last output channels the last window, when Cout + Cin·KH − 1 blocks do
// not fit). With every window, a weight sits on one of Cin·KH channel
// offsets times KW kernel columns: a 5×5 convolution from 1 to 6 channels
// has 25 diagonals, against (Cin·KH + Cout − 1)·KW = 50 with one block per
// copy and (Cin + Cout − 1)·KH·KW = 150 for a compact input. It returns nil
// when conv is not a 2-D convolution of in, the copies do not fit, or they
// would not save diagonals.
func kernelRowLayout(in, conv *ir.Node) *clientLayout {
	k, ok := conv2D(in, conv)
	if !ok {
		return nil
	}
	copies := k.cin * k.kh
	rowWidth := k.sx*(k.ow-1) + k.kw
	block := k.oh * rowWidth
	blocks := min(k.cout+copies-1, maxLayoutSlots/block)
	if blocks < max(copies, k.cout) {
		return nil
	}
	start := func(c int) int { return min(c, blocks-copies) } // of output channel c's window
	offsets := copies + max(0, k.cout-1-(blocks-copies))
	diagonals, compactDiagonals := offsets*k.kw, (k.cin+k.cout-1)*k.kh*k.kw
	if diagonals >= compactDiagonals {
		return nil
	}
	kl := &clientLayout{conv: conv, parts: 1, slots: make([]int, blocks*block),
		describe: fmt.Sprintf("in %d blocks, each one of %d copies (one per input channel and kernel row of %s): %d diagonals instead of %d", blocks, copies, conv.Label(), diagonals, compactDiagonals)}
	for b := range blocks {
		ci, j := (b%copies)/k.kh, (b%copies)%k.kh
		for oy := range k.oh {
			for col := range rowWidth {
				iy, ix := k.sy*oy-k.py+j, col-k.px
				s := b*block + oy*rowWidth + col
				kl.slots[s] = -1
				if iy >= 0 && iy < k.h && ix >= 0 && ix < k.w {
					kl.slots[s] = (ci*k.h+iy)*k.w + ix
				}
			}
		}
	}
	kl.out = &strided{shape: conv.Shape, stride: []int{k.cout * block, block, rowWidth, k.sx}}
	kl.col = func(r, c int) int {
		oc, oy := (r/(k.oh*k.ow))%k.cout, (r/k.ow)%k.oh
		ci, iy, ix := c/(k.h*k.w), (c/k.w)%k.h, c%k.w
		m, first := ci*k.kh+iy-(k.sy*oy-k.py), start(oc)
		b := first + ((m-first)%copies+copies)%copies // the block of copy m in oc's window
		return b*block + oy*rowWidth + ix + k.px
	}
	return kl
}

// rewriteInSlots rewrites every affine map and shape in slot coordinates,
// returning how many maps were spread out. An input the client lays out
// gets its gather, and its reader reads each element from the copy its
// row needs.
func rewriteInSlots(g *ir.Graph, slots map[*ir.Node][]int, gathers map[*ir.Node]*clientLayout, copies map[*ir.Node]*channelCopies) (int, error) {
	extent := func(n *ir.Node) int {
		if kr := gathers[n]; kr != nil {
			return len(kr.slots)
		}
		s := slots[n]
		if s == nil {
			return n.Size()
		}
		if cp := copies[n]; cp != nil {
			return slices.Max(s) + 1 + (cp.count-1)*cp.period
		}
		return slices.Max(s) + 1
	}
	isCompact := func(n *ir.Node) bool {
		if copies[n] != nil {
			return false
		}
		for i, s := range slots[n] {
			if s != i {
				return false
			}
		}
		return true
	}
	spread := 0
	for _, n := range g.Nodes {
		if kr := gathers[n]; kr != nil {
			n.Gather = &ir.Gather{Shape: n.Shape, Slots: kr.slots, Parts: kr.parts}
			n.Shape = []int{len(kr.slots)}
			continue
		}
		if n.Op == ir.OpConst || n.Op == ir.OpInput {
			continue
		}
		if n.Op == ir.OpAffine {
			in := n.Inputs[0]
			if isCompact(n) && isCompact(in) && gathers[in] == nil {
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
				col := func(r, c int) int { return cols[c] }
				if kr := gathers[in]; kr != nil {
					col = kr.col
				}
				if cp := copies[in]; cp != nil {
					col = func(r, c int) int { return cols[c] + cp.pick(r, c)*cp.period }
				}
				shifts := []int{0} // where n writes each row: its copies
				if cp := copies[n]; cp != nil {
					shifts = shifts[:0]
					for k := range cp.count {
						shifts = append(shifts, k*cp.period)
					}
				}
				b := ir.NewBuilder(extent(n), extent(in))
				for r := range l.Rows {
					l.Row(r, func(c int, v float64) {
						for _, k := range shifts {
							b.Add(rows[r]+k, col(r, c), v)
						}
					})
				}
				var bias []float64
				if l.Bias != nil {
					bias = make([]float64, extent(n))
					for r, v := range l.Bias {
						for _, k := range shifts {
							bias[rows[r]+k] = v
						}
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
			if n.Op == ir.OpPoly && n.Poly.Correction != nil {
				laid := make([]float64, extent(n))
				for k, s := range slots[n] {
					laid[s] = n.Poly.Correction[k]
				}
				n.Poly.Correction = laid
			}
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
