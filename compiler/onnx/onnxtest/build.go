// Package onnxtest builds small ONNX models in code for tests, so that test
// models say what they contain instead of hiding in binary files.
package onnxtest

import (
	"github.com/hecc-dev/hecc/compiler/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Builder accumulates one graph.
type Builder struct {
	m *onnxpb.ModelProto
	g *onnxpb.GraphProto
}

// New starts a model importing the default domain at opset.
func New(opset int64) *Builder {
	g := &onnxpb.GraphProto{Name: proto.String("test")}
	return &Builder{
		g: g,
		m: &onnxpb.ModelProto{
			IrVersion:    proto.Int64(8),
			OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opset)}},
			ProducerName: proto.String("onnxtest"),
			Graph:        g,
		},
	}
}

// Batch marks a symbolic dimension in Input and Output shapes.
const Batch = -1

func valueInfo(name string, shape []int64) *onnxpb.ValueInfoProto {
	dims := make([]*onnxpb.TensorShapeProto_Dimension, len(shape))
	for i, d := range shape {
		dims[i] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}}
		if d == Batch {
			dims[i] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}}
		}
	}
	elem := int32(onnxpb.TensorProto_FLOAT)
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: &elem, Shape: &onnxpb.TensorShapeProto{Dim: dims}},
	}}}
}

// Input declares a float graph input.
func (b *Builder) Input(name string, shape ...int64) *Builder {
	b.g.Input = append(b.g.Input, valueInfo(name, shape))
	return b
}

// Output declares a graph output.
func (b *Builder) Output(name string, shape ...int64) *Builder {
	b.g.Output = append(b.g.Output, valueInfo(name, shape))
	return b
}

// Init adds a float initializer.
func (b *Builder) Init(name string, shape []int64, data []float32) *Builder {
	dt := int32(onnxpb.TensorProto_FLOAT)
	b.g.Initializer = append(b.g.Initializer, &onnxpb.TensorProto{Name: proto.String(name), Dims: shape, DataType: &dt, FloatData: data})
	return b
}

// Node adds an operator.
func (b *Builder) Node(op string, ins, outs []string, attrs ...*onnxpb.AttributeProto) *Builder {
	b.g.Node = append(b.g.Node, &onnxpb.NodeProto{
		Name: proto.String(op + "_" + outs[0]), OpType: proto.String(op), Input: ins, Output: outs, Attribute: attrs,
	})
	return b
}

// Int is an INT attribute.
func Int(name string, v int64) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_INT
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: &t, I: proto.Int64(v)}
}

// Ints is an INTS attribute.
func Ints(name string, v ...int64) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_INTS
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: &t, Ints: v}
}

// Float is a FLOAT attribute.
func Float(name string, v float32) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_FLOAT
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: &t, F: proto.Float32(v)}
}

// Tensor is a TENSOR attribute holding an int64 tensor (Constant shapes).
func Tensor(name string, shape []int64, data ...int64) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_TENSOR
	dt := int32(onnxpb.TensorProto_INT64)
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: &t, T: &onnxpb.TensorProto{Dims: shape, DataType: &dt, Int64Data: data}}
}

// FloatTensor is a TENSOR attribute holding a float tensor.
func FloatTensor(name string, shape []int64, data ...float32) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_TENSOR
	dt := int32(onnxpb.TensorProto_FLOAT)
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: &t, T: &onnxpb.TensorProto{Dims: shape, DataType: &dt, FloatData: data}}
}

// String is a STRING attribute.
func String(name, v string) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_STRING
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: &t, S: []byte(v)}
}

// Bytes serialises the model.
func (b *Builder) Bytes() []byte {
	data, err := proto.Marshal(b.m)
	if err != nil {
		panic(err) // the builder only makes well-formed messages
	}
	return data
}

// Weights returns n deterministic pseudo-random weights in [-scale, scale].
func Weights(seed uint32, n int, scale float32) []float32 {
	w := make([]float32, n)
	x := seed*2654435761 + 1
	for i := range w {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		w[i] = scale * (float32(x%20001)/10000 - 1)
	}
	return w
}

// TinyCryptoNets is a CryptoNets-shaped model small enough for fast tests:
// Conv(1→2, 3×3, stride 2, pad 1) on a 1×1×8×8 input → x·x → Flatten →
// Gemm 32→6 → x·x → Gemm 6→3. seed varies the weights.
func TinyCryptoNets(seed uint32) []byte {
	return New(13).
		Input("input", 1, 1, 8, 8).
		Init("cw", []int64{2, 1, 3, 3}, Weights(seed, 18, 0.5)).
		Init("cb", []int64{2}, Weights(seed+1, 2, 0.1)).
		Init("w1", []int64{6, 32}, Weights(seed+2, 192, 0.3)).
		Init("b1", []int64{6}, Weights(seed+3, 6, 0.1)).
		Init("w2", []int64{3, 6}, Weights(seed+4, 18, 0.5)).
		Init("b2", []int64{3}, Weights(seed+5, 3, 0.1)).
		Node("Conv", []string{"input", "cw", "cb"}, []string{"c"}, Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1), Ints("kernel_shape", 3, 3)).
		Node("Mul", []string{"c", "c"}, []string{"s1"}).
		Node("Flatten", []string{"s1"}, []string{"f"}, Int("axis", 1)).
		Node("Gemm", []string{"f", "w1", "b1"}, []string{"h"}, Int("transB", 1)).
		Node("Mul", []string{"h", "h"}, []string{"s2"}).
		Node("Gemm", []string{"s2", "w2", "b2"}, []string{"output"}, Int("transB", 1)).
		Output("output", 1, 3).
		Bytes()
}

