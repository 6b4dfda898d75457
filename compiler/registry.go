package compiler

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hecc-dev/hecc/compiler/onnx"
)

// lowerFunc lowers one ONNX node. ins[i] is nil for an omitted optional
// input; the result has one entry per node output (nil where unsupported).
type lowerFunc func(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error)

// lowering is one implementation of an operator, valid from opset Since
// until the next implementation's Since.
type lowering struct {
	Since int64
	Fn    lowerFunc
	// Notes states attributes and restrictions, for docs/operators.md.
	Notes string
}

// registry maps an ONNX op type to its implementations, sorted by Since.
var registry = map[string][]lowering{}

// register adds implementations of op; an op whose semantics changed across
// opsets registers one per version that matters.
func register(op string, impls ...lowering) {
	registry[op] = append(registry[op], impls...)
	sort.Slice(registry[op], func(i, j int) bool { return registry[op][i].Since < registry[op][j].Since })
}

// hints name the fix for operators that have no faithful CKKS meaning.
var hints = map[string]string{
	"MaxPool":       "max is not a polynomial: replace MaxPool by AveragePool and retrain",
	"GlobalMaxPool": "max is not a polynomial: replace GlobalMaxPool by GlobalAveragePool and retrain",
	"ReduceMax":     "max is not a polynomial: use ReduceMean",
}

// lookup finds the implementation of op for a model's opset.
func lookup(op string, opset int64) (lowerFunc, error) {
	impls, ok := registry[op]
	if !ok {
		hint := ""
		if h, ok := hints[op]; ok {
			hint = h + "; "
		}
		return nil, fmt.Errorf("operator not supported; %ssupported operators: %s", hint, strings.Join(SupportedOps(), ", "))
	}
	for i := len(impls) - 1; i >= 0; i-- {
		if impls[i].Since <= opset {
			return impls[i].Fn, nil
		}
	}
	return nil, fmt.Errorf("operator supported from opset %d only", impls[0].Since)
}

// SupportedOps lists the operators hecc lowers, sorted.
func SupportedOps() []string {
	ops := make([]string, 0, len(registry))
	for op := range registry {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	return ops
}

// OpInfo describes a registered operator for documentation.
type OpInfo struct {
	Op    string
	Since []int64
	Notes []string
}

// Operators describes every registered operator, sorted by name.
func Operators() []OpInfo {
	var out []OpInfo
	for _, op := range SupportedOps() {
		info := OpInfo{Op: op}
		for _, impl := range registry[op] {
			info.Since = append(info.Since, impl.Since)
			info.Notes = append(info.Notes, impl.Notes)
		}
		out = append(out, info)
	}
	return out
}
