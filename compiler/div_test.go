package compiler

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
	"github.com/hecc-dev/hecc/compiler/onnxpb"
	"github.com/hecc-dev/hecc/ir"
	"google.golang.org/protobuf/proto"
)

// typedConstant is a Constant node's TENSOR attribute of element type dt,
// its values in the field ONNX stores that type in.
func typedConstant(dt onnxpb.TensorProto_DataType, data ...float64) *onnxpb.AttributeProto {
	typ := onnxpb.AttributeProto_TENSOR
	t := &onnxpb.TensorProto{Dims: []int64{int64(len(data))}, DataType: proto.Int32(int32(dt))}
	for _, v := range data {
		switch dt {
		case onnxpb.TensorProto_FLOAT:
			t.FloatData = append(t.FloatData, float32(v))
		case onnxpb.TensorProto_INT64:
			t.Int64Data = append(t.Int64Data, int64(v))
		default: // the narrow integer types
			t.Int32Data = append(t.Int32Data, int32(v))
		}
	}
	return &onnxpb.AttributeProto{Name: proto.String("value"), Type: &typ, T: t}
}

// ONNX's Div truncates integer quotients toward zero; constant operands are
// divided at compile time.
func TestDivOfConstants(t *testing.T) {
	cases := []struct {
		name       string
		dt         onnxpb.TensorProto_DataType
		a, b, want []float64
	}{
		{"int64", onnxpb.TensorProto_INT64, []float64{5, -5, 7, -7, 6}, []float64{2, 2, -2, -2, 3}, []float64{2, -2, -3, 3, 2}},
		{"int32", onnxpb.TensorProto_INT32, []float64{9, -9}, []float64{4, 4}, []float64{2, -2}},
		{"uint8", onnxpb.TensorProto_UINT8, []float64{16, 255, 1}, []float64{11, 2, 3}, []float64{1, 127, 0}},
		{"float", onnxpb.TensorProto_FLOAT, []float64{5, -5, 1}, []float64{2, 2, 4}, []float64{2.5, -2.5, 0.25}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := int64(len(tc.a))
			// y = x + float(a / b): the quotient reaches the circuit as a
			// constant operand, and x = 0 reads it back.
			model := onnxtest.New(13).Input("x", n).
				Node("Constant", nil, []string{"a"}, typedConstant(tc.dt, tc.a...)).
				Node("Constant", nil, []string{"b"}, typedConstant(tc.dt, tc.b...)).
				Node("Div", []string{"a", "b"}, []string{"q"}).
				Node("Cast", []string{"q"}, []string{"qf"}, onnxtest.Int("to", int64(onnxpb.TensorProto_FLOAT))).
				Node("Add", []string{"x", "qf"}, []string{"y"}).Output("y").Bytes()
			low, err := lower(t, model, LowerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := ir.Interpret(low.Graph, map[string]*ir.Tensor{"x": ir.NewTensor(int(n))})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got["y"].Data, tc.want) {
				t.Errorf("%v / %v = %v, want %v", tc.a, tc.b, got["y"].Data, tc.want)
			}
		})
	}
}

// An encrypted integer dividend cannot be truncated: Div refuses it, naming
// the node; an encrypted float dividend divides as a real.
func TestDivOfEncryptedInteger(t *testing.T) {
	for _, tc := range []struct {
		dt      onnxpb.TensorProto_DataType
		refused bool
	}{{onnxpb.TensorProto_INT64, true}, {onnxpb.TensorProto_UINT8, true}, {onnxpb.TensorProto_FLOAT, false}} {
		t.Run(tc.dt.String(), func(t *testing.T) {
			m, err := onnx.Decode(onnxtest.New(13).Input("x", 2).
				Node("Constant", nil, []string{"b"}, typedConstant(tc.dt, 2, 2)).
				Node("Div", []string{"x", "b"}, []string{"y"}).Output("y").Bytes())
			if err != nil {
				t.Fatal(err)
			}
			m.Graph.Inputs[0].ElemType = int32(tc.dt)
			low, err := Lower(m, LowerOptions{})
			if !tc.refused {
				if err != nil {
					t.Fatal(err)
				}
				got, err := ir.Interpret(low.Graph, map[string]*ir.Tensor{"x": {Shape: []int{2}, Data: []float64{5, -5}}})
				if err != nil || !slices.Equal(got["y"].Data, []float64{2.5, -2.5}) {
					t.Errorf("[5 -5] / 2 = %v, %v; want [2.5 -2.5]", got["y"], err)
				}
				return
			}
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `"Div_y"`) || !strings.Contains(err.Error(), "integer division") {
				t.Errorf("error %v, want ErrUnsupported naming node Div_y and the integer division", err)
			}
		})
	}
}
