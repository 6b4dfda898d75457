package onnx

import (
	"fmt"

	"github.com/hecc-dev/hecc/compiler/onnxpb"
	"github.com/hecc-dev/hecc/ir"
)

// AttrType is an attribute's type; the values are ONNX's
// AttributeProto.AttributeType codes.
type AttrType int

// Attribute types. Only the value of FloatAttr … StringsAttr and TensorAttr
// is decoded; the others record the type alone (graphs, sparse tensors and
// type protos are for control flow and ops this compiler does not lower).
const (
	FloatAttr         = AttrType(onnxpb.AttributeProto_FLOAT)
	IntAttr           = AttrType(onnxpb.AttributeProto_INT)
	StringAttr        = AttrType(onnxpb.AttributeProto_STRING)
	TensorAttr        = AttrType(onnxpb.AttributeProto_TENSOR)
	GraphAttr         = AttrType(onnxpb.AttributeProto_GRAPH)
	SparseTensorAttr  = AttrType(onnxpb.AttributeProto_SPARSE_TENSOR)
	TypeProtoAttr     = AttrType(onnxpb.AttributeProto_TYPE_PROTO)
	FloatsAttr        = AttrType(onnxpb.AttributeProto_FLOATS)
	IntsAttr          = AttrType(onnxpb.AttributeProto_INTS)
	StringsAttr       = AttrType(onnxpb.AttributeProto_STRINGS)
	TensorsAttr       = AttrType(onnxpb.AttributeProto_TENSORS)
	GraphsAttr        = AttrType(onnxpb.AttributeProto_GRAPHS)
	SparseTensorsAttr = AttrType(onnxpb.AttributeProto_SPARSE_TENSORS)
	TypeProtosAttr    = AttrType(onnxpb.AttributeProto_TYPE_PROTOS)
)

// String returns the ONNX name of the type, e.g. "INTS".
func (t AttrType) String() string {
	return onnxpb.AttributeProto_AttributeType(t).String()
}

// Attribute is a decoded node attribute; only the field for Type is set.
type Attribute struct {
	Name    string
	Type    AttrType
	F       float64
	I       int64
	S       string
	T       *ir.Tensor
	TType   int32 // T's ONNX data type code
	Floats  []float64
	Ints    []int64
	Strings []string
}

func decodeNode(index int, np *onnxpb.NodeProto, budget *int) (*Node, error) {
	n := &Node{
		Name:    np.GetName(),
		OpType:  np.GetOpType(),
		Domain:  normalizeDomain(np.GetDomain()),
		Inputs:  np.Input,
		Outputs: np.Output,
		index:   index,
	}
	if n.OpType == "" {
		return nil, errorf(ErrMalformed, "node %s has no op_type", n.Label())
	}
	if len(np.Attribute) > 0 {
		n.Attrs = make(map[string]*Attribute, len(np.Attribute))
	}
	for _, ap := range np.Attribute {
		a, err := decodeAttribute(ap, budget)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Label(), err)
		}
		if _, dup := n.Attrs[a.Name]; dup {
			return nil, errorf(ErrMalformed, "node %s: attribute %q is given twice", n.Label(), a.Name)
		}
		n.Attrs[a.Name] = a
	}
	return n, nil
}

func decodeAttribute(ap *onnxpb.AttributeProto, budget *int) (*Attribute, error) {
	a := &Attribute{Name: ap.GetName(), Type: AttrType(ap.GetType())}
	if a.Name == "" {
		return nil, errorf(ErrMalformed, "an attribute has no name")
	}
	if ap.GetRefAttrName() != "" {
		return nil, errorf(ErrMalformed, "attribute %q refers to function attribute %q outside a function", a.Name, ap.GetRefAttrName())
	}
	switch a.Type {
	case FloatAttr:
		a.F = float64(ap.GetF())
	case IntAttr:
		a.I = ap.GetI()
	case StringAttr:
		a.S = string(ap.GetS())
	case TensorAttr:
		if ap.T == nil {
			return nil, errorf(ErrMalformed, "TENSOR attribute %q has no tensor", a.Name)
		}
		t, err := convertTensor(ap.T, budget)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", a.Name, err)
		}
		a.T, a.TType = t, ap.T.GetDataType()
	case FloatsAttr:
		a.Floats = make([]float64, len(ap.Floats))
		for i, f := range ap.Floats {
			a.Floats[i] = float64(f)
		}
	case IntsAttr:
		a.Ints = ap.Ints
	case StringsAttr:
		a.Strings = make([]string, len(ap.Strings))
		for i, s := range ap.Strings {
			a.Strings[i] = string(s)
		}
	case GraphAttr, SparseTensorAttr, TypeProtoAttr, TensorsAttr, GraphsAttr, SparseTensorsAttr, TypeProtosAttr:
	default:
		// UNDEFINED: only IR version 1 models omit the type, and guessing
		// it from whichever field is set would accept ambiguous attributes.
		return nil, errorf(ErrMalformed, "attribute %q has no type", a.Name)
	}
	return a, nil
}

// attr returns the named attribute, nil if absent, or an error if it has
// another type than want.
func (n *Node) attr(name string, want AttrType) (*Attribute, error) {
	a := n.Attrs[name]
	if a != nil && a.Type != want {
		return nil, errorf(ErrMalformed, "node %s: attribute %q is %s, want %s", n.Label(), name, a.Type, want)
	}
	return a, nil
}

// AttrInt returns INT attribute name, or def if the node does not have it.
func (n *Node) AttrInt(name string, def int64) (int64, error) {
	a, err := n.attr(name, IntAttr)
	if err != nil || a == nil {
		return def, err
	}
	return a.I, nil
}

// AttrFloat returns FLOAT attribute name, or def if the node does not have it.
func (n *Node) AttrFloat(name string, def float64) (float64, error) {
	a, err := n.attr(name, FloatAttr)
	if err != nil || a == nil {
		return def, err
	}
	return a.F, nil
}

// AttrString returns STRING attribute name, or def if the node does not have it.
func (n *Node) AttrString(name, def string) (string, error) {
	a, err := n.attr(name, StringAttr)
	if err != nil || a == nil {
		return def, err
	}
	return a.S, nil
}

// AttrInts returns INTS attribute name, or def if the node does not have it.
func (n *Node) AttrInts(name string, def []int64) ([]int64, error) {
	a, err := n.attr(name, IntsAttr)
	if err != nil || a == nil {
		return def, err
	}
	return a.Ints, nil
}

// AttrFloats returns FLOATS attribute name, or def if the node does not have it.
func (n *Node) AttrFloats(name string, def []float64) ([]float64, error) {
	a, err := n.attr(name, FloatsAttr)
	if err != nil || a == nil {
		return def, err
	}
	return a.Floats, nil
}

// AttrTensor returns TENSOR attribute name, or nil if the node does not have
// it (tensor attributes have no useful default; callers decide if it is
// required).
func (n *Node) AttrTensor(name string) (*ir.Tensor, error) {
	a, err := n.attr(name, TensorAttr)
	if err != nil || a == nil {
		return nil, err
	}
	return a.T, nil
}
