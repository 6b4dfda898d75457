package compiler

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
	"github.com/hecc-dev/hecc/compiler/onnxpb"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/passes"
)

// refPool is a direct max pooling of x ([N, C, spatial…]): every window's
// largest value inside the input, padding left out (ONNX pads with −inf).
func refPool(x *ir.Tensor, kernel, strides, pads, dil, out []int) *ir.Tensor {
	k := len(kernel)
	in := x.Shape[2:]
	shape := slices.Concat(x.Shape[:2], out)
	y := ir.NewTensor(shape...)
	strides0 := ir.Strides(x.Shape)
	row := 0
	for nc := range x.Shape[0] * x.Shape[1] {
		forEach(out, func(o []int) {
			best := math.Inf(-1)
			forEach(kernel, func(kk []int) {
				i := nc * strides0[1]
				for d := range k {
					p := o[d]*strides[d] - pads[d] + kk[d]*dil[d]
					if p < 0 || p >= in[d] {
						return
					}
					i += p * strides0[2+d]
				}
				best = max(best, x.Data[i])
			})
			y.Data[row] = best
			row++
		})
	}
	return y
}

// refReduce is the max of x over axes (keepdims).
func refReduce(x *ir.Tensor, axes []int, sign float64) *ir.Tensor {
	out := slices.Clone(x.Shape)
	for _, a := range axes {
		out[a] = 1
	}
	y := ir.NewTensor(out...)
	for i := range y.Data {
		y.Data[i] = math.Inf(-1)
	}
	oStr := ir.Strides(out)
	idx := make([]int, len(x.Shape))
	for i, v := range x.Data {
		unravel(i, x.Shape, idx)
		r := 0
		for d := range idx {
			if !slices.Contains(axes, d) {
				r += idx[d] * oStr[d]
			}
		}
		y.Data[r] = max(y.Data[r], sign*v)
	}
	for i := range y.Data {
		y.Data[i] *= sign
	}
	return y
}

func randomTensor(rng *rand.Rand, shape ...int) *ir.Tensor {
	t := ir.NewTensor(shape...)
	for i := range t.Data {
		t.Data[i] = rng.NormFloat64()
	}
	return t
}