// DynamicTinyCryptoNets is TinyCryptoNets as PyTorch exports it with a
// dynamic batch axis: the flatten is a Shape → Gather → Unsqueeze → Concat →
// Reshape chain and the squares are Pow(x, Constant 2).
func DynamicTinyCryptoNets(seed uint32) []byte {
	return New(13).
		Input("input", Batch, 1, 8, 8).
		Init("cw", []int64{2, 1, 3, 3}, Weights(seed, 18, 0.5)).
		Init("cb", []int64{2}, Weights(seed+1, 2, 0.1)).
		Init("w1", []int64{6, 32}, Weights(seed+2, 192, 0.3)).
		Init("b1", []int64{6}, Weights(seed+3, 6, 0.1)).
		Init("w2", []int64{3, 6}, Weights(seed+4, 18, 0.5)).
		Init("b2", []int64{3}, Weights(seed+5, 3, 0.1)).
		Node("Conv", []string{"input", "cw", "cb"}, []string{"c"}, Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1), Ints("kernel_shape", 3, 3)).
		Node("Constant", nil, []string{"two"}, FloatTensor("value", nil, 2)).
		Node("Pow", []string{"c", "two"}, []string{"s1"}).
		Node("Shape", []string{"s1"}, []string{"shape"}).
		Node("Constant", nil, []string{"zero"}, Tensor("value", nil, 0)).
		Node("Gather", []string{"shape", "zero"}, []string{"batch"}, Int("axis", 0)).
		Node("Constant", nil, []string{"axes"}, Tensor("value", []int64{1}, 0)).
		Node("Unsqueeze", []string{"batch", "axes"}, []string{"batch1"}).
		Node("Constant", nil, []string{"minus1"}, Tensor("value", []int64{1}, -1)).
		Node("Concat", []string{"batch1", "minus1"}, []string{"newshape"}, Int("axis", 0)).
		Node("Reshape", []string{"s1", "newshape"}, []string{"f"}).
		Node("Gemm", []string{"f", "w1", "b1"}, []string{"h"}, Int("transB", 1)).
		Node("Pow", []string{"h", "two"}, []string{"s2"}).
		Node("Gemm", []string{"s2", "w2", "b2"}, []string{"output"}, Int("transB", 1)).
		Output("output", Batch, 3).
		Bytes()
}

// PoolNet exercises the rest of a CryptoNets-style pipeline: Conv →
// BatchNormalization → x·x → Pad (pads from a Constant) → AveragePool →
// Flatten → MatMul → Add → Softmax.
func PoolNet(seed uint32) []byte {
	return New(13).
		Input("input", 1, 1, 6, 6).
		Init("cw", []int64{2, 1, 3, 3}, Weights(seed, 18, 0.5)).
		Init("scale", []int64{2}, []float32{1.5, 0.5}).
		Init("bias", []int64{2}, []float32{0.1, -0.2}).
		Init("mean", []int64{2}, []float32{0.05, 0.1}).
		Init("var", []int64{2}, []float32{0.9, 1.2}).
		Init("w", []int64{8, 3}, Weights(seed+1, 24, 0.4)).
		Init("b", []int64{3}, Weights(seed+2, 3, 0.1)).
		Node("Conv", []string{"input", "cw"}, []string{"c"}, Ints("pads", 1, 1, 1, 1)).
		Node("BatchNormalization", []string{"c", "scale", "bias", "mean", "var"}, []string{"bn"}).
		Node("Mul", []string{"bn", "bn"}, []string{"sq"}).
		Node("Constant", nil, []string{"pads"}, Tensor("value", []int64{8}, 0, 0, 0, 0, 0, 0, 0, 0)).
		Node("Pad", []string{"sq", "pads"}, []string{"padded"}, String("mode", "constant")).
		Node("AveragePool", []string{"padded"}, []string{"pool"}, Ints("kernel_shape", 3, 3), Ints("strides", 3, 3)).
		Node("Flatten", []string{"pool"}, []string{"f"}).
		Node("MatMul", []string{"f", "w"}, []string{"mm"}).
		Node("Add", []string{"mm", "b"}, []string{"logits"}).
		Node("Softmax", []string{"logits"}, []string{"output"}, Int("axis", -1)).
		Output("output", 1, 3).
		Bytes()
}
