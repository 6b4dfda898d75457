// Package onnx decodes a serialized ONNX model into plain Go structs and
// validates everything that could make later stages misbehave on a hostile
// file: malformed structure, unsupported tensor storage, and sizes. Decode
// does not check that operators are supported or that the graph is acyclic:
// the lowering does that with the op semantics at hand, calling
// Graph.TopoSort for the order.
package onnx

import (
	"cmp"
	"fmt"
	"io"
	"os"

	"github.com/hecc-dev/hecc/compiler/onnxpb"
	"github.com/hecc-dev/hecc/ir"
	"google.golang.org/protobuf/proto"
)

// MaxFileSize is the largest file Load reads.
const MaxFileSize = 1 << 30

// limits bound the structure of a model. They are far above any model this
// compiler can turn into a circuit, and keep the decoder's work linear in a
// size we choose rather than one a hostile file chooses. A variable only so
// tests can lower them.
var limits = struct {
	nodes      int // nodes in the main graph
	values     int // entries in each of input, output, initializer, value_info, opset_import
	attributes int // attributes over all nodes
	nodeIO     int // node inputs plus outputs over all nodes
}{
	nodes:      1_000_000,
	values:     1_000_000,
	attributes: 1_000_000,
	nodeIO:     4_000_000,
}

// Model is a decoded ONNX model.
type Model struct {
	IRVersion       int64
	Opsets          map[string]int64 // domain ("" = ai.onnx) -> version
	ProducerName    string
	ProducerVersion string
	Graph           *Graph
}

// Graph is the model's main graph.
type Graph struct {
	Name         string
	Nodes        []*Node     // file order, not necessarily topological
	Inputs       []ValueInfo // graph inputs that are not initializers
	Outputs      []ValueInfo
	Initializers map[string]*ir.Tensor // by name, including those also listed as inputs
	// InitializerTypes holds each initializer's ONNX data type code (the
	// tensors themselves hold float64 values).
	InitializerTypes map[string]int32
	ValueInfo        map[string]ValueInfo // intermediate value_info, if any
}

// Node is one operator application.
type Node struct {
	Name, OpType, Domain string   // Domain "" is ai.onnx (also when the file says "ai.onnx")
	Inputs, Outputs      []string // "" marks an omitted optional input or output
	Attrs                map[string]*Attribute

	index int // position in the file, for Label
}

// ValueInfo describes a tensor value. ElemType is an ONNX data type code
// (an onnxpb.TensorProto_DataType; 0 if the file gives no type); Dims is
// meaningful when HasShape.
type ValueInfo struct {
	Name     string
	ElemType int32
	Dims     []Dim
	HasShape bool
}

// Dim is one dimension of a ValueInfo shape: a non-negative Value, or a
// symbolic one with Param set. A dimension the file leaves entirely unknown
// has Param "?".
type Dim struct {
	Value int64
	Param string
}

// Label names a node for error messages: `"Conv_3" (Conv)`, or for an
// unnamed node its position and first output: `#3 (Conv -> "y")`.
func (n *Node) Label() string {
	if n.Name != "" {
		return fmt.Sprintf("%q (%s)", n.Name, n.OpType)
	}
	if len(n.Outputs) > 0 {
		return fmt.Sprintf("#%d (%s -> %q)", n.index, n.OpType, n.Outputs[0])
	}
	return fmt.Sprintf("#%d (%s)", n.index, n.OpType)
}

// Load reads an ONNX model file and decodes it. Files larger than
// MaxFileSize are refused before reading.
func Load(path string) (*Model, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ONNX model: %w", err)
	}
	m, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("read ONNX model %s: %w", path, err)
	}
	return m, nil
}

// readFile reads at most MaxFileSize bytes, checking the size first for
// regular files and while reading for anything else (pipes, devices).
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxFileSize {
		return nil, errorf(ErrTooLarge, "%s is %d bytes, more than the %d-byte limit", path, st.Size(), MaxFileSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, errorf(ErrTooLarge, "%s is more than the %d-byte limit", path, MaxFileSize)
	}
	return data, nil
}

