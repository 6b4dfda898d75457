package onnx

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/compiler/onnxpb"
	"github.com/hecc-dev/hecc/ir"
	"google.golang.org/protobuf/proto"
)

func TestDecodeValid(t *testing.T) {
	g := validGraph()
	// Pre-IR-4 style: the initializer is also listed as an input.
	g.Input = append(g.Input, tensorValue("w", onnxpb.TensorProto_FLOAT, 2))
	g.ValueInfo = []*onnxpb.ValueInfoProto{{
		Name: proto.String("s"),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(1),
			Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
				{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}},
				{}, // neither value nor param: unknown
				{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 0}},
			}},
		}}},
	}, {Name: proto.String("untyped")}}
	g.Node[1].Name = proto.String("act")
	g.Node[1].Domain = proto.String("ai.onnx")
	g.Node[0].Input = append(g.Node[0].Input, "") // omitted optional input
	g.Node[0].Attribute = []*onnxpb.AttributeProto{
		{Name: proto.String("f"), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(0.5)},
		intAttr("i", -3),
		{Name: proto.String("s"), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte("same")},
		tensorAttr("t", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_INT64), Int64Data: []int64{7}}),
		{Name: proto.String("fs"), Type: onnxpb.AttributeProto_FLOATS.Enum(), Floats: []float32{1, 2.5}},
		{Name: proto.String("is"), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: []int64{1, 2}},
		{Name: proto.String("ss"), Type: onnxpb.AttributeProto_STRINGS.Enum(), Strings: [][]byte{[]byte("a"), []byte("b")}},
		{Name: proto.String("g"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: &onnxpb.GraphProto{}},
	}
	mp := modelProto(g)
	mp.ProducerName = proto.String("test")
	mp.ProducerVersion = proto.String("1")
	mp.OpsetImport = append(mp.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String("com.example"), Version: proto.Int64(2)})

	m, err := Decode(marshal(t, mp))
	if err != nil {
		t.Fatal(err)
	}
	if m.IRVersion != 8 || m.ProducerName != "test" || m.ProducerVersion != "1" {
		t.Errorf("header = %d %q %q", m.IRVersion, m.ProducerName, m.ProducerVersion)
	}
	if want := map[string]int64{"": 13, "com.example": 2}; !reflect.DeepEqual(m.Opsets, want) {
		t.Errorf("Opsets = %v, want %v", m.Opsets, want)
	}
	gr := m.Graph
	if gr.Name != "g" {
		t.Errorf("Name = %q", gr.Name)
	}
	wantIn := []ValueInfo{{Name: "x", ElemType: 1, Dims: []Dim{{Value: 2}}, HasShape: true}}
	if !reflect.DeepEqual(gr.Inputs, wantIn) {
		t.Errorf("Inputs = %+v, want %+v", gr.Inputs, wantIn)
	}
	if len(gr.Outputs) != 1 || gr.Outputs[0].Name != "y" {
		t.Errorf("Outputs = %+v", gr.Outputs)
	}
	if w := gr.Initializers["w"]; w == nil || !reflect.DeepEqual(*w, ir.Tensor{Shape: []int{2}, Data: []float64{1, 2}}) {
		t.Errorf("Initializers[w] = %+v", w)
	}
	if want := map[string]int32{"w": 1}; !reflect.DeepEqual(gr.InitializerTypes, want) {
		t.Errorf("InitializerTypes = %v, want %v", gr.InitializerTypes, want)
	}
	wantVI := map[string]ValueInfo{
		"s":       {Name: "s", ElemType: 1, Dims: []Dim{{Param: "N"}, {Param: "?"}, {Value: 0}}, HasShape: true},
		"untyped": {Name: "untyped"},
	}
	if !reflect.DeepEqual(gr.ValueInfo, wantVI) {
		t.Errorf("ValueInfo = %+v, want %+v", gr.ValueInfo, wantVI)
	}
	if len(gr.Nodes) != 2 {
		t.Fatalf("%d nodes", len(gr.Nodes))
	}
	add, relu := gr.Nodes[0], gr.Nodes[1]
	if !reflect.DeepEqual(add.Inputs, []string{"x", "w", ""}) || relu.Domain != "" || relu.Name != "act" {
		t.Errorf("nodes = %+v %+v", add, relu)
	}
	wantAttrs := map[string]*Attribute{
		"f":  {Name: "f", Type: FloatAttr, F: 0.5},
		"i":  {Name: "i", Type: IntAttr, I: -3},
		"s":  {Name: "s", Type: StringAttr, S: "same"},
		"t":  {Name: "t", Type: TensorAttr, T: &ir.Tensor{Shape: []int{}, Data: []float64{7}}, TType: 7},
		"fs": {Name: "fs", Type: FloatsAttr, Floats: []float64{1, 2.5}},
		"is": {Name: "is", Type: IntsAttr, Ints: []int64{1, 2}},
		"ss": {Name: "ss", Type: StringsAttr, Strings: []string{"a", "b"}},
		"g":  {Name: "g", Type: GraphAttr},
	}
	if !reflect.DeepEqual(add.Attrs, wantAttrs) {
		for k, v := range add.Attrs {
			t.Logf("%s: %+v", k, v)
		}
		t.Errorf("attributes differ")
	}
	if got := add.Label(); got != `#0 (Add -> "s")` {
		t.Errorf("Label = %s", got)
	}
	if got := relu.Label(); got != `"act" (Relu)` {
		t.Errorf("Label = %s", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := marshal(t, modelProto(validGraph()))
	tests := []struct {
		name string
		data []byte
		kind error
		msg  string // substring of the error
	}{
		{"empty", nil, ErrMalformed, "not an ONNX model: the input is empty"},
		{"not protobuf", []byte("\xff\xff\xff\xff"), ErrMalformed, "not an ONNX model"},
		{"truncated", valid[:len(valid)-3], ErrMalformed, "not an ONNX model"},
		{"no graph", marshal(t, &onnxpb.ModelProto{IrVersion: proto.Int64(8)}), ErrMalformed, "no graph"},
		{"duplicate opset", func() []byte {
			mp := modelProto(validGraph())
			mp.OpsetImport = append(mp.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String("ai.onnx"), Version: proto.Int64(11)})
			return marshal(t, mp)
		}(), ErrMalformed, `opset for domain "ai.onnx" is imported twice`},
		{"string initializer", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Initializer[0] = &onnxpb.TensorProto{Name: proto.String("w"), DataType: dt(onnxpb.TensorProto_STRING), StringData: [][]byte{[]byte("a")}}
		}), ErrUnsupported, `initializer "w": data type STRING is not supported`},
		{"bfloat16 initializer", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Initializer[0].DataType = dt(onnxpb.TensorProto_BFLOAT16)
		}), ErrUnsupported, "data type BFLOAT16 is not supported"},
		{"unknown data type", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Initializer[0].DataType = proto.Int32(99)
		}), ErrUnsupported, "data type 99 (unknown) is not supported"},
		{"external data location", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Initializer[0].DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
		}), ErrUnsupported, errExternalData},
		{"external data entries", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Initializer[0].ExternalData = []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("w.bin")}}
		}), ErrUnsupported, errExternalData},
		{"segment", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Initializer[0].Segment = &onnxpb.TensorProto_Segment{Begin: proto.Int64(0), End: proto.Int64(1)}
		}), ErrUnsupported, "segmented"},
		{"too few values", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Initializer[0].FloatData = []float32{1}
		}), ErrMalformed, `initializer "w": float_data has 1 values, shape [2] needs 2`},
		{"no values", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Initializer[0].FloatData = nil
		}), ErrMalformed, "float_data has 0 values, shape [2] needs 2"},
		{"raw_data length", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Initializer[0].FloatData = nil
			g.Initializer[0].RawData = make([]byte, 7)
		}), ErrMalformed, "raw_data has 7 bytes, a FLOAT tensor of shape [2] needs 8"},
		{"raw and typed", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Initializer[0].RawData = make([]byte, 8)
		}), ErrMalformed, "values in both raw_data and float_data"},
		{"wrong field", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Initializer[0].FloatData = nil
			g.Initializer[0].Int64Data = []int64{1, 2}
		}), ErrMalformed, "a FLOAT tensor keeps its values in raw_data or float_data, not int64_data"},
		{"negative dim", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Initializer[0].Dims = []int64{-2}
		}), ErrMalformed, "negative dimension"},
		{"huge element count", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Initializer[0].Dims = []int64{1 << 20, 1 << 20, 1 << 20}
		}), ErrTooLarge, "more than"},
		{"huge dim with zero elements", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Initializer[0].Dims = []int64{0, math.MaxInt64}
			g.Initializer[0].FloatData = nil
		}), ErrTooLarge, "has a dimension above"},
		{"uint8 out of range", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Initializer[0] = &onnxpb.TensorProto{Name: proto.String("w"), DataType: dt(onnxpb.TensorProto_UINT8), Dims: []int64{1}, Int32Data: []int32{256}}
		}), ErrMalformed, "int32_data element 0 of a UINT8 tensor: value 256 is outside [0, 255]"},
		{"bool not 0/1", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Initializer[0] = &onnxpb.TensorProto{Name: proto.String("w"), DataType: dt(onnxpb.TensorProto_BOOL), RawData: []byte{2}}
		}), ErrMalformed, "BOOL value 2 is neither 0 nor 1"},
		{"sparse initializer", modelWith(t, func(g *onnxpb.GraphProto) {
			g.SparseInitializer = []*onnxpb.SparseTensorProto{{Values: floatTensor("sp", []int64{1}, 1)}}
		}), ErrUnsupported, `sparse initializer "sp"`},
		{"unnamed initializer", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Initializer[0].Name = nil
		}), ErrMalformed, "an initializer has no name"},
		{"duplicate initializer", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Initializer = append(g.Initializer, floatTensor("w", nil, 1))
		}), ErrMalformed, `initializer "w" is defined twice`},
		{"duplicate input", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Input = append(g.Input, tensorValue("x", onnxpb.TensorProto_FLOAT))
		}), ErrMalformed, `graph input "x" is listed twice`},
		{"unnamed input", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Input[0].Name = nil
		}), ErrMalformed, "graph input: a value has no name"},
		{"negative value dim", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Output[0] = tensorValue("y", onnxpb.TensorProto_FLOAT, -1)
		}), ErrMalformed, `graph output: value "y": dimension 0 is -1`},
		{"sequence input", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Input[0].Type = &onnxpb.TypeProto{Value: &onnxpb.TypeProto_SequenceType{SequenceType: &onnxpb.TypeProto_Sequence{}}}
		}), ErrUnsupported, `value "x" has sequence type; only tensors are supported`},
		{"duplicate value_info", modelWith(t, func(g *onnxpb.GraphProto) {
			g.ValueInfo = []*onnxpb.ValueInfoProto{{Name: proto.String("s")}, {Name: proto.String("s")}}
		}), ErrMalformed, `value_info "s" is listed twice`},
		{"empty op_type", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Node[1].OpType = nil
		}), ErrMalformed, `node #1 ( -> "y") has no op_type`},
		{"output defined twice", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Node[1].Output = []string{"s"}
		}), ErrMalformed, `node #1 (Relu -> "s"): output "s" is already defined by node #0 (Add -> "s")`},
		{"output listed twice in a node", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Node[1].Output = []string{"y", "", "", "y"}
		}), ErrMalformed, `output "y" is already defined by node #1`},
		{"output shadows initializer", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Node[1].Output = []string{"w"}
		}), ErrMalformed, `output "w" is already defined by an initializer`},
		{"output shadows input", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Node[1].Output = []string{"x"}
		}), ErrMalformed, `output "x" is already defined by a graph input`},
		{"attribute without type", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Node[0].Attribute = []*onnxpb.AttributeProto{{Name: proto.String("alpha"), F: proto.Float32(1)}}
		}), ErrMalformed, `node #0 (Add -> "s"): attribute "alpha" has no type`},
		{"attribute without name", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Node[0].Attribute = []*onnxpb.AttributeProto{{Type: onnxpb.AttributeProto_INT.Enum()}}
		}), ErrMalformed, "an attribute has no name"},
		{"attribute twice", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Node[0].Attribute = []*onnxpb.AttributeProto{intAttr("axis", 1), intAttr("axis", 2)}
		}), ErrMalformed, `attribute "axis" is given twice`},
		{"attribute reference", modelWith(t, func(g *onnxpb.GraphProto) {
			a := intAttr("axis", 1)
			a.RefAttrName = proto.String("outer")
			g.Node[0].Attribute = []*onnxpb.AttributeProto{a}
		}), ErrMalformed, `refers to function attribute "outer"`},
		{"tensor attribute without tensor", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Node[0].Attribute = []*onnxpb.AttributeProto{tensorAttr("value", nil)}
		}), ErrMalformed, `TENSOR attribute "value" has no tensor`},
		{"bad constant tensor", modelWith(t, func(g *onnxpb.GraphProto) {
			g.Node = append(g.Node, node("Constant", nil, []string{"c"},
				tensorAttr("value", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_COMPLEX64), Dims: []int64{1}})))
		}), ErrUnsupported, `node #2 (Constant -> "c"): attribute "value": data type COMPLEX64 is not supported`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(tc.data)
			if err == nil {
				t.Fatalf("Decode succeeded: %+v", m)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error %q does not wrap %v", err, tc.kind)
			}
			if !strings.HasPrefix(err.Error(), "decode ONNX model: ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want it to contain %q", err, tc.msg)
			}
		})
	}
}

