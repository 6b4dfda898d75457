package compiler

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/hecc-dev/hecc/compiler/onnx"
)

// lowerFunc lowers one ONNX node. ins[i] is nil for an omitted optional
// input; the result has one entry per node output (nil where unsupported).
type lowerFunc func(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error)

// opEntry is one implementation of an operator, valid from opset Since
// until the next entry of the same Op. Each op family lists its entries
// in one table (convOps, shapeOps …); an op whose semantics changed across
// opsets has one entry per version that matters, and a lowering whose
// behaviour differs between its versions reads the matched Since from
// lowerer.since, never the model's opset.
type opEntry struct {
	Op    string
	Since int64
	Fn    lowerFunc
	// Notes states attributes and restrictions, for docs/operators.md.
	Notes string
}

// opTables are the op families' tables: the one place operators are
// registered.
var opTables = [][]opEntry{
	elementwiseOps, compositeOps, constOps, convOps, matmulOps, poolOps, reduceOps,
	shapeOps, selectOps, resizeOps, gridSampleOps, fourierOps, einsumOps, quantOps,
}

// maxOpset is the newest ai.onnx opset whose changes to the registered
// operators hecc follows (the opset-18 versions of the Reduce family, Split,
// Pad, Resize and ScatterElements are handled; Debian's ONNX test data stops
// at opset 17). A newer model still compiles, each op lowered by its latest
// entry, with a warning.
const maxOpset = 18

// registry maps an ONNX op type to its entries, sorted by Since.
var registry = newRegistry(opTables)

func newRegistry(tables [][]opEntry) map[string][]opEntry {
	reg := map[string][]opEntry{}
	for _, table := range tables {
		for _, e := range table {
			reg[e.Op] = append(reg[e.Op], e)
		}
	}
	for _, entries := range reg {
		slices.SortStableFunc(entries, func(a, b opEntry) int { return cmp.Compare(a.Since, b.Since) })
	}
	return reg
}

