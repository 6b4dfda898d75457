package ir

import (
	"errors"
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
	bopts := BatchOptions{Exact: opts.Exact}
	if opts.Observe != nil {
		bopts.Observe = func(n *Node, vs [][]float64) { opts.Observe(n, vs[0]) }
	}
	outs, err := InterpretBatch(g, []map[string]*Tensor{inputs}, bopts)
	if se := (*SampleError)(nil); errors.As(err, &se) {
		return nil, se.Err
	}
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}

// BatchOptions vary InterpretBatch.
type BatchOptions struct {
	// Exact is InterpretOptions.Exact.
	Exact bool
	// Observe, when set, sees every node's values for every sample of the
	// batch, vs[s] for sample s; they may not be kept past the call.
	Observe func(n *Node, vs [][]float64)
}

// SampleError is an error about one sample of a batch.
type SampleError struct {
	Sample int // its index in the batch
	Err    error
}

func (e *SampleError) Error() string { return fmt.Sprintf("sample %d: %v", e.Sample, e.Err) }

func (e *SampleError) Unwrap() error { return e.Err }

// InterpretBatch is Interpret on several samples at once, one input map
// per sample, and returns each sample's outputs. Each affine map's matrix
// is read once for several samples (Linear.ApplyBatch); every sample's
// values are those Interpret gives it, bit for bit.
func InterpretBatch(g *Graph, inputs []map[string]*Tensor, opts BatchOptions) ([]map[string]*Tensor, error) {
	vals := make(map[*Node][][]float64, len(g.Nodes))
	outs := make([]map[string]*Tensor, len(inputs))
	for s := range outs {
		outs[s] = map[string]*Tensor{}
	}
	for _, n := range g.Nodes {
		vs := make([][]float64, len(inputs))
		switch n.Op {
		case OpInput:
			for s, in := range inputs {
				t, ok := in[n.Name]
				if !ok {
					return nil, &SampleError{s, fmt.Errorf("no value for input %q", n.Name)}
				}
				if want := NumElements(n.InputShape()); t.Size() != want {
					return nil, &SampleError{s, fmt.Errorf("input %q has %d values, the model expects shape %s (%d values)", n.Name, t.Size(), shapeString(n.InputShape()), want)}
				}
				vs[s] = t.Data
				if n.Gather != nil {
					vs[s] = n.Gather.Apply(t.Data)
				}
			}
		case OpConst:
			for s := range vs {
				vs[s] = n.Const.Data
			}
		case OpAffine:
			for s := range vs {
				vs[s] = make([]float64, n.Linear.Rows)
			}
			n.Linear.ApplyBatch(vs, vals[n.Inputs[0]])
		case OpPoly:
			for s, x := range vals[n.Inputs[0]] {
				if opts.Exact {
					vs[s] = mapValues(x, n.Poly.EvalExact)
					for i, c := range n.Poly.Correction {
						vs[s][i] += c
					}
				} else {
					vs[s] = make([]float64, len(x))
					n.Poly.EvalSlice(vs[s], x)
				}
			}
		case OpActivation:
			for s, x := range vals[n.Inputs[0]] {
				vs[s] = make([]float64, len(x))
				n.Act.EvalSlice(vs[s], x)
			}
		case OpAdd, OpMul:
			for s, a := range vals[n.Inputs[0]] {
				b := vals[n.Inputs[1]][s]
				v := make([]float64, len(a))
				for i := range a {
					if n.Op == OpAdd {
						v[i] = a[i] + b[i]
					} else {
						v[i] = a[i] * b[i]
					}
				}
				vs[s] = v
			}
		case OpOutput:
			for s, v := range vals[n.Inputs[0]] {
				vs[s] = v
				outs[s][n.Name] = &Tensor{Shape: append([]int(nil), n.Shape...), Data: append([]float64(nil), v...)}
			}
		default:
			return nil, fmt.Errorf("node %s: cannot interpret op %s", n.Label(), n.Op)
		}
		if opts.Observe != nil {
			opts.Observe(n, vs)
		}
		vals[n] = vs
	}
	return outs, nil
}

func mapValues(x []float64, f func(float64) float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = f(v)
	}
	return y
}
