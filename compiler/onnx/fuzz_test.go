package onnx

import (
	"errors"
	"testing"

	"github.com/hecc-dev/hecc/compiler/onnxpb"
	"google.golang.org/protobuf/proto"
)

func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x08\x08"))
	f.Add(marshal(f, modelProto(validGraph())))
	g := validGraph()
	g.Initializer = append(g.Initializer,
		&onnxpb.TensorProto{Name: proto.String("h"), DataType: dt(onnxpb.TensorProto_FLOAT16), Dims: []int64{2}, RawData: []byte{0, 0x3c, 0, 0xc0}},
		&onnxpb.TensorProto{Name: proto.String("i"), DataType: dt(onnxpb.TensorProto_INT8), Dims: []int64{1, 1}, Int32Data: []int32{-3}},
		&onnxpb.TensorProto{Name: proto.String("d"), DataType: dt(onnxpb.TensorProto_DOUBLE), Dims: []int64{1}, DoubleData: []float64{2}})
	g.Node = append(g.Node,
		node("Constant", nil, []string{"c"}, tensorAttr("value", floatTensor("", []int64{1}, 3))),
		node("Transpose", []string{"c"}, []string{"t"}, &onnxpb.AttributeProto{
			Name: proto.String("perm"), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: []int64{0}}))
	g.ValueInfo = []*onnxpb.ValueInfoProto{tensorValue("c", onnxpb.TensorProto_FLOAT, 1)}
	f.Add(marshal(f, modelProto(g)))

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		for name, tensor := range m.Graph.Initializers {
			if err := tensor.Check(); err != nil {
				t.Fatalf("initializer %q: %v", name, err)
			}
		}
		for _, n := range m.Graph.Nodes {
			if n.OpType == "" {
				t.Fatalf("node %s has no op type", n.Label())
			}
			for _, a := range n.Attrs {
				if a.T != nil {
					if err := a.T.Check(); err != nil {
						t.Fatalf("node %s attribute %q: %v", n.Label(), a.Name, err)
					}
				}
			}
		}
		// TopoSort must terminate on anything Decode accepts.
		_, _ = m.Graph.TopoSort()
	})
}
