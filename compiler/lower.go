// Package compiler turns an ONNX model into a hecc circuit: it decodes the
// protobuf (package onnx), infers static shapes, lowers every operator into
// the HE IR through one registry keyed by op type and opset, runs the pass
// pipeline, chooses parameters and plans the evaluation (package plan).
//
// Lowering evaluates eagerly whatever does not depend on the encrypted
// input: a value is either a constant tensor or an IR node. Shape-computing
// chains (Shape → Gather → Unsqueeze → Concat → Reshape), Constant nodes and
// arithmetic on weights are therefore folded while lowering, because the IR
// needs static shapes; what reaches the IR is only the encrypted dataflow,
// plus constant operands of Add and Mul that the fold-constants pass turns
// into affine maps. Reshape-like ops on an encrypted tensor cost nothing:
// a value is a view (node, shape) and the IR computes on flattened tensors.
package compiler

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
)

// Sentinel errors of lowering.
var (
	// ErrUnsupportedOp reports an operator, opset or domain hecc cannot lower.
	ErrUnsupportedOp = errors.New("unsupported operator")
	// ErrUnsupported reports a supported operator used in a way hecc cannot
	// evaluate (an attribute value, an encrypted operand where a constant is
	// needed, …).
	ErrUnsupported = errors.New("unsupported use of an operator")
	// ErrModel reports a model that is inconsistent (shapes that disagree,
	// a missing input, a cycle …).
	ErrModel = errors.New("invalid model")
)

// value is an ONNX tensor during lowering: a constant, or a view of an
// encrypted IR node with its own shape (a reshape changes only the view).
type value struct {
	shape []int
	c     *ir.Tensor
	n     *ir.Node
	// post is monotone post-processing (softmax …) pending on an encrypted
	// value: legal only if the value is a graph output, where decryption
	// applies it.
	post string
}

func (v *value) isConst() bool { return v.c != nil }
func (v *value) size() int     { return ir.NumElements(v.shape) }

func constValue(t *ir.Tensor) *value { return &value{shape: t.Shape, c: t} }

// lowerer holds the state of one lowering.
type lowerer struct {
	g      *ir.Graph
	opset  int64 // the model's, for messages: lowerings branch on since
	vals   map[string]*value
	node   *onnx.Node // the node being lowered, for errors and origins
	seen   map[string]int
	inputs []*ir.Node
	// since is the Since of the registry entry matched for node: the
	// registry alone picks the version, and a lowering whose behaviour
	// differs between its versions reads it.
	since int64
	// types holds the element type of each value (elemTypes).
	types map[string]int32
	// maxLayers are the maxima lowered as trees of ReLUs.
	maxLayers []maxLayer
}

// LowerOptions control lowering.
type LowerOptions struct {
	// Binds freezes graph inputs to constants that stay with the server
	// (weights passed as inputs, as many ONNX tests do).
	Binds map[string]*ir.Tensor
}

// Lowered is the result of lowering.
type Lowered struct {
	Graph *ir.Graph
	// OpsSeen counts the ONNX operators of the model by type.
	OpsSeen map[string]int
	Opset   int64
	// Warnings are for the compile report.
	Warnings []string
	// MaxLayers are the ONNX nodes lowered as trees of approximated ReLUs
	// (MaxPool, ReduceMax …), with their number of ReLU levels.
	MaxLayers []MaxLayer
}

// MaxLayer is an ONNX node lowered as a tree of approximated ReLUs.
type MaxLayer struct {
	Origin     string // the IR nodes' origin
	ReLULevels int
}