// hints say why hecc refuses an operator it has no lowering for, and name
// the fix where there is one; docs/operators.md lists them.
var hints = map[string]string{
	"Hardmax":                   "a one-hot of the maximum is not continuous; a trailing ArgMax is supported",
	"TopK":                      "sorting is not a polynomial and its output depends on the values",
	"NonZero":                   "the output's shape depends on the values",
	"Unique":                    "the output's shape depends on the values",
	"NonMaxSuppression":         "the output's shape depends on the values",
	"LayerNormalization":        "divides by the input's standard deviation: no inverse square root under encryption (use BatchNormalization)",
	"InstanceNormalization":     "divides by the input's standard deviation: no inverse square root under encryption (use BatchNormalization)",
	"MeanVarianceNormalization": "divides by the input's standard deviation: no inverse square root under encryption (use BatchNormalization)",
	"LRN":                       "divides by a power of the encrypted input (no polynomial evaluation of it is implemented)",
	"ReduceL2":                  "needs a square root of the encrypted input: use ReduceSumSquare",
	"ReduceLogSum":              "needs a logarithm of the encrypted input (no polynomial approximation implemented)",
	"ReduceLogSumExp":           "needs exp and log of the encrypted input (no polynomial approximation implemented)",
	"Elu":                       "needs exp of the encrypted input (no polynomial approximation implemented): use Relu, LeakyRelu or Softplus",
	"Selu":                      "needs exp of the encrypted input (no polynomial approximation implemented): use Relu, LeakyRelu or Softplus",
	"Celu":                      "needs exp of the encrypted input (no polynomial approximation implemented): use Relu, LeakyRelu or Softplus",
	"Softsign":                  "needs a division by the encrypted input (no polynomial approximation implemented): use Tanh",
	"ThresholdedRelu":           "jumps at alpha: no polynomial approximates a discontinuity; use Relu",
	"Erf":                       "no polynomial approximation of erf is implemented (GELU: use its tanh or sigmoid form)",
	"Sin":                       "no polynomial approximation of sin is implemented",
	"Cos":                       "no polynomial approximation of cos is implemented",
	"Tan":                       "no polynomial approximation of tan is implemented",
	"Asin":                      "no polynomial approximation of asin is implemented",
	"Acos":                      "no polynomial approximation of acos is implemented",
	"Atan":                      "no polynomial approximation of atan is implemented",
	"Sinh":                      "no polynomial approximation of sinh is implemented",
	"Cosh":                      "no polynomial approximation of cosh is implemented",
	"Asinh":                     "no polynomial approximation of asinh is implemented",
	"Acosh":                     "no polynomial approximation of acosh is implemented",
	"Atanh":                     "no polynomial approximation of atanh is implemented",
	"IsNaN":                     "a test of the values, not continuous",
	"IsInf":                     "a test of the values, not continuous",
	"BitShift":                  "integer bit manipulation has no meaning on CKKS's approximate reals",
	"BitwiseAnd":                "integer bit manipulation has no meaning on CKKS's approximate reals",
	"BitwiseOr":                 "integer bit manipulation has no meaning on CKKS's approximate reals",
	"BitwiseXor":                "integer bit manipulation has no meaning on CKKS's approximate reals",
	"BitwiseNot":                "integer bit manipulation has no meaning on CKKS's approximate reals",
	"QuantizeLinear":            "rounds the encrypted input, which is not continuous: compile the float model",
	"DynamicQuantizeLinear":     "rounds the encrypted input with a scale computed from its values: compile the float model",
	"QLinearConv":               "requantizes (rounds) its result: compile the float model",
	"QLinearMatMul":             "requantizes (rounds) its result: compile the float model",
	"SoftmaxCrossEntropyLoss":   "a training loss: export the model for inference",
	"NegativeLogLikelihoodLoss": "a training loss: export the model for inference",
	"Bernoulli":                 "random sampling has no place in a deterministic circuit",
	"RandomUniformLike":         "random sampling has no place in a deterministic circuit",
	"RandomNormalLike":          "random sampling has no place in a deterministic circuit",
	"RandomUniform":             "random sampling has no place in a deterministic circuit",
	"RandomNormal":              "random sampling has no place in a deterministic circuit",
	"Multinomial":               "random sampling has no place in a deterministic circuit",
	"If":                        "control flow on values: a circuit evaluates one fixed dataflow",
	"Loop":                      "control flow on values: a circuit evaluates one fixed dataflow",
	"Scan":                      "control flow: a circuit evaluates one fixed dataflow (unroll the loop when exporting)",
	"OneHot":                    "builds a tensor from index values: encrypted indices cannot address memory",
	"TfIdfVectorizer":           "works on integer tokens by lookup: encrypted tokens cannot address memory",
	"StringNormalizer":          "strings cannot be encrypted",
	"CastLike":                  "hecc does not track element types: use Cast",
	"RNN":                       "recurrent layers are not implemented (every time step would chain approximated sigmoid/tanh and encrypted products)",
	"GRU":                       "recurrent layers are not implemented (every time step would chain approximated sigmoid/tanh and encrypted products)",
	"LSTM":                      "recurrent layers are not implemented (every time step would chain approximated sigmoid/tanh and encrypted products)",
	"RoiAlign":                  "not implemented (with constant boxes and mode avg it would be an affine map)",
	"MelWeightMatrix":           "not implemented (it builds a constant from sizes)",
	"HannWindow":                "not implemented (it builds a constant from a size)",
	"HammingWindow":             "not implemented (it builds a constant from a size)",
	"BlackmanWindow":            "not implemented (it builds a constant from a size)",
}

// lookup finds the entry of op for a model's opset: the latest whose Since
// is at or below it, as ONNX resolves operator versions.
func lookup(op string, opset int64) (opEntry, error) {
	entries, ok := registry[op]
	if !ok {
		hint := ""
		if h, ok := hints[op]; ok {
			hint = h + "; "
		}
		encrypted, constant := opsByOperand()
		return opEntry{}, fmt.Errorf("operator not supported; %ssupported operators: %s; on constants only: %s",
			hint, strings.Join(encrypted, ", "), strings.Join(constant, ", "))
	}
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Since <= opset {
			return entries[i], nil
		}
	}
	return opEntry{}, fmt.Errorf("operator supported from opset %d only", entries[0].Since)
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

// opsByOperand splits SupportedOps into the operators that take an
// encrypted operand and those whose every entry's notes say they are
// folded on constants only.
func opsByOperand() (encrypted, constant []string) {
	for _, op := range SupportedOps() {
		constOnly := true
		for _, e := range registry[op] {
			constOnly = constOnly && strings.HasPrefix(e.Notes, constNotes)
		}
		if constOnly {
			constant = append(constant, op)
		} else {
			encrypted = append(encrypted, op)
		}
	}
	return encrypted, constant
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
		for _, e := range registry[op] {
			info.Since = append(info.Since, e.Since)
			info.Notes = append(info.Notes, e.Notes)
		}
		out = append(out, info)
	}
	return out
}