// Decode parses and validates a serialized ModelProto.
func Decode(data []byte) (*Model, error) {
	m, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("decode ONNX model: %w", err)
	}
	return m, nil
}

func decode(data []byte) (*Model, error) {
	if len(data) == 0 {
		return nil, errorf(ErrMalformed, "not an ONNX model: the input is empty")
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return nil, errorf(ErrMalformed, "not an ONNX model: %w", err)
	}
	if mp.Graph == nil {
		return nil, errorf(ErrMalformed, "not an ONNX model: no graph")
	}
	m := &Model{
		IRVersion:       mp.GetIrVersion(),
		Opsets:          make(map[string]int64, len(mp.OpsetImport)),
		ProducerName:    mp.GetProducerName(),
		ProducerVersion: mp.GetProducerVersion(),
	}
	if len(mp.OpsetImport) > limits.values {
		return nil, errorf(ErrTooLarge, "%d opset imports, more than %d", len(mp.OpsetImport), limits.values)
	}
	for _, op := range mp.OpsetImport {
		d := normalizeDomain(op.GetDomain())
		if _, dup := m.Opsets[d]; dup {
			return nil, errorf(ErrMalformed, "opset for domain %q is imported twice", op.GetDomain())
		}
		m.Opsets[d] = op.GetVersion()
	}
	g, err := decodeGraph(mp.Graph)
	if err != nil {
		return nil, err
	}
	m.Graph = g
	return m, nil
}

// normalizeDomain maps the two spellings of the default domain to "".
func normalizeDomain(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}

func decodeGraph(gp *onnxpb.GraphProto) (*Graph, error) {
	for _, c := range []struct {
		what string
		n    int
	}{
		{"inputs", len(gp.Input)}, {"outputs", len(gp.Output)},
		{"initializers", len(gp.Initializer)}, {"value_info entries", len(gp.ValueInfo)},
	} {
		if c.n > limits.values {
			return nil, errorf(ErrTooLarge, "graph has %d %s, more than %d", c.n, c.what, limits.values)
		}
	}
	if len(gp.Node) > limits.nodes {
		return nil, errorf(ErrTooLarge, "graph has %d nodes, more than %d", len(gp.Node), limits.nodes)
	}
	if len(gp.SparseInitializer) > 0 {
		name := gp.SparseInitializer[0].GetValues().GetName()
		return nil, errorf(ErrUnsupported, "sparse initializer %q: sparse initializers are not supported", name)
	}

	g := &Graph{
		Name:             gp.GetName(),
		Initializers:     make(map[string]*ir.Tensor, len(gp.Initializer)),
		InitializerTypes: make(map[string]int32, len(gp.Initializer)),
		ValueInfo:        make(map[string]ValueInfo, len(gp.ValueInfo)),
	}
	// defined records every value name with what defines it, to refuse
	// two definitions of one name.
	defined := make(map[string]string, len(gp.Initializer)+len(gp.Input)+len(gp.Node))
	budget := ir.MaxElements
	for _, tp := range gp.Initializer {
		name := tp.GetName()
		if name == "" {
			return nil, errorf(ErrMalformed, "an initializer has no name")
		}
		if _, dup := g.Initializers[name]; dup {
			return nil, errorf(ErrMalformed, "initializer %q is defined twice", name)
		}
		t, err := convertTensor(tp, &budget)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", name, err)
		}
		g.Initializers[name] = t
		g.InitializerTypes[name] = tp.GetDataType()
		defined[name] = "an initializer"
	}
	seenInput := make(map[string]bool, len(gp.Input))
	for _, vp := range gp.Input {
		vi, err := decodeValueInfo(vp)
		if err != nil {
			return nil, fmt.Errorf("graph input: %w", err)
		}
		if seenInput[vi.Name] {
			return nil, errorf(ErrMalformed, "graph input %q is listed twice", vi.Name)
		}
		seenInput[vi.Name] = true
		// Before IR version 4 every initializer was also listed as an input.
		if _, isInit := g.Initializers[vi.Name]; isInit {
			continue
		}
		g.Inputs = append(g.Inputs, vi)
		defined[vi.Name] = "a graph input"
	}
	for _, vp := range gp.Output {
		vi, err := decodeValueInfo(vp)
		if err != nil {
			return nil, fmt.Errorf("graph output: %w", err)
		}
		g.Outputs = append(g.Outputs, vi)
	}
	for _, vp := range gp.ValueInfo {
		vi, err := decodeValueInfo(vp)
		if err != nil {
			return nil, fmt.Errorf("value_info: %w", err)
		}
		if _, dup := g.ValueInfo[vi.Name]; dup {
			return nil, errorf(ErrMalformed, "value_info %q is listed twice", vi.Name)
		}
		g.ValueInfo[vi.Name] = vi
	}

	g.Nodes = make([]*Node, len(gp.Node))
	attrs, nodeIO := 0, 0
	for i, np := range gp.Node {
		attrs += len(np.Attribute)
		nodeIO += len(np.Input) + len(np.Output)
		if attrs > limits.attributes {
			return nil, errorf(ErrTooLarge, "nodes have more than %d attributes in total", limits.attributes)
		}
		if nodeIO > limits.nodeIO {
			return nil, errorf(ErrTooLarge, "nodes have more than %d inputs and outputs in total", limits.nodeIO)
		}
		n, err := decodeNode(i, np, &budget)
		if err != nil {
			return nil, err
		}
		for _, out := range n.Outputs {
			if out == "" {
				continue
			}
			if prev, dup := defined[out]; dup {
				return nil, errorf(ErrMalformed, "node %s: output %q is already defined by %s", n.Label(), out, prev)
			}
			defined[out] = "node " + n.Label()
		}
		g.Nodes[i] = n
	}
	return g, nil
}

