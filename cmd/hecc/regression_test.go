package main

import (
	"math"
	"slices"
	"testing"

	"github.com/hecc-dev/hecc/passes"
)

// TestDiabetesRegEncrypted runs the bundled regression model (Tanh,
// approximated; one output) encrypted on the first 25 bundled test samples:
// a regression is judged by its output error, not a top class.
func TestDiabetesRegEncrypted(t *testing.T) {
	if testing.Short() {
		t.Skip("128-bit keys and 25 evaluations")
	}
	const model = "diabetes_reg"
	set := bundledSets[model]
	res, keys, srv := bundledServer(t, model, set.calib)
	spec := res.Spec
	x, _ := loadSamples(t, set.samples)
	ref := loadRef(t, model)
	approx := res.Report.Approx
	if approx == nil || approx.Criterion != passes.Tolerance {
		t.Fatalf("compiled with %+v, want the tolerance criterion (one regression output)", approx)
	}
	// The search bounds the circuit's error by the tolerance times the
	// output's calibrated range; the test set's range stands in for it.
	span := slices.Max(ref.Data) - slices.Min(ref.Data)
	var vsCircuit, vsPyTorch float64
	const n = 25
	for i := range n {
		got, circuit, _ := evaluateBoth(t, res, keys, srv, sample(x, i))
		vsCircuit = max(vsCircuit, math.Abs(got.Data[0]-circuit.Data[0]))
		vsPyTorch = max(vsPyTorch, math.Abs(got.Data[0]-ref.Data[i]))
	}
	t.Logf("%d samples at %s: max |output error| %.3g against the plaintext circuit, %.3g against PyTorch (%.2g of the outputs' range %.3g; tolerance %g)",
		n, spec.Params, vsCircuit, vsPyTorch, vsPyTorch/span, span, approx.Target)
	// CKKS noise is far below the approximation's error; the held-out test
	// samples may reach a little past the calibration samples' error.
	if vsCircuit > 1e-2*approx.Target*span {
		t.Errorf("encrypted result %g from the plaintext circuit, more than a hundredth of the tolerance", vsCircuit)
	}
	if vsPyTorch > 2*approx.Target*span {
		t.Errorf("encrypted result %g from PyTorch, more than twice the tolerance (%g of %g)", vsPyTorch, approx.Target, span)
	}
}