// Lower converts a decoded model into an IR graph, before passes.
func Lower(m *onnx.Model, opts LowerOptions) (_ *Lowered, err error) {
	defer func() {
		if err != nil {
			err = oneLine(err)
		}
	}()
	if m.Graph == nil {
		return nil, fmt.Errorf("%w: the model has no graph", ErrModel)
	}
	opset, ok := m.Opsets[""]
	if !ok {
		return nil, fmt.Errorf("%w: the model imports no ai.onnx opset", ErrModel)
	}
	l := &lowerer{g: &ir.Graph{}, opset: opset, vals: map[string]*value{}, seen: map[string]int{}}
	for name, t := range m.Graph.Initializers {
		l.vals[name] = constValue(t)
	}
	for name, t := range opts.Binds {
		if err := l.bind(m.Graph, name, t); err != nil {
			return nil, err
		}
	}
	for _, in := range m.Graph.Inputs {
		if _, bound := l.vals[in.Name]; bound {
			continue
		}
		shape, err := inputShape(in)
		if err != nil {
			return nil, err
		}
		n := l.g.Add(&ir.Node{Op: ir.OpInput, Name: in.Name, Shape: shape})
		l.inputs = append(l.inputs, n)
		l.vals[in.Name] = &value{shape: shape, n: n}
	}
	if len(l.inputs) == 0 {
		return nil, fmt.Errorf("%w: every graph input is bound to a constant: nothing is left to encrypt", ErrModel)
	}
	if len(l.inputs) > 1 {
		var names []string
		for _, n := range l.inputs {
			names = append(names, fmt.Sprintf("%q", n.Name))
		}
		return nil, fmt.Errorf("%w: the model has %d inputs (%s); hecc encrypts one: bind the others to constants with --bind NAME=FILE",
			ErrUnsupported, len(names), strings.Join(names, ", "))
	}
	order, err := m.Graph.TopoSort()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModel, err)
	}
	l.types = elemTypes(m.Graph, order)
	for _, n := range order {
		l.seen[n.OpType]++
		if err := l.lowerNode(n); err != nil {
			return nil, err
		}
	}
	if len(m.Graph.Outputs) == 0 {
		return nil, fmt.Errorf("%w: the graph has no output", ErrModel)
	}
	named := map[string]bool{}
	for _, out := range m.Graph.Outputs {
		if named[out.Name] {
			return nil, fmt.Errorf("%w: graph output %q is listed twice", ErrModel, out.Name)
		}
		named[out.Name] = true
		v, ok := l.vals[out.Name]
		if !ok {
			return nil, fmt.Errorf("%w: graph output %q is not computed by any node", ErrModel, out.Name)
		}
		if v.isConst() {
			return nil, fmt.Errorf("%w: graph output %q does not depend on the encrypted input", ErrUnsupported, out.Name)
		}
		o := &ir.Node{Op: ir.OpOutput, Name: out.Name, Inputs: []*ir.Node{v.n}, Shape: irShape(v.shape)}
		o.Post = v.post
		l.g.Add(o)
	}
	l.g.Prune()
	if err := checkGraphFinite(l.g); err != nil {
		return nil, err
	}
	if err := ir.Verify(l.g); err != nil {
		return nil, fmt.Errorf("lowering produced an invalid graph: %w", err)
	}
	low := &Lowered{Graph: l.g, OpsSeen: l.seen, Opset: opset}
	for _, m := range l.maxLayers {
		// A pooling one axis at a time is one layer of several trees.
		if k := len(low.MaxLayers) - 1; k >= 0 && low.MaxLayers[k].Origin == m.origin {
			low.MaxLayers[k].ReLULevels += m.levels
		} else {
			low.MaxLayers = append(low.MaxLayers, MaxLayer{Origin: m.origin, ReLULevels: m.levels})
		}
	}
	if opset > maxOpset {
		low.Warnings = append(low.Warnings, fmt.Sprintf("the model imports ai.onnx opset %d, newer than opset %d, the newest hecc knows: "+
			"each operator was lowered as its latest version hecc knows, and changes a newer opset made to it are not checked", opset, maxOpset))
	}
	return low, nil
}

