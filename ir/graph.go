package ir

import (
	"fmt"
	"strings"
)

// Op is the kind of a node.
type Op uint8

// The node kinds; see the package documentation.
const (
	OpInput Op = iota + 1
	OpConst
	OpAffine
	OpPoly
	OpActivation
	OpAdd
	OpMul
	OpOutput
)

var opNames = map[Op]string{
	OpInput: "input", OpConst: "const", OpAffine: "affine", OpPoly: "poly",
	OpActivation: "activation", OpAdd: "add", OpMul: "mul", OpOutput: "output",
}

func (o Op) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// arity is the number of inputs each op takes.
func (o Op) arity() int {
	switch o {
	case OpInput, OpConst:
		return 0
	case OpAdd, OpMul:
		return 2
	default:
		return 1
	}
}

// Interval is a closed range of real values.
type Interval struct{ Lo, Hi float64 }

// Width is Hi-Lo.
func (r Interval) Width() float64 { return r.Hi - r.Lo }

// MaxAbs is the largest magnitude in the interval.
func (r Interval) MaxAbs() float64 { return max(-r.Lo, r.Hi, r.Lo, -r.Hi) }

// Node is one operation. Exactly one payload field matches Op.
type Node struct {
	Op     Op
	Inputs []*Node
	Shape  []int
	// Origin names the ONNX node this came from, e.g. `"Conv_0" (Conv)`,
	// so that every later error can point at the user's model.
	Origin string
	// Name is the graph tensor name of an Input or Output.
	Name string

	Const  *Tensor
	Linear *Linear
	// Gather, on an Input only, is the layout the client encrypts its
	// tensor in; nil for compact (element k in slot k).
	Gather *Gather
	Poly   *Polynomial
	Act    *Activation
	// Post is monotone post-processing the client applies to an Output
	// after decryption (e.g. "softmax"); empty for none.
	Post string

	// Annotations filled by passes.
	Range Interval // values seen (calibration) or bounded (interval arithmetic)
	Level int      // CKKS level of this node's result; set by the depth pass
}

// Gather is a client-side input layout: slot s holds element Slots[s] of
// the client's tensor of shape Shape, or zero where Slots[s] is −1. An
// element may sit in several slots (copies the first convolution reads at
// fewer offsets). With Parts > 1 the client encrypts Parts ciphertexts,
// part j holding slots [j·len(Slots)/Parts, (j+1)·len(Slots)/Parts), and
// the input's one reader, an affine map, reads each part slot by slot (no
// rotation). It reveals where values go, never a weight.
type Gather struct {
	Shape []int
	Slots []int
	Parts int // ciphertexts; 1 unless the first map reads several
}

// MaxInputParts bounds the ciphertexts of one input.
const MaxInputParts = 64

// PartSlots is the number of slots of one ciphertext of the input.
func (g *Gather) PartSlots() int { return len(g.Slots) / max(1, g.Parts) }

// Apply lays x (of the gather's shape) out in slots.
func (g *Gather) Apply(x []float64) []float64 {
	out := make([]float64, len(g.Slots))
	for s, k := range g.Slots {
		if k >= 0 {
			out[s] = x[k]
		}
	}
	return out
}

// InputShape is the shape of the tensor a client gives for Input n: the
// gather's when the client lays it out, else n's.
func (n *Node) InputShape() []int {
	if n.Gather != nil {
		return n.Gather.Shape
	}
	return n.Shape
}

// Size is the number of elements of the node's result.
func (n *Node) Size() int { return NumElements(n.Shape) }

// CiphertextSize is the number of slots of each ciphertext holding the
// node's result: its size, unless it is an input in several parts.
func (n *Node) CiphertextSize() int {
	if n.Gather != nil && n.Gather.Parts > 1 {
		return n.Gather.PartSlots()
	}
	return n.Size()
}

// InParts reports whether n is an input the client encrypts in several
// ciphertexts.
func (n *Node) InParts() bool { return n.Gather != nil && n.Gather.Parts > 1 }

// Label names the node for error messages.
func (n *Node) Label() string {
	if n.Origin != "" {
		return n.Origin
	}
	if n.Name != "" {
		return fmt.Sprintf("%s %q", n.Op, n.Name)
	}
	return n.Op.String()
}

// Graph is a list of nodes in topological order: every node's inputs come
// before it.
type Graph struct {
	Nodes []*Node
	// LogSlots is the packing dimension chosen by the layout pass: every
	// encrypted tensor occupies the first Size() of 2^LogSlots cyclic slots.
	LogSlots int
	// Depth is the multiplicative depth set by the depth pass.
	Depth int
}

// Add appends n after checking its inputs already belong to g, and returns n.
func (g *Graph) Add(n *Node) *Node {
	g.Nodes = append(g.Nodes, n)
	return n
}

// Inputs returns the Input nodes in order.
func (g *Graph) Inputs() []*Node { return g.filter(OpInput) }

// Outputs returns the Output nodes in order.
func (g *Graph) Outputs() []*Node { return g.filter(OpOutput) }

func (g *Graph) filter(op Op) []*Node {
	var out []*Node
	for _, n := range g.Nodes {
		if n.Op == op {
			out = append(out, n)
		}
	}
	return out
}

// Users maps each node to the nodes that read it, in graph order.
func (g *Graph) Users() map[*Node][]*Node {
	u := make(map[*Node][]*Node, len(g.Nodes))
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			u[in] = append(u[in], n)
		}
	}
	return u
}

// Replace makes every reader of old read repl instead.
func (g *Graph) Replace(old, repl *Node) {
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			if in == old {
				n.Inputs[i] = repl
			}
		}
	}
}

// Prune drops nodes no Output depends on. Inputs always stay: the client
// encrypts them whether or not the model reads them.
func (g *Graph) Prune() {
	live := make(map[*Node]bool, len(g.Nodes))
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if n.Op == OpOutput || n.Op == OpInput || live[n] {
			live[n] = true
			for _, in := range n.Inputs {
				live[in] = true
			}
		}
	}
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		if live[n] {
			kept = append(kept, n)
		}
	}
	clear(g.Nodes[len(kept):])
	g.Nodes = kept
}

// Sort restores topological order after a pass inserted nodes out of order.
// The relative order of independent nodes is kept, so dumps stay stable.
func (g *Graph) Sort() error {
	pos := make(map[*Node]int, len(g.Nodes))
	for i, n := range g.Nodes {
		pos[n] = i
	}
	state := make(map[*Node]uint8, len(g.Nodes)) // 1 visiting, 2 done
	out := make([]*Node, 0, len(g.Nodes))
	var visit func(n *Node) error
	visit = func(n *Node) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("node %s is part of a cycle", n.Label())
		case 2:
			return nil
		}
		if _, ok := pos[n]; !ok {
			return fmt.Errorf("node %s is used but not in the graph", n.Label())
		}
		state[n] = 1
		for _, in := range n.Inputs {
			if err := visit(in); err != nil {
				return err
			}
		}
		state[n] = 2
		out = append(out, n)
		return nil
	}
	for _, n := range g.Nodes {
		if err := visit(n); err != nil {
			return err
		}
	}
	g.Nodes = out
	return nil
}

// Counts returns how many nodes of each kind the graph holds, keyed by the
// op's name; the compile report and `hecc inspect` print it.
func (g *Graph) Counts() map[string]int {
	c := make(map[string]int)
	for _, n := range g.Nodes {
		c[n.Op.String()]++
	}
	return c
}

func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
