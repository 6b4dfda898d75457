package passes

import (
	"slices"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/ir"
)

// conv2d adds a convolution of in ([1, cin, h, w]) with random weights, as
// lowering produces it: the map with its geometry.
func (b *gb) conv2d(in *ir.Node, cout, k, stride, pad int) *ir.Node {
	cin, h, w := in.Shape[1], in.Shape[2], in.Shape[3]
	oh, ow := (h+2*pad-k)/stride+1, (w+2*pad-k)/stride+1
	bl := ir.NewBuilder(cout*oh*ow, in.Size())
	for co := range cout {
		for ci := range cin {
			for j := range k {
				for i := range k {
					wt := b.rng.NormFloat64()
					for oy := range oh {
						for ox := range ow {
							iy, ix := stride*oy-pad+j, stride*ox-pad+i
							if iy >= 0 && iy < h && ix >= 0 && ix < w {
								bl.Add((co*oh+oy)*ow+ox, (ci*h+iy)*w+ix, wt)
							}
						}
					}
				}
			}
		}
	}
	lin, err := bl.Build(nil, "conv")
	if err != nil {
		panic(err)
	}
	lin.Geometry = &ir.Geometry{Stride: []int{stride, stride}, Pad: []int{pad, pad}}
	return b.add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{in}, Shape: []int{1, cout, oh, ow}, Linear: lin})
}

func TestLayoutFirstConvolution(t *testing.T) {
	cases := []struct {
		name                        string
		cin, size, cout, k, st, pad int
		square                      bool // a square after the convolution (else it feeds the output)
		maxInputSlots               int  // 0: the default
		safe                        bool // without ClientCopies
		parts                       int  // ciphertexts of the client's layout; 0: none
		diagonals                   int  // of the convolution, with one ciphertext
	}{
		{"CryptoNets' convolution by kernel position", 1, 28, 5, 5, 2, 1, true, 0, false, 25, 0},
		// By kernel row: Cin·KH channel offsets × KW columns when
		// Cout + Cin·KH − 1 blocks fit.
		{"CryptoNets' convolution by kernel row", 1, 28, 5, 5, 2, 1, true, 1, false, 1, 5 * 5},
		{"LeNet-5's first convolution is over the budget for parts", 1, 28, 6, 5, 1, 2, true, 0, false, 1, 5 * 5},
		{"three input channels by kernel position", 3, 8, 4, 3, 1, 1, true, 0, false, 27, 0},
		{"three input channels by kernel row", 3, 8, 4, 3, 1, 1, true, 1, false, 1, 9 * 3},
		{"1×1 kernel by kernel position", 4, 6, 2, 1, 1, 0, true, 0, false, 4, 0},
		{"1×1 kernel by kernel row", 4, 6, 2, 1, 1, 0, true, 1, false, 1, 4},
		// 18 blocks of 28×32 fit, not 20: the last output channels share
		// the last window, two more offsets.
		{"windows clamped to the slots", 1, 28, 16, 5, 1, 2, true, 1, false, 1, 7 * 5},
		{"output read element-wise stays compact", 1, 8, 2, 3, 1, 1, false, 0, false, 0, 0},
		{"without client copies every input value sits in one slot", 1, 28, 5, 5, 2, 1, true, 0, true, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newGB(7)
			x := b.add(&ir.Node{Op: ir.OpInput, Name: "x", Shape: []int{1, tc.cin, tc.size, tc.size}})
			conv := b.conv2d(x, tc.cout, tc.k, tc.st, tc.pad)
			last := conv
			if tc.square {
				last = b.affine(b.op(ir.OpMul, conv, conv), 10)
			}
			g := b.output(last)
			checkPreserves(t, g, func(g *ir.Graph, _ *Config) error {
				return Layout(g, &Config{MaxInputSlots: tc.maxInputSlots, ClientCopies: !tc.safe})
			})
			parts := 0
			if x.Gather != nil {
				parts = x.Gather.Parts
			}
			if parts != tc.parts {
				t.Fatalf("client layout in %d ciphertexts, want %d", parts, tc.parts)
			}
			if parts == 0 {
				return
			}
			if want := []int{1, tc.cin, tc.size, tc.size}; !slices.Equal(x.InputShape(), want) {
				t.Fatalf("client tensor shape %v, want %v", x.InputShape(), want)
			}
			if parts > 1 {
				// ir.Verify (in checkPreserves) checked the parts are read
				// slot by slot; the output is compact.
				if conv.Linear.Rows != ir.NumElements(conv.Shape) || x.CiphertextSize() != conv.Linear.Rows {
					t.Fatalf("parts of %d slots for a convolution of %d values", x.CiphertextSize(), conv.Linear.Rows)
				}
				return
			}
			slots := 1 << g.LogSlots
			diags := map[int]bool{}
			for r := range conv.Linear.Rows {
				conv.Linear.Row(r, func(c int, _ float64) { diags[((c-r)%slots+slots)%slots] = true })
			}
			if len(diags) != tc.diagonals {
				t.Fatalf("%d diagonals, want %d", len(diags), tc.diagonals)
			}
		})
	}
}