func TestDecodeLimits(t *testing.T) {
	saved := limits
	t.Cleanup(func() { limits = saved })
	limits.nodes, limits.values, limits.attributes, limits.nodeIO = 3, 3, 3, 8

	tests := []struct {
		name string
		edit func(g *onnxpb.GraphProto)
		msg  string
	}{
		{"nodes", func(g *onnxpb.GraphProto) {
			for i := 0; i < 2; i++ {
				g.Node = append(g.Node, node("Relu", []string{"y"}, nil))
			}
		}, "graph has 4 nodes, more than 3"},
		{"inputs", func(g *onnxpb.GraphProto) {
			for _, n := range []string{"a", "b", "c"} {
				g.Input = append(g.Input, tensorValue(n, 1))
			}
		}, "graph has 4 inputs, more than 3"},
		{"attributes", func(g *onnxpb.GraphProto) {
			g.Node[0].Attribute = []*onnxpb.AttributeProto{intAttr("a", 1), intAttr("b", 1)}
			g.Node[1].Attribute = []*onnxpb.AttributeProto{intAttr("c", 1), intAttr("d", 1)}
		}, "more than 3 attributes in total"},
		{"node inputs", func(g *onnxpb.GraphProto) {
			g.Node[1].Input = []string{"s", "", "", "", "", ""}
		}, "more than 8 inputs and outputs in total"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(modelWith(t, tc.edit))
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want ErrTooLarge containing %q", err, tc.msg)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.onnx")
	if err := os.WriteFile(good, marshal(t, modelProto(validGraph())), 0o644); err != nil {
		t.Fatal(err)
	}
	if m, err := Load(good); err != nil || len(m.Graph.Nodes) != 2 {
		t.Fatalf("Load(good) = %v, %v", m, err)
	}

	bad := filepath.Join(dir, "bad.onnx")
	if err := os.WriteFile(bad, []byte("\xff\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(bad)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), bad) {
		t.Errorf("Load(bad) error %v, want ErrMalformed naming the file", err)
	}

	// A sparse file: refused from its size without reading a byte.
	huge := filepath.Join(dir, "huge.onnx")
	if err := os.WriteFile(huge, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, MaxFileSize+1); err != nil {
		t.Fatal(err)
	}
	_, err = Load(huge)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), huge) {
		t.Errorf("Load(huge) error %v, want ErrTooLarge naming the file", err)
	}

	missing := filepath.Join(dir, "missing.onnx")
	_, err = Load(missing)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing) error %v, want ErrNotExist naming the file", err)
	}
}
