package compiler

import "github.com/hecc-dev/hecc/compiler/onnx"

// ONNX element type codes the lowering distinguishes (TensorProto.DataType).
const (
	typeFloat = 1
	typeBool  = 9
	typeInt64 = 7
)

// isIntegerType reports whether an ONNX data type code is an integer type,
// whose arithmetic (Div) differs from the reals CKKS computes on.
func isIntegerType(t int32) bool { return castInteger[int64(t)] }

// elemTypes infers the element type of every value of g, in topological
// order: the type the file declares (graph input or output, value_info,
// initializer) when it does, else the type of a node's first output by its
// operator (most ops keep their first input's type). Other outputs, and
// values of types the rules do not know, are 0, unknown, which the lowering
// treats as a floating-point type.
func elemTypes(g *onnx.Graph, order []*onnx.Node) map[string]int32 {
	types := map[string]int32{}
	for name, t := range g.InitializerTypes {
		types[name] = t
	}
	declare := func(vi onnx.ValueInfo) {
		if vi.ElemType != 0 {
			types[vi.Name] = vi.ElemType
		}
	}
	for _, vi := range g.Inputs {
		declare(vi)
	}
	for _, vi := range g.ValueInfo {
		declare(vi)
	}
	for _, vi := range g.Outputs {
		declare(vi)
	}
	for _, n := range order {
		if len(n.Outputs) == 0 || n.Outputs[0] == "" {
			continue
		}
		if _, declared := types[n.Outputs[0]]; !declared {
			types[n.Outputs[0]] = nodeOutputType(n, types)
		}
	}
	return types
}

// nodeOutputType is the type of n's first output given its inputs' types.
func nodeOutputType(n *onnx.Node, types map[string]int32) int32 {
	input := func(i int) int32 {
		if i < len(n.Inputs) {
			return types[n.Inputs[i]]
		}
		return 0
	}
	switch n.OpType {
	case "Cast":
		to, _ := n.AttrInt("to", 0)
		return int32(to)
	case "CastLike":
		return input(1)
	case "Shape", "Size", "ArgMax", "ArgMin", "NonZero":
		return typeInt64
	case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf":
		return typeBool
	case "Constant":
		for name, a := range n.Attrs {
			switch name {
			case "value":
				return a.TType
			case "value_int", "value_ints":
				return typeInt64
			}
		}
		return typeFloat
	case "ConstantOfShape":
		if a := n.Attrs["value"]; a != nil {
			return a.TType
		}
		return typeFloat
	case "EyeLike":
		if dt, _ := n.AttrInt("dtype", 0); dt != 0 {
			return int32(dt)
		}
	case "Where":
		return input(1)
	}
	return input(0)
}
