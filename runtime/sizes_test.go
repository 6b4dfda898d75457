package runtime

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
)

// TestPredictedEncodedBytes: the encoded weights PredictCircuitSizes
// predicts from the plan are, to the byte, what Prepare holds, for every
// form of linear map, one and two primes per level, and batch circuits
// with products left unrelinearized.
func TestPredictedEncodedBytes(t *testing.T) {
	type circuit struct {
		name  string
		build func() *ir.Graph
		batch bool
	}
	var circuits []circuit
	for _, tc := range testCircuits {
		circuits = append(circuits, circuit{tc.name, tc.build, false})
	}
	circuits = append(circuits,
		circuit{"hybrid then repeating", func() *ir.Graph {
			b, x := newGraph(14, 400)
			mid := b.dense(b.poly(b.dense(x, 12, 0.5), ir.Square()), 12, 1)
			return b.output(b.dense(b.poly(mid, ir.Square()), 3, 1))
		}, false},
		circuit{"input in parts", func() *ir.Graph {
			b := &graphBuilder{g: &ir.Graph{}, rng: rand.New(rand.NewPCG(21, 22))}
			gather := &ir.Gather{Shape: []int{8}, Parts: 2}
			for j := range 2 {
				for s := range 8 {
					gather.Slots = append(gather.Slots, (s+j)%8)
				}
			}
			x := b.g.Add(&ir.Node{Op: ir.OpInput, Name: "x", Shape: []int{16}, Gather: gather})
			bl := ir.NewBuilder(8, 16)
			for r := range 8 {
				bl.Add(r, r, 1)
				bl.Add(r, 8+r, -1)
			}
			lin, err := bl.Build(nil, "band")
			if err != nil {
				t.Fatal(err)
			}
			first := b.g.Add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{x}, Shape: []int{8}, Linear: lin})
			return b.output(b.dense(b.poly(first, ir.Square()), 3, 1))
		}, false},
		circuit{"batch, products left unrelinearized", func() *ir.Graph {
			b, x := newGraph(7, 16)
			s := b.poly(b.dense(x, 24, 1), ir.Square())
			a, c := b.dense(s, 6, 1), b.dense(s, 6, 1)
			return b.output(b.dense(b.node(ir.OpMul, a.Shape, a, c), 3, 1))
		}, true},
	)
	forms := map[plan.Form]bool{}
	for _, tc := range circuits {
		for _, logScale := range []int{35, 70} {
			if tc.batch && logScale > 35 {
				continue
			}
			t.Run(fmt.Sprintf("%s/scale 2^%d", tc.name, logScale), func(t *testing.T) {
				g := tc.build()
				pipeline := passes.Pipeline
				if tc.batch {
					pipeline = passes.BatchPipeline
				}
				if err := passes.Run(g, pipeline, nil); err != nil {
					t.Fatal(err)
				}
				set := params.InsecureTestSet(11, g.Depth, logScale)
				var pl *plan.Plan
				var err error
				if tc.batch {
					pl, err = plan.BuildBatch("sizes", g, set, 0)
				} else {
					pl, err = plan.Build("sizes", g, set)
				}
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range pl.Linear {
					forms[l.Form] = true
				}
				c := &Circuit{Spec: pl.Spec, Graph: g}
				sizes, err := PredictCircuitSizes(c)
				if err != nil {
					t.Fatal(err)
				}
				prepared, err := Prepare(c)
				if err != nil {
					t.Fatal(err)
				}
				if got := prepared.Memory().Encoded; int64(sizes.Encoded) != got || got <= 0 {
					t.Errorf("%d bytes of encoded weights predicted, Prepare holds %d", sizes.Encoded, got)
				}
			})
		}
	}
	for _, f := range []plan.Form{plan.Standard, plan.Hybrid, plan.Parts, plan.Scalars} {
		if !forms[f] {
			t.Errorf("no circuit has a %s map", f)
		}
	}
}
