package compiler

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
	"github.com/hecc-dev/hecc/compiler/onnxpb"
	"google.golang.org/protobuf/proto"
)

// compileBytes is what `hecc compile` does with a file's bytes.
func compileBytes(data []byte) (err error) {
	m, err := onnx.Decode(data)
	if err != nil {
		return err
	}
	_, err = Compile(m, Options{Name: "robustness"})
	return err
}

// edit decodes a builder's model, changes it, and encodes it again.
func edit(t *testing.T, data []byte, change func(m *onnxpb.ModelProto)) []byte {
	t.Helper()
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	change(&m)
	out, err := proto.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMalformedModels feeds broken models through decoding and compiling:
// each must fail with a one-line reason wrapping the right sentinel, never
// panic, hang or allocate without bound.
func TestMalformedModels(t *testing.T) {
	valid := onnxtest.TinyCryptoNets(1)
	random := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	relu := func() *onnxtest.Builder {
		return onnxtest.New(13).Input("x", 1, 4).Node("Relu", []string{"x"}, []string{"y"}).Output("y", 1, 4)
	}
	cases := []struct {
		name  string
		model []byte
		is    error
		want  string
	}{
		{"empty file", nil, onnx.ErrMalformed, "empty"},
		{"random bytes", random, onnx.ErrMalformed, "not an ONNX model"},
		{"truncated model", valid[:len(valid)/2], onnx.ErrMalformed, "not an ONNX model"},
		{"initializer data size disagrees with its dims",
			onnxtest.New(13).Input("x", 1, 3).Init("w", []int64{3, 3}, make([]float32, 5)).
				Node("MatMul", []string{"x", "w"}, []string{"y"}).Output("y").Bytes(), onnx.ErrMalformed, "w"},
		{"initializer dims with an enormous product",
			onnxtest.New(13).Input("x", 1, 3).Init("w", []int64{1 << 40, 1 << 40}, nil).
				Node("MatMul", []string{"x", "w"}, []string{"y"}).Output("y").Bytes(), onnx.ErrTooLarge, "shape"},
		{"weights that disagree with the graph (Gemm 845→100 with a 100×800 weight)",
			onnxtest.New(13).Input("x", 1, 845).Init("w", []int64{100, 800}, make([]float32, 80000)).
				Node("Gemm", []string{"x", "w"}, []string{"y"}, onnxtest.Int("transB", 1)).Output("y").Bytes(),
			ErrModel, "inner dimensions 845 and 800 differ"},
		{"unknown op type",
			onnxtest.New(13).Input("x", 1, 4).Node("FrobnicateV2", []string{"x"}, []string{"y"}).Output("y").Bytes(),
			ErrUnsupportedOp, `(FrobnicateV2, opset 13): operator not supported`},
		{"cycle",
			onnxtest.New(13).Input("x", 1, 4).Node("Add", []string{"x", "b"}, []string{"a"}).
				Node("Add", []string{"a", "x"}, []string{"b"}).Output("b").Bytes(), ErrModel, "cycle"},
		{"node input that nothing defines",
			onnxtest.New(13).Input("x", 1, 4).Node("Add", []string{"x", "ghost"}, []string{"y"}).Output("y").Bytes(),
			ErrModel, `"ghost"`},
		{"unsupported domain",
			edit(t, relu().Bytes(), func(m *onnxpb.ModelProto) {
				m.Graph.Node[0].Domain = proto.String("com.microsoft")
				m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String("com.microsoft"), Version: proto.Int64(1)})
			}), ErrUnsupportedOp, `domain "com.microsoft"`},
		{"no ai.onnx opset",
			edit(t, relu().Bytes(), func(m *onnxpb.ModelProto) {
				m.OpsetImport[0].Domain = proto.String("com.example")
			}), ErrModel, "no ai.onnx opset"},
		{"graph output nothing computes",
			onnxtest.New(13).Input("x", 1, 4).Node("Relu", []string{"x"}, []string{"y"}).Output("z").Bytes(), ErrModel, `"z"`},
		{"input larger than a ciphertext",
			onnxtest.New(13).Input("x", 1, 3, 224, 224).Node("Relu", []string{"x"}, []string{"y"}).Output("y").Bytes(),
			ErrUnsupported, "one ciphertext holds at most"},
		{"Expand of the encrypted input to an enormous shape",
			onnxtest.New(13).Input("x", 1, 4).Init("s", []int64{3}, []float32{1 << 20, 1 << 20, 4}).
				Node("Cast", []string{"s"}, []string{"si"}, onnxtest.Int("to", 7)).
				Node("Expand", []string{"x", "si"}, []string{"y"}).Output("y").Bytes(), ErrUnsupported, "elements"},
		{"ConstantOfShape with an enormous shape",
			onnxtest.New(13).Input("x", 1, 4).
				Node("ConstantOfShape", []string{"s"}, []string{"c"}).
				Node("Constant", nil, []string{"s"}, onnxtest.Tensor("value", []int64{3}, 1<<30, 1<<30, 1<<30)).
				Node("Add", []string{"x", "c"}, []string{"y"}).Output("y").Bytes(), ErrModel, "elements"},
		{"Reshape to a shape of another size",
			onnxtest.New(13).Input("x", 1, 4).Node("Constant", nil, []string{"s"}, onnxtest.Tensor("value", []int64{2}, 3, 3)).
				Node("Reshape", []string{"x", "s"}, []string{"y"}).Output("y").Bytes(), ErrModel, "cannot reshape"},
		{"Resize by an enormous scale",
			onnxtest.New(13).Input("x", 1, 1, 2, 2).Init("scales", []int64{4}, []float32{1, 1, 1e9, 1e9}).
				Node("Resize", []string{"x", "", "scales"}, []string{"y"}).Output("y").Bytes(), ErrModel, "too large"},
		{"attribute of the wrong type",
			onnxtest.New(13).Input("x", 1, 1, 4, 4).Init("w", []int64{1, 1, 3, 3}, make([]float32, 9)).
				Node("Conv", []string{"x", "w"}, []string{"y"}, onnxtest.String("group", "two")).Output("y").Bytes(),
			ErrUnsupported, "group"},
		{"activation without a range",
			relu().Bytes(), nil, "range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("panic: %v", r)
						t.Errorf("compiling panicked: %v", r)
					}
				}()
				err = compileBytes(tc.model)
			}()
			if err == nil {
				t.Fatal("the model compiled")
			}
			msg := err.Error()
			t.Log(msg)
			if strings.Contains(msg, "\n") {
				t.Errorf("the reason is not one line: %q", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not mention %q", msg, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %v", msg, tc.is)
			}
		})
	}
}
