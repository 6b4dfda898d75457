package compiler

import (
	"math"
	"slices"
	"testing"

	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
	"github.com/hecc-dev/hecc/compiler/onnxpb"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/passes"
	"google.golang.org/protobuf/proto"
)

// The node tests give every operator one encrypted input, so products and
// sums of two encrypted tensors (attention scores, Gram matrices, residual
// connections) are checked here, in plaintext against a direct computation
// and encrypted against the plaintext circuit. A product of two encrypted
// matrices costs one level for the element-wise product, plus one for the
// selections replicating its operands and one for the sum over k: affine
// maps that squash into the neighbouring layers of a real model, but stand
// alone here.
func TestTwoEncryptedOperands(t *testing.T) {
	x := &ir.Tensor{Shape: []int{1, 2, 3}, Data: []float64{0.5, -1, 2, 1.5, 0.25, -0.75}}
	at := func(i, j int) float64 { return x.Data[i*3+j] } // x as a 2×3 matrix
	cases := []struct {
		name  string
		model []byte
		want  func(o int) float64
		depth int
	}{
		{"MatMul x·xᵀ (Gram matrix)",
			onnxtest.New(13).Input("x", 1, 2, 3).
				Node("Transpose", []string{"x"}, []string{"xt"}, onnxtest.Ints("perm", 0, 2, 1)).
				Node("MatMul", []string{"x", "xt"}, []string{"y"}).Output("y").Bytes(),
			func(o int) float64 {
				i, j := o/2, o%2
				return at(i, 0)*at(j, 0) + at(i, 1)*at(j, 1) + at(i, 2)*at(j, 2)
			}, 3},
		{"Gemm transA with alpha, beta and a bias",
			onnxtest.New(13).Input("x", 1, 2, 3).Init("shape", []int64{2}, []float32{2, 3}).Init("c", []int64{1}, []float32{0.5}).
				Node("Cast", []string{"shape"}, []string{"s"}, onnxtest.Int("to", 7)).
				Node("Reshape", []string{"x", "s"}, []string{"m"}).
				Node("Gemm", []string{"m", "m", "c"}, []string{"y"}, onnxtest.Int("transA", 1),
					onnxtest.Float("alpha", 2), onnxtest.Float("beta", 3)).Output("y").Bytes(),
			func(o int) float64 { // 2·mᵀm + 3·0.5, mᵀm 3×3
				i, j := o/3, o%3
				return 2*(at(0, i)*at(0, j)+at(1, i)*at(1, j)) + 1.5
			}, 3},
		{"residual x + x·(x·w)",
			onnxtest.New(13).Input("x", 1, 2, 3).Init("w", []int64{3}, []float32{1, -2, 0.5}).
				Node("Mul", []string{"x", "w"}, []string{"xw"}).
				Node("Mul", []string{"x", "xw"}, []string{"p"}).
				Node("Add", []string{"x", "p"}, []string{"y"}).Output("y").Bytes(),
			func(o int) float64 {
				w := []float64{1, -2, 0.5}[o%3]
				return x.Data[o] + x.Data[o]*x.Data[o]*w
			}, 2}, // x·w is affine (1), the product (2); the sum is free
		{"Einsum of two encrypted operands",
			onnxtest.New(13).Input("x", 1, 2, 3).
				Node("Einsum", []string{"x", "x"}, []string{"y"}, onnxtest.String("equation", "bij,bkj->bik")).Output("y").Bytes(),
			func(o int) float64 {
				i, j := o/2, o%2
				return at(i, 0)*at(j, 0) + at(i, 1)*at(j, 1) + at(i, 2)*at(j, 2)
			}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			low, err := lower(t, tc.model, LowerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			g := low.Graph
			cfg := &passes.Config{Ranges: &passes.RangeSource{Samples: []*ir.Tensor{x}, Margin: DefaultMargin}}
			if err := passes.Run(g, passes.Pipeline, cfg); err != nil {
				t.Fatal(err)
			}
			if g.Depth != tc.depth {
				t.Errorf("depth %d, want %d", g.Depth, tc.depth)
			}
			got, err := ir.Interpret(g, map[string]*ir.Tensor{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			y := got["y"]
			for o, v := range y.Data {
				if w := tc.want(o); math.Abs(v-w) > 1e-12 {
					t.Fatalf("y[%d] = %g, want %g (y = %v)", o, v, w, y.Data)
				}
			}
			dev, _, err := runEncrypted(tc.name, g, x, got, map[string]*ir.Tensor{"y": y}, circuitErrorBound(g))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("encrypted: deviation %.2g of max(1, |y|)", dev)
		})
	}
}

// Lowerings the ONNX test data (onnx 1.12, opsets up to 17) does not reach.
func TestLoweringsBeyondTheSuite(t *testing.T) {
	floats := func(name string, v ...float32) *onnxpb.AttributeProto {
		typ := onnxpb.AttributeProto_FLOATS
		return &onnxpb.AttributeProto{Name: proto.String(name), Type: &typ, Floats: v}
	}
	cases := []struct {
		name  string
		model []byte
		in    *ir.Tensor
		want  map[string][]float64
	}{
		{"Split opset 18 num_outputs: the last part is smaller",
			onnxtest.New(18).Input("x", 1, 7).
				Node("Split", []string{"x"}, []string{"a", "b", "c"}, onnxtest.Int("axis", 1), onnxtest.Int("num_outputs", 3)).
				Output("a").Output("b").Output("c").Bytes(),
			&ir.Tensor{Shape: []int{1, 7}, Data: []float64{1, 2, 3, 4, 5, 6, 7}},
			map[string][]float64{"a": {1, 2, 3}, "b": {4, 5, 6}, "c": {7}}},
		{"Upsample opset 7: scales attribute, nearest",
			onnxtest.New(7).Input("x", 1, 1, 1, 2).
				Node("Upsample", []string{"x"}, []string{"y"}, floats("scales", 1, 1, 2, 2)).Output("y").Bytes(),
			&ir.Tensor{Shape: []int{1, 1, 1, 2}, Data: []float64{1, 2}},
			map[string][]float64{"y": {1, 1, 2, 2, 1, 1, 2, 2}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			low, err := lower(t, tc.model, LowerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := ir.Interpret(low.Graph, map[string]*ir.Tensor{"x": tc.in})
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tc.want {
				if !slices.Equal(got[name].Data, want) {
					t.Errorf("%s = %v, want %v", name, got[name].Data, want)
				}
			}
		})
	}
}
