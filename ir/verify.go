package ir

import (
	"errors"
	"fmt"
)

// ErrInvalid reports a graph that breaks an invariant of the IR.
var ErrInvalid = errors.New("invalid IR")

// Verify checks the invariants every pass must preserve: topological order,
// arity, payloads, shapes that agree along every edge, well-formed weights
// and unique input and output names. Errors name the offending node.
func Verify(g *Graph) error {
	if len(g.Nodes) == 0 {
		return fmt.Errorf("%w: the graph is empty", ErrInvalid)
	}
	seen := make(map[*Node]bool, len(g.Nodes))
	names := map[Op]map[string]bool{OpInput: {}, OpOutput: {}}
	outputs := 0
	for i, n := range g.Nodes {
		if n == nil {
			return fmt.Errorf("%w: node %d is nil", ErrInvalid, i)
		}
		if seen[n] {
			return fmt.Errorf("%w: node %s appears twice", ErrInvalid, n.Label())
		}
		if err := verifyNode(n, seen); err != nil {
			return fmt.Errorf("%w: node %d %s: %v", ErrInvalid, i, n.Label(), err)
		}
		if n.Op == OpInput || n.Op == OpOutput {
			if n.Name == "" {
				return fmt.Errorf("%w: %s node %d has no name", ErrInvalid, n.Op, i)
			}
			if names[n.Op][n.Name] {
				return fmt.Errorf("%w: two %s nodes are named %q", ErrInvalid, n.Op, n.Name)
			}
			names[n.Op][n.Name] = true
		}
		if n.Op == OpOutput {
			outputs++
		}
		if g.LogSlots > 0 && n.Op != OpConst && n.CiphertextSize() > 1<<g.LogSlots {
			return fmt.Errorf("%w: node %s has %d values, more than the %d slots of the layout", ErrInvalid, n.Label(), n.CiphertextSize(), 1<<g.LogSlots)
		}
		seen[n] = true
	}
	if outputs == 0 {
		return fmt.Errorf("%w: the graph has no output", ErrInvalid)
	}
	return nil
}

func verifyNode(n *Node, before map[*Node]bool) error {
	if len(n.Inputs) != n.Op.arity() {
		if _, known := opNames[n.Op]; !known {
			return fmt.Errorf("unknown op %d", n.Op)
		}
		return fmt.Errorf("%s takes %d inputs, has %d", n.Op, n.Op.arity(), len(n.Inputs))
	}
	for _, in := range n.Inputs {
		if in == nil || !before[in] {
			return errors.New("reads a value defined later or not at all")
		}
		if in.Op == OpOutput {
			return errors.New("reads an output node")
		}
		if in.InParts() {
			if err := verifyPartsReader(n, in); err != nil {
				return err
			}
		}
	}
	if len(n.Shape) == 0 && n.Op != OpConst {
		return errors.New("has no shape")
	}
	for _, d := range n.Shape {
		if d <= 0 {
			return fmt.Errorf("shape %s has a non-positive dimension", shapeString(n.Shape))
		}
	}
	if _, err := CheckedNumElements(toInt64(n.Shape)); err != nil {
		return err
	}
	if err := verifyPayload(n); err != nil {
		return err
	}
	switch n.Op {
	case OpAffine:
		if n.Linear.Cols != n.Inputs[0].Size() || n.Linear.Rows != n.Size() {
			return fmt.Errorf("maps %d values to %d, but reads %d and produces %s", n.Linear.Cols, n.Linear.Rows, n.Inputs[0].Size(), shapeString(n.Shape))
		}
	case OpPoly, OpActivation, OpOutput:
		if n.Inputs[0].Size() != n.Size() {
			return fmt.Errorf("element-wise op reads %d values but produces %d", n.Inputs[0].Size(), n.Size())
		}
	case OpAdd, OpMul:
		if n.Inputs[0].Size() != n.Size() || n.Inputs[1].Size() != n.Size() {
			return fmt.Errorf("element-wise op reads %d and %d values but produces %d", n.Inputs[0].Size(), n.Inputs[1].Size(), n.Size())
		}
	}
	return nil
}