func int64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// TestMaxLowering interprets the lowered graphs with exact ReLUs: the tree
// of max(a, b) = b + relu(a − b) must equal a direct max, padding must
// never win, and a window of k values must take ⌈log2 k⌉ activation nodes,
// one per level of the tree over every window.
func TestMaxLowering(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type pool struct {
		kernel, strides, pads, dil, out []int
	}
	cases := []struct {
		name   string
		opset  int64
		shape  []int
		attrs  []*onnxpb.AttributeProto
		op     string
		pool   *pool
		axes   []int // ReduceMax/ReduceMin/GlobalMaxPool: the reduced axes
		sign   float64
		levels int // activation nodes
	}{
		{"2×2 stride 2", 13, []int{1, 3, 6, 6}, []*onnxpb.AttributeProto{onnxtest.Ints("kernel_shape", 2, 2), onnxtest.Ints("strides", 2, 2)},
			"MaxPool", &pool{[]int{2, 2}, []int{2, 2}, []int{0, 0}, []int{1, 1}, []int{3, 3}}, nil, 1, 2},
		{"3×3 stride 2 pads 1 (padding shortens the border windows)", 13, []int{1, 2, 7, 7},
			[]*onnxpb.AttributeProto{onnxtest.Ints("kernel_shape", 3, 3), onnxtest.Ints("strides", 2, 2), onnxtest.Ints("pads", 1, 1, 1, 1)},
			"MaxPool", &pool{[]int{3, 3}, []int{2, 2}, []int{1, 1}, []int{1, 1}, []int{4, 4}}, nil, 1, 4},
		{"3×3 pads 2 (windows of one value at the corners)", 13, []int{1, 2, 6, 5},
			[]*onnxpb.AttributeProto{onnxtest.Ints("kernel_shape", 3, 3), onnxtest.Ints("pads", 2, 2, 2, 2)},
			"MaxPool", &pool{[]int{3, 3}, []int{1, 1}, []int{2, 2}, []int{1, 1}, []int{8, 7}}, nil, 1, 4},
		{"3×3 stride 1 SAME_UPPER, batch 2", 13, []int{2, 2, 5, 5},
			[]*onnxpb.AttributeProto{onnxtest.Ints("kernel_shape", 3, 3), onnxtest.String("auto_pad", "SAME_UPPER")},
			"MaxPool", &pool{[]int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{5, 5}}, nil, 1, 4},
		{"1-D kernel 5 dilation 2 ceil_mode", 13, []int{1, 2, 12},
			[]*onnxpb.AttributeProto{onnxtest.Ints("kernel_shape", 5), onnxtest.Ints("strides", 3), onnxtest.Ints("dilations", 2), onnxtest.Int("ceil_mode", 1)},
			"MaxPool", &pool{[]int{5}, []int{3}, []int{0}, []int{2}, []int{2}}, nil, 1, 3},
		{"3-D 3×3×3 as one window (5 levels, not 6 axis by axis)", 13, []int{1, 1, 4, 4, 4},
			[]*onnxpb.AttributeProto{onnxtest.Ints("kernel_shape", 3, 3, 3), onnxtest.Ints("pads", 1, 0, 1, 0, 1, 0)},
			"MaxPool", &pool{[]int{3, 3, 3}, []int{1, 1, 1}, []int{1, 0, 1}, []int{1, 1, 1}, []int{3, 3, 3}}, nil, 1, 5},
		{"2×1 kernel stride 1×2 (a strided axis of kernel 1)", 13, []int{1, 2, 5, 6},
			[]*onnxpb.AttributeProto{onnxtest.Ints("kernel_shape", 2, 1), onnxtest.Ints("strides", 1, 2)},
			"MaxPool", &pool{[]int{2, 1}, []int{1, 2}, []int{0, 0}, []int{1, 1}, []int{4, 3}}, nil, 1, 1},
		{"MaxPool-8", 8, []int{1, 1, 4, 5},
			[]*onnxpb.AttributeProto{onnxtest.Ints("kernel_shape", 2, 2), onnxtest.Ints("pads", 0, 1, 0, 0)},
			"MaxPool", &pool{[]int{2, 2}, []int{1, 1}, []int{0, 1}, []int{1, 1}, []int{3, 5}}, nil, 1, 2},
		{"GlobalMaxPool", 13, []int{1, 3, 5, 3}, nil, "GlobalMaxPool", nil, []int{2, 3}, 1, 4},
		{"ReduceMax over axis 1", 13, []int{2, 3, 4}, []*onnxpb.AttributeProto{onnxtest.Ints("axes", 1)}, "ReduceMax", nil, []int{1}, 1, 2},
		{"ReduceMax over everything", 13, []int{2, 3, 4}, nil, "ReduceMax", nil, []int{0, 1, 2}, 1, 5},
		{"ReduceMin over axes 0 and 2", 13, []int{2, 3, 4}, []*onnxpb.AttributeProto{onnxtest.Ints("axes", 0, -1)}, "ReduceMin", nil, []int{0, 2}, -1, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := randomTensor(rng, tc.shape...)
			model := onnxtest.New(tc.opset).Input("x", int64s(tc.shape)...).Node(tc.op, []string{"x"}, []string{"y"}, tc.attrs...).Output("y").Bytes()
			low, err := lower(t, model, LowerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var want *ir.Tensor
			if tc.pool != nil {
				p := tc.pool
				want = refPool(x, p.kernel, p.strides, p.pads, p.dil, p.out)
			} else {
				want = refReduce(x, tc.axes, tc.sign)
			}
			got, err := ir.Interpret(low.Graph, map[string]*ir.Tensor{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			y := got["y"]
			if y.Size() != want.Size() {
				t.Fatalf("%d values, want %d (shape %v)", y.Size(), want.Size(), want.Shape)
			}
			for i, w := range want.Data {
				if math.Abs(y.Data[i]-w) > 1e-12 {
					t.Fatalf("element %d: %g, want %g", i, y.Data[i], w)
				}
			}
			if n := low.Graph.Counts()[ir.OpActivation.String()]; n != tc.levels {
				t.Errorf("%d activation nodes, want %d", n, tc.levels)
			}
			if len(low.MaxLayers) != 1 || low.MaxLayers[0].ReLULevels != tc.levels {
				t.Errorf("max layers %+v, want one of %d ReLU levels", low.MaxLayers, tc.levels)
			}
		})
	}
}

// TestMaxLoweringOpset18 reads ReduceMax's axes from its input, and keeps
// the reduced axes out of the shape with keepdims=0.
func TestMaxLoweringOpset18(t *testing.T) {
	x := randomTensor(rand.New(rand.NewPCG(3, 4)), 2, 3, 4)
	model := onnxtest.New(18).Input("x", 2, 3, 4).Init("axes", []int64{1}, []float32{2}).
		Node("Cast", []string{"axes"}, []string{"a"}, onnxtest.Int("to", 7)).
		Node("ReduceMax", []string{"x", "a"}, []string{"y"}, onnxtest.Int("keepdims", 0)).Output("y").Bytes()
	low, err := lower(t, model, LowerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ir.Interpret(low.Graph, map[string]*ir.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	want := refReduce(x, []int{2}, 1)
	y := got["y"]
	if !slices.Equal(y.Shape, []int{2, 3}) {
		t.Fatalf("shape %v, want [2 3]", y.Shape)
	}
	for i, w := range want.Data {
		if math.Abs(y.Data[i]-w) > 1e-12 {
			t.Fatalf("element %d: %g, want %g", i, y.Data[i], w)
		}
	}
}

// TestVariadicMax checks Max and Min of several encrypted operands and
// constants: constants are combined exactly, the encrypted operands take
// ⌈log2 k⌉ levels of ReLU, plus one for the constant.
func TestVariadicMax(t *testing.T) {
	x := randomTensor(rand.New(rand.NewPCG(5, 6)), 2, 3)
	c1 := []float32{0.5, -0.25, 0}
	c2 := []float32{-1, 0.75, 0.1}
	for _, tc := range []struct {
		op     string
		ins    []string
		levels int // of activations, on the longest path
	}{
		{"Max", []string{"x", "nx", "x2"}, 2},
		{"Max", []string{"c1", "x", "c2"}, 1},
		{"Max", []string{"x", "c1", "nx", "c2", "x2"}, 3},
		{"Min", []string{"x", "nx", "x2", "c1"}, 3},
	} {
		t.Run(tc.op, func(t *testing.T) {
			model := onnxtest.New(13).Input("x", 2, 3).Init("c1", []int64{3}, c1).Init("c2", []int64{3}, c2).Init("half", []int64{1}, []float32{0.5}).
				Node("Neg", []string{"x"}, []string{"nx"}).
				Node("Mul", []string{"x", "half"}, []string{"x2"}).
				Node(tc.op, tc.ins, []string{"y"}).Output("y").Bytes()
			low, err := lower(t, model, LowerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := ir.Interpret(low.Graph, map[string]*ir.Tensor{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range x.Data {
				vals := map[string]float64{"x": v, "nx": -v, "x2": v / 2, "c1": float64(c1[i%3]), "c2": float64(c2[i%3])}
				want := vals[tc.ins[0]]
				for _, in := range tc.ins[1:] {
					if tc.op == "Max" {
						want = max(want, vals[in])
					} else {
						want = min(want, vals[in])
					}
				}
				if d := math.Abs(got["y"].Data[i] - want); d > 1e-6 { // constants are float32
					t.Fatalf("element %d: %g, want %g", i, got["y"].Data[i], want)
				}
			}
			if d := activationDepth(low.Graph); d != tc.levels {
				t.Errorf("%d levels of activations, want %d", d, tc.levels)
			}
		})
	}
}

// activationDepth is the most activation nodes on a path through g.
func activationDepth(g *ir.Graph) int {
	d := map[*ir.Node]int{}
	most := 0
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			d[n] = max(d[n], d[in])
		}
		if n.Op == ir.OpActivation {
			d[n]++
		}
		most = max(most, d[n])
	}
	return most
}

// TestMaxPoolRefusals checks the uses of MaxPool hecc refuses.
func TestMaxPoolRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		model []byte
		want  string
		is    error
	}{
		{"Indices output",
			onnxtest.New(13).Input("x", 1, 1, 4, 4).Node("MaxPool", []string{"x"}, []string{"y", "i"}, onnxtest.Ints("kernel_shape", 2, 2)).Output("y").Output("i").Bytes(),
			"Indices output", ErrUnsupported},
		{"window of padding only",
			onnxtest.New(13).Input("x", 1, 1, 4, 4).Node("MaxPool", []string{"x"}, []string{"y"}, onnxtest.Ints("kernel_shape", 1, 1), onnxtest.Ints("pads", 1, 0, 0, 0)).Output("y").Bytes(),
			"only padding", ErrUnsupported},
		{"dilations before MaxPool-10",
			onnxtest.New(9).Input("x", 1, 1, 4, 4).Node("MaxPool", []string{"x"}, []string{"y"}, onnxtest.Ints("kernel_shape", 2, 2), onnxtest.Ints("dilations", 2, 2)).Output("y").Bytes(),
			"from opset 10", ErrModel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lower(t, tc.model, LowerOptions{})
			if err == nil || !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %v mentioning %q", err, tc.is, tc.want)
			}
		})
	}
}

// TestMaxPoolPaddingExact approximates the ReLUs and checks that a window
// the padding cut to one value returns it exactly: its difference is zero
// and the polynomial's value there, which is not, is masked out.
func TestMaxPoolPaddingExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	model := onnxtest.New(13).Input("x", 1, 1, 8).
		Node("MaxPool", []string{"x"}, []string{"y"}, onnxtest.Ints("kernel_shape", 2), onnxtest.Ints("strides", 2), onnxtest.Ints("pads", 1, 1)).
		Output("y").Bytes()
	low, err := lower(t, model, LowerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var samples []*ir.Tensor
	for range 8 {
		samples = append(samples, randomTensor(rng, 1, 1, 8))
	}
	cfg := &passes.Config{Ranges: &passes.RangeSource{Samples: samples, Margin: DefaultMargin}, Approx: passes.ApproxConfig{Degree: 7}}
	if err := passes.Run(low.Graph, passes.Pipeline, cfg); err != nil {
		t.Fatal(err)
	}
	x := samples[0]
	got, err := ir.Interpret(low.Graph, map[string]*ir.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	y := got["y"].Data
	if math.Abs(y[0]-x.Data[0]) > 1e-9 || math.Abs(y[4]-x.Data[7]) > 1e-9 {
		t.Errorf("windows of one value: %g and %g, want %g and %g exactly", y[0], y[4], x.Data[0], x.Data[7])
	}
	var worst float64
	for w := 1; w < 4; w++ {
		worst = max(worst, math.Abs(y[w]-max(x.Data[2*w-1], x.Data[2*w])))
	}
	if worst == 0 || worst > 0.5 {
		t.Errorf("windows of two values are off by at most %g: want an approximation error, and a small one", worst)
	}
}

// TestWidePaddingLayout runs the passes on maps whose output is wider than
// their input (padding beyond the kernel's reach) reading a laid-out value:
// the layout must not put two output positions in one slot, so the circuit
// with exact activations computes the model.
func TestWidePaddingLayout(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   func(*onnxtest.Builder) *onnxtest.Builder
	}{
		{"Conv", func(b *onnxtest.Builder) *onnxtest.Builder {
			return b.Init("w", []int64{2, 1, 3, 3}, onnxtest.Weights(1, 18, 0.5)).
				Node("Conv", []string{"r", "w"}, []string{"p"}, onnxtest.Ints("pads", 2, 2, 2, 2))
		}},
		{"MaxPool", func(b *onnxtest.Builder) *onnxtest.Builder {
			return b.Node("MaxPool", []string{"r"}, []string{"p"}, onnxtest.Ints("kernel_shape", 3, 3), onnxtest.Ints("pads", 2, 2, 2, 2))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := onnxtest.New(13).Input("x", 1, 1, 6, 6).Node("Relu", []string{"x"}, []string{"r"})
			model := tc.op(b).Node("Relu", []string{"p"}, []string{"y"}).Output("y").Bytes()
			low, err := lower(t, model, LowerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			x := randomTensor(rand.New(rand.NewPCG(9, 10)), 1, 1, 6, 6)
			want, err := ir.Interpret(low.Graph, map[string]*ir.Tensor{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			cfg := &passes.Config{Ranges: &passes.RangeSource{Samples: []*ir.Tensor{x}, Margin: DefaultMargin}, Approx: passes.ApproxConfig{Degree: 7}}
			if err := passes.Run(low.Graph, passes.Pipeline, cfg); err != nil {
				t.Fatal(err)
			}
			got, err := ir.InterpretWith(low.Graph, map[string]*ir.Tensor{"x": x}, ir.InterpretOptions{Exact: true})
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range want["y"].Data {
				if math.Abs(got["y"].Data[i]-w) > 1e-9 {
					t.Fatalf("element %d: %g, want %g", i, got["y"].Data[i], w)
				}
			}
		})
	}
}

// TestMaxPoolCNN compiles Conv(1→8, 5×5) → ReLU → MaxPool 2×2 → Gemm with
// random weights, calibrated on random inputs, and checks that the circuit
// (its polynomials, interpreted in plaintext) keeps the model's top class on
// inputs the calibration never saw.
func TestMaxPoolCNN(t *testing.T) {
	if testing.Short() {
		t.Skip("degree search")
	}
	model := onnxtest.New(13).Input("x", 1, 1, 12, 12).
		Init("cw", []int64{8, 1, 5, 5}, onnxtest.Weights(11, 200, 0.4)).
		Init("cb", []int64{8}, onnxtest.Weights(12, 8, 0.1)).
		Init("gw", []int64{10, 128}, onnxtest.Weights(13, 1280, 0.2)).
		Init("gb", []int64{10}, onnxtest.Weights(14, 10, 0.1)).
		Node("Conv", []string{"x", "cw", "cb"}, []string{"c"}).
		Node("Relu", []string{"c"}, []string{"r"}).
		Node("MaxPool", []string{"r"}, []string{"p"}, onnxtest.Ints("kernel_shape", 2, 2), onnxtest.Ints("strides", 2, 2)).
		Node("Flatten", []string{"p"}, []string{"f"}).
		Node("Gemm", []string{"f", "gw", "gb"}, []string{"y"}, onnxtest.Int("transB", 1)).
		Output("y").Bytes()
	rng := rand.New(rand.NewPCG(15, 16))
	image := func() *ir.Tensor {
		t := ir.NewTensor(1, 1, 12, 12)
		for i := range t.Data {
			t.Data[i] = rng.Float64()
		}
		return t
	}
	calib := ir.NewTensor(200, 1, 12, 12)
	for i := range 200 {
		copy(calib.Data[i*144:], image().Data)
	}
	m, err := onnx.Decode(model)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Compile(m, Options{Name: "maxpool-cnn", Calibration: calib, Margin: DefaultMargin, Approx: passes.ApproxConfig{Agreement: 0.95}})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := Lower(m, LowerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep := res.Report
	if len(rep.MaxLayers) != 1 || !strings.Contains(rep.MaxLayers[0], "2 ReLU levels") || !strings.Contains(rep.Text(), "max:") {
		t.Errorf("the report does not say what the max pooling costs: %q", rep.MaxLayers)
	}
	const n = 300
	agree := 0
	for range n {
		x := image()
		want, err := ir.Interpret(ref.Graph, map[string]*ir.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		got, err := ir.Interpret(res.Graph, map[string]*ir.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		if argmax(got["y"].Data[:10]) == argmax(want["y"].Data) {
			agree++
		}
	}
	t.Logf("depth %d, %s; top class kept on %d/%d held-out inputs", rep.Depth, rep.MaxLayers[0], agree, n)
	if agree < n*9/10 {
		t.Errorf("top class kept on %d of %d inputs", agree, n)
	}
}

func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
