package passes

import (
	"slices"
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

func TestLayoutKernelRows(t *testing.T) {
	cases := []struct {
		name                        string
		cin, size, cout, k, st, pad int
		square                      bool // a square after the convolution (else it feeds the output)
		gathered                    bool
		diagonals                   int
	}{
		{"CryptoNets' convolution", 1, 28, 5, 5, 2, 1, true, true, (5 + 5 - 1) * 5},
		{"LeNet-5's first convolution", 1, 28, 6, 5, 1, 2, true, true, (5 + 6 - 1) * 5},
		{"three input channels", 3, 8, 4, 3, 1, 1, true, true, (9 + 4 - 1) * 3},
		{"1×1 kernel saves nothing", 4, 6, 2, 1, 1, 0, true, false, 0},
		{"output read element-wise stays compact", 1, 8, 2, 3, 1, 1, false, false, 0},
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
			checkPreserves(t, g, Layout)
			if got := x.Gather != nil; got != tc.gathered {
				t.Fatalf("client layout = %v, want %v", got, tc.gathered)
			}
			if !tc.gathered {
				return
			}
			if want := []int{1, tc.cin, tc.size, tc.size}; !slices.Equal(x.InputShape(), want) {
				t.Fatalf("client tensor shape %v, want %v", x.InputShape(), want)
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