// checkGraphFinite refuses NaN and infinite weights, constants and activation
// parameters: the file may hold them, and they have no encrypted meaning.
// Constant folding may use them (an infinite Clip bound, a -Inf mask) as
// long as what reaches the circuit is finite.
func checkGraphFinite(g *ir.Graph) error {
	finite := func(v []float64) bool {
		return !slices.ContainsFunc(v, func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) })
	}
	for _, n := range g.Nodes {
		ok := true
		switch {
		case n.Linear != nil:
			ok = finite(n.Linear.Vals) && finite(n.Linear.Bias)
		case n.Const != nil:
			ok = finite(n.Const.Data)
		case n.Act != nil:
			ok = finite([]float64{n.Act.Alpha, n.Act.Lo, n.Act.Hi})
		}
		if !ok {
			return fmt.Errorf("%w: node %s: its weights or parameters hold NaN or Inf", ErrModel, n.Label())
		}
	}
	return nil
}

// inputShape reads a graph input's static shape; the batch axis (symbolic
// or 0 at axis 0) is bound to 1, any other symbolic dimension is refused.
func inputShape(in onnx.ValueInfo) ([]int, error) {
	if !in.HasShape {
		return nil, fmt.Errorf("%w: graph input %q has no shape", ErrUnsupported, in.Name)
	}
	shape := make([]int, len(in.Dims))
	for i, d := range in.Dims {
		switch {
		case d.Param != "" || d.Value == 0:
			if i != 0 {
				return nil, fmt.Errorf("%w: graph input %q has a symbolic dimension %q at axis %d; only the batch axis (0) may be symbolic",
					ErrUnsupported, in.Name, d.Param, i)
			}
			shape[i] = 1
		default:
			shape[i] = int(d.Value)
		}
	}
	if len(shape) == 0 {
		shape = []int{1}
	}
	size, err := ir.CheckedNumElements(toInt64(shape))
	if err != nil {
		return nil, fmt.Errorf("%w: graph input %q: %v", ErrUnsupported, in.Name, err)
	}
	if size > maxSlots {
		return nil, fmt.Errorf("%w: graph input %q of shape %v has %d values; one ciphertext holds at most %d (multi-ciphertext layouts are not implemented)",
			ErrUnsupported, in.Name, shape, size, maxSlots)
	}
	return shape, nil
}

func (l *lowerer) bind(g *onnx.Graph, name string, t *ir.Tensor) error {
	for _, in := range g.Inputs {
		if in.Name != name {
			continue
		}
		if in.HasShape && len(in.Dims) == len(t.Shape) {
			for i, d := range in.Dims {
				if d.Param == "" && d.Value != 0 && int(d.Value) != t.Shape[i] {
					return fmt.Errorf("%w: --bind %s: tensor has shape %v, the graph input has dimension %d at axis %d", ErrModel, name, t.Shape, d.Value, i)
				}
			}
		} else if in.HasShape {
			return fmt.Errorf("%w: --bind %s: tensor has %d axes, the graph input has %d", ErrModel, name, len(t.Shape), len(in.Dims))
		}
		l.vals[name] = constValue(t)
		return nil
	}
	return fmt.Errorf("%w: --bind %s: the model has no graph input of that name", ErrModel, name)
}

