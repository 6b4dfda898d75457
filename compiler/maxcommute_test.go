package compiler

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
	"github.com/hecc-dev/hecc/compiler/onnxpb"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/passes"
)

// TestActivationsAfterMaxLowered runs activations-after-max on lowered
// models where an activation feeds a max (every window shape the pooling
// lowers to, padded windows included) and checks, with exact activations
// on random inputs, that the graph computes what it did before and that
// the activation went past every level of the tree.
func TestActivationsAfterMaxLowered(t *testing.T) {
	pool := func(act string, attrs []*onnxpb.AttributeProto, op string, poolAttrs ...*onnxpb.AttributeProto) []byte {
		return onnxtest.New(13).Input("x", 1, 2, 7, 7).
			Node(act, []string{"x"}, []string{"a"}, attrs...).
			Node(op, []string{"a"}, []string{"y"}, poolAttrs...).Output("y").Bytes()
	}
	lenet, err := os.ReadFile(filepath.Join("..", "testdata", "models", "lenet_maxpool.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		model []byte
		moved int // levels passed
	}{
		{"relu, 2×2 stride 2", pool("Relu", nil, "MaxPool", onnxtest.Ints("kernel_shape", 2, 2), onnxtest.Ints("strides", 2, 2)), 2},
		{"relu, 3×3 stride 2 pads 1 (masked pairs)", pool("Relu", nil, "MaxPool",
			onnxtest.Ints("kernel_shape", 3, 3), onnxtest.Ints("strides", 2, 2), onnxtest.Ints("pads", 1, 1, 1, 1)), 4},
		{"sigmoid, 3×3 stride 2 pads 1 (unused rows)", pool("Sigmoid", nil, "MaxPool",
			onnxtest.Ints("kernel_shape", 3, 3), onnxtest.Ints("strides", 2, 2), onnxtest.Ints("pads", 1, 1, 1, 1)), 4},
		{"sigmoid, GlobalMaxPool", pool("Sigmoid", nil, "GlobalMaxPool"), 6},
		{"leaky relu 0.1, ReduceMax", pool("LeakyRelu", []*onnxpb.AttributeProto{onnxtest.Float("alpha", 0.1)}, "ReduceMax", onnxtest.Ints("axes", 1)), 1},
		{"leaky relu −0.5 stays", pool("LeakyRelu", []*onnxpb.AttributeProto{onnxtest.Float("alpha", -0.5)}, "MaxPool", onnxtest.Ints("kernel_shape", 2, 2)), 0},
		{"lenet_maxpool", lenet, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, err := lower(t, tc.model, LowerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			after, err := lower(t, tc.model, LowerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			g := after.Graph
			moved := 0
			cfg := &passes.Config{Log: func(_, msg string) {
				if _, err := fmt.Sscanf(msg, "%d activations moved", &moved); err != nil {
					t.Errorf("log %q: %v", msg, err)
				}
			}}
			if err := passes.ActivationsAfterMax(g, cfg); err != nil {
				t.Fatal(err)
			}
			if err := ir.Verify(g); err != nil {
				t.Fatal(err)
			}
			if moved != tc.moved {
				t.Errorf("the activation passed %d levels, want %d\n%s", moved, tc.moved, g)
			}
			if last := g.Outputs()[0].Inputs[0]; tc.moved > 0 && tc.name != "lenet_maxpool" && (last.Op != ir.OpActivation || last.Inputs[0].Op != ir.OpAdd) {
				t.Errorf("the output is not the activation of the tree's last level:\n%s", g)
			}
			in := g.Inputs()[0]
			rng := rand.New(rand.NewPCG(9, 10))
			for range 20 {
				x := randomTensor(rng, in.Shape...)
				for i := range x.Data {
					x.Data[i] *= 3
				}
				want, err := ir.Interpret(before.Graph, map[string]*ir.Tensor{in.Name: x})
				if err != nil {
					t.Fatal(err)
				}
				got, err := ir.Interpret(g, map[string]*ir.Tensor{in.Name: x})
				if err != nil {
					t.Fatal(err)
				}
				for name, w := range want {
					for i, v := range w.Data {
						if d := math.Abs(got[name].Data[i] - v); d > 1e-9*(1+math.Abs(v)) {
							t.Fatalf("output %s[%d]: %g, before the pass %g", name, i, got[name].Data[i], v)
						}
					}
				}
			}
		})
	}
}