// pool2 adds a 2×2 average pooling with stride 2 of in ([1, c, h, w]), as
// lowering produces it.
func (b *gb) pool2(in *ir.Node) *ir.Node {
	c, h, w := in.Shape[1], in.Shape[2], in.Shape[3]
	oh, ow := h/2, w/2
	bl := ir.NewBuilder(c*oh*ow, in.Size())
	for ch := range c {
		for oy := range oh {
			for ox := range ow {
				for j := range 2 {
					for i := range 2 {
						bl.Add((ch*oh+oy)*ow+ox, (ch*h+2*oy+j)*w+2*ox+i, 0.25)
					}
				}
			}
		}
	}
	lin, err := bl.Build(nil, "pool")
	if err != nil {
		panic(err)
	}
	lin.Geometry = &ir.Geometry{Stride: []int{2, 2}, Pad: []int{0, 0}}
	return b.add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{in}, Shape: []int{1, c, oh, ow}, Linear: lin})
}

// A convolution that widens reads copies of its input's channels, written
// by the pooling before it: LeNet-5's second convolution.
func TestLayoutChannelCopies(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cin, cout int
		copies    bool
		convDiags int // of the widening convolution
	}{
		// Offsets min(0, (copies−1)·Cin − Cout + 1) … Cin − 1, by kernel position.
		{"3 → 8 channels", 3, 8, true, 4 * 9},
		{"6 → 16 channels, as LeNet-5's second convolution", 6, 16, true, 9 * 9},
		{"as many channels out as in", 3, 3, false, (3 + 3 - 1) * 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newGB(11)
			x := b.add(&ir.Node{Op: ir.OpInput, Name: "x", Shape: []int{1, 1, 16, 16}})
			first := b.conv2d(b.poly(x, ir.Square()), tc.cin, 3, 1, 1)
			pool := b.pool2(b.poly(first, ir.Square()))
			conv := b.conv2d(pool, tc.cout, 3, 1, 1)
			g := b.output(b.affine(b.poly(conv, ir.Square()), 4))
			var logged []string
			checkPreserves(t, g, func(g *ir.Graph, _ *Config) error {
				return Layout(g, &Config{Log: func(_, msg string) { logged = append(logged, msg) }})
			})
			got := strings.Contains(strings.Join(logged, "\n"), "times for")
			if got != tc.copies {
				t.Fatalf("copies %v, want %v; log:\n%s", got, tc.copies, strings.Join(logged, "\n"))
			}
			slots := 1 << g.LogSlots
			diags := map[int]bool{}
			for r := range conv.Linear.Rows {
				conv.Linear.Row(r, func(c int, _ float64) { diags[((c-r)%slots+slots)%slots] = true })
			}
			if len(diags) > tc.convDiags {
				t.Fatalf("%d diagonals, want at most %d", len(diags), tc.convDiags)
			}
		})
	}
}

// A strided convolution whose output no convolution reads interleaves up
// to stride² channels in one block (convLayout) when that gives fewer
// diagonals, counting those of a dense output layer reading it: a pooling
// keeps its channels evenly spaced unless the output layer gains more.
func TestLayoutInterleavesStridedChannels(t *testing.T) {
	cases := []struct {
		name      string
		pool      bool // a 2×2 pooling of four channels instead of the convolution
		stride    int
		thenConv  bool // a convolution reads the result
		output    bool // the dense map reading the result is the output layer
		diagonals int
	}{
		// 4 channels on (5+1)×(5+1) offsets, the fifth on 5×5.
		{"CryptoNets' convolution", false, 2, false, false, 6*6 + 5*5},
		{"read by a convolution", false, 2, true, false, 5 * 5 * 5},
		{"stride 1", false, 1, false, false, 5 * 5 * 5},
		{"pooling", true, 2, false, false, 4},
		{"pooling before the output layer", true, 2, false, true, 4 * 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newGB(7)
			var x, n *ir.Node
			if tc.pool {
				x = b.add(&ir.Node{Op: ir.OpInput, Name: "x", Shape: []int{1, 4, 28, 28}})
				n = b.pool2(x)
			} else {
				x = b.add(&ir.Node{Op: ir.OpInput, Name: "x", Shape: []int{1, 1, 28, 28}})
				n = b.conv2d(x, 5, 5, tc.stride, 1)
			}
			last := b.op(ir.OpMul, n, n)
			if tc.thenConv {
				last = b.conv2d(last, 2, 3, 1, 0)
			}
			last = b.affine(last, 10)
			if !tc.output {
				last = b.affine(b.op(ir.OpMul, last, last), 10)
			}
			g := b.output(last)
			checkPreserves(t, g, func(g *ir.Graph, _ *Config) error { return Layout(g, &Config{}) })
			slots := 1 << g.LogSlots
			diags := map[int]bool{}
			for r := range n.Linear.Rows {
				n.Linear.Row(r, func(c int, _ float64) { diags[((c-r)%slots+slots)%slots] = true })
			}
			if len(diags) != tc.diagonals {
				t.Fatalf("%d diagonals, want %d", len(diags), tc.diagonals)
			}
		})
	}
}
