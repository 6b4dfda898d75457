package passes

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/ir"
)

// deepNet is layers ReLUs, each after a dense layer of 12, on 6 inputs.
func deepNet(layers int) *ir.Graph {
	b := newGB(31)
	h := b.input(6)
	for range layers {
		h = b.add(&ir.Node{Op: ir.OpActivation, Inputs: []*ir.Node{b.affine(h, 12)}, Shape: []int{12}, Act: &ir.Activation{Func: "relu"}})
	}
	return b.output(b.affine(h, 3))
}

// A target whose cheapest forms make the circuit deeper than the budget
// is met within it or refused with the depth it needs and the depth
// available; the search never settles on a circuit over the budget.
func TestApproxDepthBudget(t *testing.T) {
	const layers = 4
	cfg := func(budget int) *Config {
		return &Config{Ranges: &RangeSource{Samples: wideSamples(400, 5), Margin: 0.5},
			Approx: ApproxConfig{Criterion: Tolerance, Tolerance: 1e-3, MaxDepth: 5, MaxCircuitDepth: budget}}
	}
	free := deepNet(layers)
	var res ApproxResult
	c := cfg(0)
	c.ApproxResult = &res
	if err := Run(free, Pipeline, c); err != nil {
		t.Fatal(err)
	}
	need := res.CircuitDepth
	if need != free.Depth {
		t.Fatalf("the search counts depth %d, the depth pass %d", need, free.Depth)
	}
	// Each dense layer takes a level and each ReLU at least two: a budget
	// of one level per activation less than that holds no candidate.
	tight := 2*layers + 1
	if need <= tight {
		t.Fatalf("the target needs depth %d only: no budget to test", need)
	}
	for _, budget := range []int{need, tight, need - 1} {
		t.Run(fmt.Sprint("budget ", budget), func(t *testing.T) {
			g := deepNet(layers)
			var got ApproxResult
			c := cfg(budget)
			c.ApproxResult = &got
			err := Run(g, Pipeline, c)
			var de *DepthError
			switch {
			case err == nil:
				if g.Depth > budget || got.CircuitDepth > budget || !got.Met {
					t.Fatalf("depth %d (counted %d) within the budget %d: target met %v", g.Depth, got.CircuitDepth, budget, got.Met)
				}
				if budget == tight {
					t.Fatalf("depth %d meets the target within %d levels, which hold every ReLU at depth 1 only", g.Depth, budget)
				}
			case errors.As(err, &de):
				if !errors.Is(err, ErrOverDepth) || !errors.Is(err, ErrTargetUnreachable) {
					t.Fatalf("%v is not ErrOverDepth and ErrTargetUnreachable", err)
				}
				if de.Needed != need || de.Available != budget {
					t.Fatalf("needs %d with %d available, want %d and %d: %v", de.Needed, de.Available, need, budget, err)
				}
				if de.Best != "" && de.BestDepth > budget {
					t.Fatalf("best candidate of depth %d over the budget %d", de.BestDepth, budget)
				}
				for _, s := range []string{fmt.Sprintf("depth %d", need), fmt.Sprintf("hold depth %d", budget)} {
					if !strings.Contains(err.Error(), s) {
						t.Fatalf("%q does not say %q", err, s)
					}
				}
				if budget == need {
					t.Fatalf("refused within the depth the target needs: %v", err)
				}
			default:
				t.Fatal(err)
			}
		})
	}
}
