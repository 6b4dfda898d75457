package passes

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/hecc-dev/hecc/ir"
)

// maxLevelGraph builds act(x) followed by one level of a max tree over
// the pairs (0,1), (2,3), … of its 2n values: row r is
// sel_r + mask_r·relu(diff_r), as the lowering makes it, with the changes
// broken applies to row 0 (so that the level is no longer a max).
func maxLevelGraph(n int, act *ir.Activation, broken string) *ir.Graph {
	b := newGB(1)
	x := b.input(2 * n)
	a := b.add(&ir.Node{Op: ir.OpActivation, Inputs: []*ir.Node{x}, Shape: x.Shape, Act: act})
	diff, sel, mask := ir.NewBuilder(n, 2*n), ir.NewBuilder(n, 2*n), ir.NewBuilder(n, n)
	for r := range n {
		i, j := 2*r, 2*r+1
		dPlus, sCol, keep := 1.0, j, 1.0
		if r == 0 {
			switch broken {
			case "sel reads the first":
				sCol = i
			case "difference doubled":
				dPlus = 2
			case "mask halves":
				keep = 0.5
			}
		}
		if r == 0 && broken == "row 0 unused" {
			continue
		}
		diff.Add(r, i, dPlus)
		diff.Add(r, j, -1)
		sel.Add(r, sCol, 1)
		mask.Add(r, r, keep)
	}
	linear := func(in *ir.Node, bl *ir.Builder) *ir.Node {
		lin, _ := bl.Build(nil, "level")
		return b.add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{in}, Shape: []int{n}, Linear: lin})
	}
	d, s := linear(a, diff), linear(a, sel)
	r := b.add(&ir.Node{Op: ir.OpActivation, Inputs: []*ir.Node{d}, Shape: []int{n}, Act: &ir.Activation{Func: "relu"}})
	m := linear(r, mask)
	out := b.op(ir.OpAdd, s, m)
	if broken == "activation read twice" {
		first := ir.NewBuilder(n, 2*n)
		for r := range n {
			first.Add(r, r, 1)
		}
		out = b.op(ir.OpAdd, out, linear(a, first))
	}
	return b.output(out)
}

// TestActivationsAfterMax checks that a non-decreasing activation moves
// past a level of a max tree, that the graph then computes exactly the
// same on random inputs, and that a level that is not a max, or an
// activation that decreases or has another reader, stays put.
func TestActivationsAfterMax(t *testing.T) {
	relu := &ir.Activation{Func: "relu"}
	cases := []struct {
		name   string
		act    *ir.Activation
		broken string
		moved  bool
	}{
		{"relu", relu, "", true},
		{"sigmoid", &ir.Activation{Func: "sigmoid"}, "", true},
		{"leaky relu, positive slope", &ir.Activation{Func: "leaky_relu", Alpha: 0.1}, "", true},
		{"clip", &ir.Activation{Func: "clip", Lo: -0.5, Hi: 0.5}, "", true},
		{"leaky relu, negative slope (decreasing for x < 0)", &ir.Activation{Func: "leaky_relu", Alpha: -0.5}, "", false},
		{"second operand is the first", relu, "sel reads the first", false},
		{"difference doubled", relu, "difference doubled", false},
		{"mask halves the ReLU", relu, "mask halves", false},
		{"activation read by another node", relu, "activation read twice", false},
		// A row a shorter window leaves unused is 0 before and f(0) after.
		{"relu, an unused row", relu, "row 0 unused", true},
		{"sigmoid, an unused row the output reads", &ir.Activation{Func: "sigmoid"}, "row 0 unused", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := maxLevelGraph(6, tc.act, tc.broken)
			if err := ir.Verify(g); err != nil {
				t.Fatal(err)
			}
			before := maxLevelGraph(6, tc.act, tc.broken)
			var logged []string
			cfg := &Config{Log: func(_, msg string) { logged = append(logged, msg) }}
			if err := ActivationsAfterMax(g, cfg); err != nil {
				t.Fatal(err)
			}
			if err := ir.Verify(g); err != nil {
				t.Fatalf("after the pass: %v\n%s", err, g)
			}
			if moved := len(logged) > 0; moved != tc.moved {
				t.Fatalf("moved %v, want %v: %q\n%s", moved, tc.moved, logged, g)
			}
			if tc.moved {
				out := g.Outputs()[0].Inputs[0]
				if out.Op != ir.OpActivation || out.Inputs[0].Op != ir.OpAdd {
					t.Fatalf("the activation is not after the level:\n%s", g)
				}
			}
			rng := rand.New(rand.NewPCG(7, 8))
			for range 50 {
				x := ir.NewTensor(12)
				for i := range x.Data {
					x.Data[i] = 2 * rng.NormFloat64()
				}
				want, err := ir.Interpret(before, map[string]*ir.Tensor{"x": x})
				if err != nil {
					t.Fatal(err)
				}
				got, err := ir.Interpret(g, map[string]*ir.Tensor{"x": x})
				if err != nil {
					t.Fatal(err)
				}
				for i, w := range want["y"].Data {
					if d := math.Abs(got["y"].Data[i] - w); d > 1e-12 {
						t.Fatalf("input %v, output %d: %g, before the pass %g", x.Data, i, got["y"].Data[i], w)
					}
				}
			}
		})
	}
}