// verifyPayload checks that exactly the payload of n's op is set and valid.
func verifyPayload(n *Node) error {
	has := map[Op]bool{OpConst: n.Const != nil, OpAffine: n.Linear != nil, OpPoly: n.Poly != nil, OpActivation: n.Act != nil}
	for op, set := range has {
		if set != (n.Op == op) {
			if set {
				return fmt.Errorf("carries a %s payload", op)
			}
			return fmt.Errorf("has no %s payload", op)
		}
	}
	if n.Gather != nil {
		if err := verifyGather(n); err != nil {
			return err
		}
	}
	if n.Post != "" && n.Op != OpOutput {
		return errors.New("post-processing on a node that is not an output")
	}
	if n.Post != "" && !KnownPost(n.Post) {
		return fmt.Errorf("unknown post-processing %q", n.Post)
	}
	switch n.Op {
	case OpConst:
		if err := n.Const.Check(); err != nil {
			return err
		}
		if NumElements(n.Const.Shape) != n.Size() {
			return fmt.Errorf("constant of shape %s on a node of shape %s", shapeString(n.Const.Shape), shapeString(n.Shape))
		}
	case OpAffine:
		return n.Linear.check()
	case OpPoly:
		if c := n.Poly.Correction; c != nil && (len(c) != n.Size() || n.Poly.Replaces == nil) {
			return fmt.Errorf("polynomial carries %d corrections for %d values", len(c), n.Size())
		}
		return n.Poly.check()
	case OpActivation:
		return n.Act.check()
	}
	return nil
}

func toInt64(s []int) []int64 {
	out := make([]int64, len(s))
	for i, d := range s {
		out[i] = int64(d)
	}
	return out
}

// verifyGather checks a client-side input layout: on an Input whose shape
// is its slot count, every slot naming an element of the client's tensor
// or −1.
func verifyGather(n *Node) error {
	if n.Op != OpInput {
		return errors.New("carries a client-side layout but is not an input")
	}
	g := n.Gather
	size, err := CheckedNumElements(toInt64(g.Shape))
	if err != nil || len(g.Shape) == 0 {
		return fmt.Errorf("client-side layout of shape %s", shapeString(g.Shape))
	}
	if len(n.Shape) != 1 || n.Shape[0] != len(g.Slots) {
		return fmt.Errorf("client-side layout of %d slots on an input of shape %s", len(g.Slots), shapeString(n.Shape))
	}
	if g.Parts < 1 || g.Parts > MaxInputParts || len(g.Slots)%g.Parts != 0 {
		return fmt.Errorf("client-side layout of %d slots in %d ciphertexts (at most %d, of equal size)", len(g.Slots), g.Parts, MaxInputParts)
	}
	for s, k := range g.Slots {
		if k < -1 || k >= size {
			return fmt.Errorf("client-side layout puts element %d of %d in slot %d", k, size, s)
		}
	}
	return nil
}

// verifyPartsReader checks that n reads input in, encrypted in parts, as
// the runtime can: an affine map whose every entry pairs output slot r
// with slot r of some part.
func verifyPartsReader(n, in *Node) error {
	if n.Op != OpAffine || n.Linear.Identity {
		return fmt.Errorf("a %s reads input %q, which the client encrypts in %d ciphertexts; only an affine map may", n.Op, in.Name, in.Gather.Parts)
	}
	part := in.Gather.PartSlots()
	if n.Linear.Rows > part {
		return fmt.Errorf("maps input %q's parts of %d slots to %d values", in.Name, part, n.Linear.Rows)
	}
	var bad error
	for r := range n.Linear.Rows {
		n.Linear.Row(r, func(c int, _ float64) {
			if c%part != r && bad == nil {
				bad = fmt.Errorf("reads slot %d of a part of input %q into slot %d; parts are read slot by slot", c%part, in.Name, r)
			}
		})
	}
	return bad
}
