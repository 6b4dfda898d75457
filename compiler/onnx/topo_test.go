package onnx

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/ir"
)

// graphOf builds a graph from "out=Op(in,in)" specs, with inputs x and the
// initializer w available.
func graphOf(specs ...string) *Graph {
	g := &Graph{Inputs: []ValueInfo{{Name: "x"}}, Initializers: map[string]*ir.Tensor{"w": ir.NewTensor()}}
	for i, s := range specs {
		out, rest, _ := strings.Cut(s, "=")
		op, args, _ := strings.Cut(strings.TrimSuffix(rest, ")"), "(")
		n := &Node{OpType: op, Outputs: []string{out}, index: i}
		if args != "" {
			n.Inputs = strings.Split(args, ",")
		}
		g.Nodes = append(g.Nodes, n)
	}
	return g
}

func outputsOf(nodes []*Node) []string {
	var s []string
	for _, n := range nodes {
		s = append(s, n.Outputs[0])
	}
	return s
}

func TestTopoSort(t *testing.T) {
	tests := []struct {
		name  string
		specs []string
		want  []string
	}{
		{"already sorted", []string{"a=Relu(x)", "b=Add(a,w)", "c=Relu(b)"}, []string{"a", "b", "c"}},
		{"reversed", []string{"c=Relu(b)", "b=Add(a,w)", "a=Relu(x)"}, []string{"a", "b", "c"}},
		{"diamond", []string{"d=Add(b,c)", "b=Relu(a)", "c=Neg(a)", "a=Relu(x)"}, []string{"a", "b", "c", "d"}},
		{"independent keep file order", []string{"b=Relu(x)", "a=Neg(x)"}, []string{"b", "a"}},
		{"omitted input", []string{"a=Clip(x,,w)"}, []string{"a"}},
		{"no inputs", []string{"b=Relu(a)", "a=Constant()"}, []string{"a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := graphOf(tc.specs...).TopoSort()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(outputsOf(got), tc.want) {
				t.Errorf("order %v, want %v", outputsOf(got), tc.want)
			}
		})
	}
}

func TestTopoSortErrors(t *testing.T) {
	tests := []struct {
		name  string
		specs []string
		msg   string
	}{
		{"undefined input", []string{"a=Relu(x)", "b=Add(a,nope)"}, `node #1 (Add -> "b"): input "nope" is not produced by any node, graph input or initializer`},
		{"self loop", []string{"a=Add(x,a)"}, `node #0 (Add -> "a"): input "a" comes from node #0 (Add -> "a"), which depends on this node's output (a cycle)`},
		{"cycle", []string{"a=Relu(c)", "b=Relu(a)", "c=Relu(b)", "d=Relu(x)"}, `input "a" comes from node #0 (Relu -> "a"), which depends on this node's output (a cycle)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := graphOf(tc.specs...).TopoSort()
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want ErrMalformed containing %q", err, tc.msg)
			}
		})
	}
}

// A long chain in reverse file order must not recurse per node.
func TestTopoSortLongChain(t *testing.T) {
	const n = 200_000
	specs := make([]string, n)
	for i := range n {
		in := "x"
		if i > 0 {
			in = fmt.Sprint("v", i-1)
		}
		specs[n-1-i] = fmt.Sprintf("v%d=Relu(%s)", i, in)
	}
	got, err := graphOf(specs...).TopoSort()
	if err != nil {
		t.Fatal(err)
	}
	for i, node := range got {
		if want := fmt.Sprint("v", i); node.Outputs[0] != want {
			t.Fatalf("position %d holds %s, want %s", i, node.Outputs[0], want)
		}
	}
}