func (l *lowerer) lowerNode(n *onnx.Node) error {
	l.node = n
	if n.Domain != "" {
		return l.fail(ErrUnsupportedOp, "operator domain %q is not supported (only the default ai.onnx domain)", n.Domain)
	}
	entry, err := lookup(n.OpType, l.opset)
	if err != nil {
		return l.fail(ErrUnsupportedOp, "%v", err)
	}
	l.since = entry.Since
	ins := make([]*value, len(n.Inputs))
	for i, name := range n.Inputs {
		if name == "" {
			continue // omitted optional input
		}
		v, ok := l.vals[name]
		if !ok {
			return l.fail(ErrModel, "input %q is not defined", name)
		}
		if v.post != "" {
			return l.errorf("reads %q after a %s, which hecc evaluates only as the model's last operation (after decryption)", name, v.post)
		}
		ins[i] = v
	}
	outs, err := entry.Fn(l, n, ins)
	if err != nil {
		var le *loweringError
		if errors.As(err, &le) {
			return err
		}
		return l.fail(ErrUnsupported, "%v", err)
	}
	for i, name := range n.Outputs {
		if name == "" {
			continue
		}
		if i >= len(outs) || outs[i] == nil {
			return l.fail(ErrUnsupported, "output %d (%q) is not supported", i, name)
		}
		if !outs[i].isConst() && outs[i].size() == 0 {
			return l.errorf("output %q of shape %v is empty", name, outs[i].shape)
		}
		l.vals[name] = outs[i]
	}
	return nil
}

// loweringError is an error already formatted with the node it concerns.
type loweringError struct {
	kind error
	msg  string
}

func (e *loweringError) Error() string { return e.msg }
func (e *loweringError) Unwrap() error { return e.kind }

// fail formats `cannot compile node "Conv_3" (Conv, opset 13): reason`.
func (l *lowerer) fail(kind error, format string, args ...any) error {
	name := l.node.Name
	if name == "" && len(l.node.Outputs) > 0 {
		name = "→" + l.node.Outputs[0]
	}
	return &loweringError{kind: kind, msg: fmt.Sprintf("cannot compile node %q (%s, opset %d): %s", name, l.node.OpType, l.opset, fmt.Sprintf(format, args...))}
}

// errorf is shorthand for an ErrUnsupported failure of the current node.
func (l *lowerer) errorf(format string, args ...any) error {
	return l.fail(ErrUnsupported, format, args...)
}

// origin is the label IR nodes made for the current ONNX node carry; later
// errors quote it, so it is kept to one line.
func (l *lowerer) origin() string { return escapeControl(l.node.Label()) }

// oneLineError is an error whose message had its control characters
// escaped: names in a model may hold any bytes (a newline in an op type),
// and every refusal must stay one line.
type oneLineError struct {
	err error
	msg string
}

func (e *oneLineError) Error() string { return e.msg }
func (e *oneLineError) Unwrap() error { return e.err }

func oneLine(err error) error {
	msg := err.Error()
	if !strings.ContainsFunc(msg, unicode.IsControl) {
		return err
	}
	return &oneLineError{err: err, msg: escapeControl(msg)}
}

// escapeControl writes control characters as Go escapes (\n, \x00 …).
func escapeControl(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// emit appends an IR node made for the current ONNX node. The IR has no
// rank-0 tensors: a scalar is a node of shape [1] viewed with shape [].
func (l *lowerer) emit(n *ir.Node) *value {
	shape := n.Shape
	n.Shape = irShape(shape)
	n.Origin = l.origin()
	l.g.Add(n)
	return &value{shape: shape, n: n}
}

// irShape is the shape of the IR node holding a value of the given shape.
func irShape(shape []int) []int {
	if len(shape) == 0 {
		return []int{1}
	}
	return slices.Clone(shape)
}

// linear applies y = W·x + b to v, giving a tensor of shape out: computed
// now for a constant, an Affine node for an encrypted tensor.
func (l *lowerer) linear(v *value, lin *ir.Linear, out []int) *value {
	if v.isConst() {
		return constValue(&ir.Tensor{Shape: out, Data: lin.Apply(v.c.Data)})
	}
	return l.emit(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{v.n}, Shape: slices.Clone(out), Linear: lin})
}

// reshape returns v viewed with another shape of the same size.
func (l *lowerer) reshape(v *value, shape []int) *value {
	if v.isConst() {
		return constValue(&ir.Tensor{Shape: shape, Data: v.c.Data})
	}
	return &value{shape: shape, n: v.n}
}

