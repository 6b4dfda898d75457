package ir

import (
	"fmt"
)

// Interpret evaluates the graph in plaintext float64 on the given inputs
// (keyed by input name; each must have the input's number of elements) and
// returns the outputs keyed by output name, before any post-processing.
// Exact activations are evaluated exactly and polynomials as polynomials, so
// interpreting the graph before and after approx-activations compares the
// model with its circuit.
func Interpret(g *Graph, inputs map[string]*Tensor) (map[string]*Tensor, error) {
	return InterpretWith(g, inputs, InterpretOptions{})
}

// InterpretObserved is Interpret, calling observe with every node's values
// as they are computed; calibration records ranges this way.
func InterpretObserved(g *Graph, inputs map[string]*Tensor, observe func(n *Node, v []float64)) (map[string]*Tensor, error) {
	return InterpretWith(g, inputs, InterpretOptions{Observe: observe})
}

// InterpretOptions vary the interpretation.
type InterpretOptions struct {
	// Exact evaluates each approximating polynomial as the activation it
	// replaces: the model as trained rather than the circuit.
	Exact bool
	// Observe, when set, sees every node's values.
	Observe func(n *Node, v []float64)
}

// InterpretWith is Interpret with options.
func InterpretWith(g *Graph, inputs map[string]*Tensor, opts InterpretOptions) (map[string]*Tensor, error) {
	observe := opts.Observe
	vals := make(map[*Node][]float64, len(g.Nodes))
	out := make(map[string]*Tensor)
	for _, n := range g.Nodes {
		var v []float64
		switch n.Op {
		case OpInput:
			t, ok := inputs[n.Name]
			if !ok {
				return nil, fmt.Errorf("no value for input %q", n.Name)
			}
			if want := NumElements(n.InputShape()); t.Size() != want {
				return nil, fmt.Errorf("input %q has %d values, the model expects shape %s (%d values)", n.Name, t.Size(), shapeString(n.InputShape()), want)
			}
			v = t.Data
			if n.Gather != nil {
				v = n.Gather.Apply(v)
			}
		case OpConst:
			v = n.Const.Data
		case OpAffine:
			v = n.Linear.Apply(vals[n.Inputs[0]])
		case OpPoly:
			if opts.Exact {
				v = mapValues(vals[n.Inputs[0]], n.Poly.EvalExact)
				for i, c := range n.Poly.Correction {
					v[i] += c
				}
			} else {
				x := vals[n.Inputs[0]]
				v = make([]float64, len(x))
				n.Poly.EvalSlice(v, x)
			}
		case OpActivation:
			x := vals[n.Inputs[0]]
			v = make([]float64, len(x))
			n.Act.EvalSlice(v, x)
		case OpAdd, OpMul:
			a, b := vals[n.Inputs[0]], vals[n.Inputs[1]]
			v = make([]float64, len(a))
			for i := range a {
				if n.Op == OpAdd {
					v[i] = a[i] + b[i]
				} else {
					v[i] = a[i] * b[i]
				}
			}
		case OpOutput:
			v = vals[n.Inputs[0]]
			out[n.Name] = &Tensor{Shape: append([]int(nil), n.Shape...), Data: append([]float64(nil), v...)}
		default:
			return nil, fmt.Errorf("node %s: cannot interpret op %s", n.Label(), n.Op)
		}
		if observe != nil {
			observe(n, v)
		}
		vals[n] = v
	}
	return out, nil
}

func mapValues(x []float64, f func(float64) float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = f(v)
	}
	return y
}
