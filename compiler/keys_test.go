package compiler

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/plan"
)

// TestSelectPlanKeyBudget: with a key budget between the workload's
// estimate of the keys and what the plan makes of them (the input
// projection's keys, which only the plan knows), selectPlan never returns
// a set whose planned keys exceed the budget.
func TestSelectPlanKeyBudget(t *testing.T) {
	tested := 0
	for _, name := range []string{"mlp", "cryptonets"} {
		t.Run(name, func(t *testing.T) {
			m, err := onnx.Load(filepath.Join("..", "testdata", "models", name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Compile(m, Options{Name: name, InputRange: &ir.Interval{Lo: 0, Hi: 1}})
			if err != nil {
				t.Fatal(err)
			}
			g, rep := res.Graph, res.Report
			req := params.Requirements{Depth: g.Depth, MinLogScale: DefaultMinLogScale, MaxLogScale: MaxLogScale,
				LogMaxValue: rep.LogMaxValue, LogSlots: g.LogSlots, Security: DefaultSecurity, Work: plan.Workload(g)}
			set := rep.Choice.Set
			estimate := set.EvalKeyBytes(req.Work)
			planned := set.EvalKeyBytes(params.Workload{Keys: plannedKeys(res.Spec)})
			if estimate >= planned {
				t.Skipf("the workload counts all %d bytes of the plan's keys", planned)
			}
			tested++
			req.MaxKeyBytes = (estimate + planned) / 2
			build := func(s params.Set) (*plan.Plan, error) { return plan.Build(name, g, s) }
			_, choice, pl, err := selectPlan(req, build)
			if errors.Is(err, params.ErrNoFit) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := choice.EvalKeyBytes(params.Workload{Keys: plannedKeys(pl.Spec)}); got > req.MaxKeyBytes {
				t.Errorf("logN=%d α=%d: planned keys take %d bytes, over the budget of %d", choice.LogN, len(choice.LogP), got, req.MaxKeyBytes)
			}
		})
	}
	if tested == 0 {
		t.Fatal("no model's plan has keys the workload misses: the test checks nothing")
	}
}
