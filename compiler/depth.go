package compiler

import (
	"errors"
	"fmt"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
)

// withinDepth compiles m again when no parameters hold the circuit
// (selectErr) because the activations' forms made it too deep: with the
// approximation search held to the depth the parameters hold — as
// params.DepthBudget counts it for this circuit's slots, values and keys,
// less the levels the passes after the search added (which do not depend
// on the forms). When the target cannot be met within it, the refusal
// gains advice this function verified: the relaxed target compiles.
// Otherwise it returns selectErr.
func withinDepth(m *onnx.Model, opts Options, g *ir.Graph, req params.Requirements, approx *passes.ApproxResult, selectErr error) (*Result, error) {
	if !errors.Is(selectErr, params.ErrNoFit) || approx.Activations == 0 || approx.Samples == 0 || approx.FixedDegree > 0 || opts.Approx.MaxCircuitDepth > 0 {
		return nil, selectErr
	}
	budget := params.DepthBudget(req)
	later := g.Depth - approx.CircuitDepth
	if budget >= req.Depth || budget-later <= 0 {
		return nil, selectErr // depth is not what refuses it
	}
	opts.Approx.MaxCircuitDepth = budget - later
	res, err := Compile(m, opts)
	var de *passes.DepthError
	if !errors.As(err, &de) {
		return res, err
	}
	de.Needed += later
	de.Available += later
	de.BestDepth += later
	if de.Flag != "" {
		relaxed := opts
		relaxed.Approx = de.Relaxed
		relaxed.Progress = nil
		if r, err := Compile(m, relaxed); err == nil {
			de.Advice = append(de.Advice, fmt.Sprintf("pass %s, which compiles (depth %d, logN=%d)", de.Flag, r.Report.Depth, r.Report.Choice.LogN))
		} else {
			de.Advice = append(de.Advice, fmt.Sprintf("%s does not compile either (%v)", de.Flag, err))
		}
	}
	de.Advice = append(de.Advice, fmt.Sprintf("make the model shallower: its %d activations and their affine maps must fit %d levels", approx.Activations, de.Available))
	// Formatted now that the advice is in; selectErr says what stopped the
	// parameters short of the depth (the modulus, or the key memory).
	return nil, fmt.Errorf("%w (depth %d: %v)", de, req.Depth, selectErr)
}
