package compiler

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
	"github.com/hecc-dev/hecc/ir"
)

func lower(t *testing.T, data []byte, opts LowerOptions) (*Lowered, error) {
	t.Helper()
	m, err := onnx.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return Lower(m, opts)
}

func TestLoweringRefusals(t *testing.T) {
	cases := []struct {
		name  string
		model []byte
		opts  LowerOptions
		want  []string
		is    error
	}{
		{"unknown op lists what is supported",
			onnxtest.New(13).Input("x", 1, 4).Node("Erf", []string{"x"}, []string{"y"}).Output("y").Bytes(), LowerOptions{},
			[]string{`cannot compile node "Erf_y" (Erf, opset 13): operator not supported`, "supported operators: ", "AveragePool, BatchNormalization", "Conv"}, ErrUnsupportedOp},
		{"an unsupported op names the fix",
			onnxtest.New(13).Input("x", 1, 1, 4, 4).Node("LayerNormalization", []string{"x"}, []string{"y"}).Output("y").Bytes(), LowerOptions{},
			[]string{"use BatchNormalization"}, ErrUnsupportedOp},
		{"division by the encrypted tensor",
			onnxtest.New(13).Input("x", 1, 4).Init("one", []int64{1}, []float32{1}).Node("Div", []string{"one", "x"}, []string{"y"}).Output("y").Bytes(), LowerOptions{},
			[]string{`(Div, opset 13)`, "only division by a constant"}, ErrUnsupported},
		{"two encrypted inputs",
			onnxtest.New(13).Input("a", 1, 4).Input("b", 1, 4).Node("Add", []string{"a", "b"}, []string{"y"}).Output("y").Bytes(), LowerOptions{},
			[]string{`2 inputs ("a", "b")`, "--bind"}, ErrUnsupported},
		{"bind to a missing input",
			onnxtest.TinyCryptoNets(1), LowerOptions{Binds: map[string]*ir.Tensor{"nope": ir.NewTensor(1)}},
			[]string{"--bind nope", "no graph input"}, ErrModel},
		{"symbolic non-batch dimension",
			onnxtest.New(13).Input("x", 1, onnxtest.Batch).Node("Relu", []string{"x"}, []string{"y"}).Output("y").Bytes(), LowerOptions{},
			[]string{"symbolic dimension", "axis 1"}, ErrUnsupported},
		{"output independent of the input",
			onnxtest.New(13).Input("x", 1, 4).Init("c", []int64{1}, []float32{1}).Node("Identity", []string{"c"}, []string{"y"}).Output("y").Bytes(), LowerOptions{},
			[]string{`output "y" does not depend on the encrypted input`}, ErrUnsupported},
		{"node reading an undefined value",
			onnxtest.New(13).Input("x", 1, 4).Node("Relu", []string{"ghost"}, []string{"y"}).Output("y").Bytes(), LowerOptions{},
			[]string{"ghost"}, ErrModel},
		{"cycle",
			onnxtest.New(13).Input("x", 1, 4).Node("Add", []string{"x", "b"}, []string{"a"}).Node("Add", []string{"a", "x"}, []string{"b"}).Output("b").Bytes(), LowerOptions{},
			[]string{"cycle"}, ErrModel},
		{"softmax that is not last",
			onnxtest.New(13).Input("x", 1, 4).Node("Softmax", []string{"x"}, []string{"s"}).Node("Neg", []string{"s"}, []string{"y"}).Output("y").Bytes(), LowerOptions{},
			[]string{"after a softmax", "last operation"}, ErrUnsupported},
		{"weights that disagree with the input",
			onnxtest.New(13).Input("x", 1, 5).Init("w", []int64{4, 3}, onnxtest.Weights(1, 12, 1)).Node("MatMul", []string{"x", "w"}, []string{"y"}).Output("y").Bytes(), LowerOptions{},
			[]string{"inner dimensions 5 and 4"}, ErrModel},
		{"opset older than an op's first version",
			onnxtest.New(8).Input("x", 1, 4).Node("Range", []string{"x", "x", "x"}, []string{"y"}).Output("y").Bytes(), LowerOptions{},
			[]string{"supported from opset 11"}, ErrUnsupportedOp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lower(t, tc.model, tc.opts)
			if err == nil {
				t.Fatal("lowering succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
			if !errors.Is(err, tc.is) {
				t.Fatalf("error %q does not wrap %v", err, tc.is)
			}
		})
	}
}

// The dynamic-batch export and the static one are the same function: the
// shape chain and Pow fold into the same circuit.
func TestDynamicExportFoldsToTheSameCircuit(t *testing.T) {
	static, err := lower(t, onnxtest.TinyCryptoNets(3), LowerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dynamic, err := lower(t, onnxtest.DynamicTinyCryptoNets(3), LowerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	x := &ir.Tensor{Shape: []int{1, 1, 8, 8}, Data: make([]float64, 64)}
	for i := range x.Data {
		x.Data[i] = math.Sin(float64(i))
	}
	a, err := ir.Interpret(static.Graph, map[string]*ir.Tensor{"input": x})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ir.Interpret(dynamic.Graph, map[string]*ir.Tensor{"input": x})
	if err != nil {
		t.Fatal(err)
	}
	for i := range a["output"].Data {
		if math.Abs(a["output"].Data[i]-b["output"].Data[i]) > 1e-12 {
			t.Fatalf("outputs differ: %v vs %v", a["output"].Data, b["output"].Data)
		}
	}
	for _, op := range []string{"Shape", "Gather", "Unsqueeze", "Concat", "Reshape", "Pow", "Constant"} {
		if dynamic.OpsSeen[op] == 0 {
			t.Fatalf("the dynamic model has no %s node: the test lost its point", op)
		}
	}
	if n := len(dynamic.Graph.Nodes); n != len(static.Graph.Nodes) {
		t.Fatalf("dynamic export lowered to %d IR nodes, the static one to %d", n, len(static.Graph.Nodes))
	}
}

func TestBindFreezesAnInput(t *testing.T) {
	model := onnxtest.New(13).Input("x", 1, 3).Input("w", 3, 2).Node("MatMul", []string{"x", "w"}, []string{"y"}).Output("y").Bytes()
	w := &ir.Tensor{Shape: []int{3, 2}, Data: []float64{1, 2, 3, 4, 5, 6}}
	low, err := lower(t, model, LowerOptions{Binds: map[string]*ir.Tensor{"w": w}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := ir.Interpret(low.Graph, map[string]*ir.Tensor{"x": {Shape: []int{1, 3}, Data: []float64{1, 1, 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if y := out["y"].Data; y[0] != 9 || y[1] != 12 {
		t.Fatalf("y = %v, want [9 12]", y)
	}
	if _, err := lower(t, model, LowerOptions{Binds: map[string]*ir.Tensor{"w": ir.NewTensor(2, 3)}}); !errors.Is(err, ErrModel) {
		t.Fatalf("binding a tensor of the wrong shape: %v", err)
	}
}

// Every registration documents itself: the Notes feed docs/operators.md.
func TestEveryLoweringHasNotes(t *testing.T) {
	for _, info := range Operators() {
		for i, n := range info.Notes {
			if n == "" {
				t.Errorf("%s (opset %d) has no Notes", info.Op, info.Since[i])
			}
		}
		if _, refused := hints[info.Op]; refused {
			t.Errorf("%s is registered and also has a refusal hint", info.Op)
		}
	}
}