func decodeValueInfo(vp *onnxpb.ValueInfoProto) (ValueInfo, error) {
	vi := ValueInfo{Name: vp.GetName()}
	if vi.Name == "" {
		return vi, errorf(ErrMalformed, "a value has no name")
	}
	var kind string
	switch t := vp.GetType().GetValue().(type) {
	case nil: // untyped: allowed for intermediate values
		return vi, nil
	case *onnxpb.TypeProto_TensorType:
		vi.ElemType = t.TensorType.GetElemType()
		shape := t.TensorType.GetShape()
		if shape == nil {
			return vi, nil
		}
		vi.HasShape = true
		vi.Dims = make([]Dim, len(shape.Dim))
		for i, d := range shape.Dim {
			switch v := d.GetValue().(type) {
			case *onnxpb.TensorShapeProto_Dimension_DimValue:
				if v.DimValue < 0 {
					return vi, errorf(ErrMalformed, "value %q: dimension %d is %d", vi.Name, i, v.DimValue)
				}
				vi.Dims[i].Value = v.DimValue
			case *onnxpb.TensorShapeProto_Dimension_DimParam:
				vi.Dims[i].Param = cmp.Or(v.DimParam, "?")
			default:
				vi.Dims[i].Param = "?"
			}
		}
		return vi, nil
	case *onnxpb.TypeProto_SequenceType:
		kind = "sequence"
	case *onnxpb.TypeProto_MapType:
		kind = "map"
	case *onnxpb.TypeProto_OptionalType:
		kind = "optional"
	case *onnxpb.TypeProto_SparseTensorType:
		kind = "sparse tensor"
	}
	return vi, errorf(ErrUnsupported, "value %q has %s type; only tensors are supported", vi.Name, kind)
}
