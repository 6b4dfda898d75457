package compiler

import (
	"math"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
)

// TestNoiseWithinCriterion compiles the regression head under tolerances
// whose approximations leave the CKKS noise little room: whatever the
// parameters, the output's noise bound, predicted again from the compiled
// spec, must stay within the room the criterion leaves it on the held-out
// samples, and some tolerance must need a scale above the default choice's
// (else the test no longer exercises the raise).
func TestNoiseWithinCriterion(t *testing.T) {
	raised := 0
	for _, tol := range []float64{4e-3, 5e-3, 6e-3, 8e-3, 1e-2, 1.5e-2, 2e-2, 3e-2} {
		res, err := Compile(regressionHead(), Options{Name: "regression", Calibration: uniformBatch(400, 13, 1), Margin: DefaultMargin,
			Approx: passes.ApproxConfig{Tolerance: tol}})
		if err != nil {
			t.Fatalf("tolerance %g: %v", tol, err)
		}
		r := res.Report
		room := r.Approx.NoiseRoom
		if !(room > 0) || math.IsInf(room, 1) {
			t.Fatalf("tolerance %g: room %g for the noise, want a positive bound", tol, room)
		}
		pl, err := plan.Rebuild(res.Spec, res.Graph)
		if err != nil {
			t.Fatal(err)
		}
		n, err := pl.Noise(plan.FreshSigma(res.Spec.Params, true))
		if err != nil {
			t.Fatal(err)
		}
		if bound := n.Bound(res.Graph); bound > room {
			t.Errorf("tolerance %g: %s: output noise bound %.3g, over the %.3g the tolerance leaves it\n%s", tol, res.Spec.Params, bound, room, r.Text())
		}
		if b := r.Noise.Before; b != nil {
			raised++
			if r.Noise.BeforeBound <= room || b.LogScale >= r.Choice.LogScale {
				t.Errorf("tolerance %g: raised from scale 2^%d (bound %.3g) to 2^%d for a room of %.3g", tol, b.LogScale, r.Noise.BeforeBound, r.Choice.LogScale, room)
			}
			if !strings.Contains(r.Text(), "scale raised to") {
				t.Errorf("tolerance %g: the report does not say why the scale was raised:\n%s", tol, r.Text())
			}
		}
	}
	if raised == 0 {
		t.Error("no tolerance needed a scale above the default choice's")
	}
}