// node returns the IR node holding v with v's shape: a view with another
// shape than its node's gets a free identity map so the IR sees the shape.
func (l *lowerer) irNode(v *value) *ir.Node {
	if slices.Equal(v.n.Shape, irShape(v.shape)) {
		return v.n
	}
	return l.emit(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{v.n}, Shape: slices.Clone(v.shape), Linear: ir.NewIdentity(v.size(), "reshape")}).n
}

// selection builds the map out[o] = in[src(o)] (or fill when src reports
// false) and applies it to v: transposes, slices, gathers, padding, concat
// embeddings and broadcasts are all such maps. A constant is indexed
// directly.
func (l *lowerer) selection(v *value, out []int, desc string, fill float64, src func(o []int) (int, bool)) (*value, error) {
	size, err := l.resultSize(v, out)
	if err != nil {
		return nil, err
	}
	idx := make([]int, len(out))
	if v.isConst() {
		t := &ir.Tensor{Shape: slices.Clone(out), Data: make([]float64, size)}
		for o := range size {
			if i, ok := src(idx); ok {
				t.Data[o] = v.c.Data[i]
			} else {
				t.Data[o] = fill
			}
			next(idx, out)
		}
		return constValue(t), nil
	}
	b := ir.NewBuilder(size, v.size())
	var bias []float64
	for o := range size {
		if i, ok := src(idx); ok {
			b.Add(o, i, 1)
		} else if fill != 0 {
			if bias == nil {
				bias = make([]float64, size)
			}
			bias[o] = fill
		}
		next(idx, out)
	}
	lin, err := b.Build(bias, desc)
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	return l.linear(v, lin, out), nil
}

// maxSlots is the most values one ciphertext holds: half the degree of the
// largest ring in the security table params.Select chooses from.
var maxSlots = func() int {
	logN := 11
	for {
		if _, ok := params.MaxLogQP(params.Levels[0], logN+1); !ok {
			return 1 << (logN - 1)
		}
		logN++
	}
}()

// maxFolded bounds a constant computed while lowering (ir.MaxElements
// bounds the model's own tensors): 2^26 float64 values, 512 MiB, hold the
// transpose of any weight matrix whose layer fits a ciphertext, and keep a
// few bytes of model from folding a ConstantOfShape or an Expand into
// gigabytes.
const maxFolded = 1 << 26

// resultSize checks the shape of a result computed from v before anything
// proportional to it is allocated: not empty, and no more values than one
// ciphertext holds (encrypted) or than maxFolded (constant).
func (l *lowerer) resultSize(v *value, out []int) (int, error) {
	size, err := ir.CheckedNumElements(toInt64(out))
	if err != nil {
		return 0, l.errorf("%v", err)
	}
	if size == 0 {
		return 0, l.errorf("the result of shape %v is empty", out)
	}
	if !v.isConst() && size > maxSlots {
		return 0, l.errorf("the encrypted result of shape %v has %d values; one ciphertext holds at most %d (multi-ciphertext layouts are not implemented)", out, size, maxSlots)
	}
	if v.isConst() {
		return l.foldedSize(out)
	}
	return size, nil
}

// foldedSize checks the shape of a constant computed while lowering.
func (l *lowerer) foldedSize(shape []int) (int, error) {
	size, err := ir.CheckedNumElements(toInt64(shape))
	if err != nil {
		return 0, l.fail(ErrModel, "%v", err)
	}
	if size > maxFolded {
		return 0, l.errorf("the constant of shape %v has %d values, more than the %d constant folding may make", shape, size, maxFolded)
	}
	return size, nil
}

// next advances a multi-index in row-major order.
func next(idx, shape []int) {
	for a := len(shape) - 1; a >= 0; a-- {
		idx[a]++
		if idx[a] < shape[a] {
			return
		}
		idx[a] = 0
	}
}

func toInt64(s []int) []int64 {
	out := make([]int64, len(s))
	for i, d := range s {
		out[i] = int64(d)
	}
	return out
}
