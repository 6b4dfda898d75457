package onnx

import (
	"testing"

	"github.com/hecc-dev/hecc/compiler/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Builders for test models; they keep the tables below readable.

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dt(d onnxpb.TensorProto_DataType) *int32 { return proto.Int32(int32(d)) }

func floatTensor(name string, dims []int64, vals ...float32) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: dt(onnxpb.TensorProto_FLOAT), Dims: dims, FloatData: vals}
}

func tensorValue(name string, elem onnxpb.TensorProto_DataType, dims ...int64) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{
			Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{
		Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(elem)), Shape: shape}}}}
}

func node(op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Input: in, Output: out, Attribute: attrs}
}

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func tensorAttr(name string, tp *onnxpb.TensorProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: tp}
}

// validGraph is y = Relu(x + w) with w an initializer.
func validGraph() *onnxpb.GraphProto {
	return &onnxpb.GraphProto{
		Name:        proto.String("g"),
		Input:       []*onnxpb.ValueInfoProto{tensorValue("x", onnxpb.TensorProto_FLOAT, 2)},
		Output:      []*onnxpb.ValueInfoProto{tensorValue("y", onnxpb.TensorProto_FLOAT, 2)},
		Initializer: []*onnxpb.TensorProto{floatTensor("w", []int64{2}, 1, 2)},
		Node: []*onnxpb.NodeProto{
			node("Add", []string{"x", "w"}, []string{"s"}),
			node("Relu", []string{"s"}, []string{"y"}),
		},
	}
}

func modelProto(g *onnxpb.GraphProto) *onnxpb.ModelProto {
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph:       g,
	}
}

// modelWith returns a valid model after applying edit to its graph.
func modelWith(t testing.TB, edit func(g *onnxpb.GraphProto)) []byte {
	g := validGraph()
	edit(g)
	return marshal(t, modelProto(g))
}
