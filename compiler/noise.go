package compiler

import (
	"errors"
	"fmt"
	"math"

	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
)

// NoiseFit compares the CKKS noise of the chosen parameters with what the
// accuracy criterion tolerates on the held-out calibration samples.
type NoiseFit struct {
	// Bound is the output's predicted error bound (plan.Noise) under the
	// parameters chosen for it, at scale 2^LogScale, for a public-key
	// encryption.
	Bound    float64
	LogScale int
	// Room is passes.ApproxResult.NoiseRoom, and Why what bounds it.
	Room float64
	Why  string
	// Before, when the scale was raised for the noise, is the choice made
	// without it and BeforeBound its bound.
	Before      *params.Choice
	BeforeBound float64
}

// Met reports whether the noise stays within the room.
func (f *NoiseFit) Met() bool { return f.Bound <= f.Room }

// fitNoise raises the least scale until the output's predicted noise
// bound stays within the room the criterion leaves it on the held-out
// samples (approx.NoiseRoom), and chooses parameters again at that scale,
// which may take a larger ring. The approximation search measured its
// target on the plaintext circuit: a noise beyond the room could flip the
// decisions (or exceed the tolerance) the target cannot spare. Every
// rounding the noise model counts is relative to the scale, so each
// missing bit of precision is a bit of scale. req.MinLogScale, the user's
// floor, is only raised. When the most precise parameters that fit still
// leave the noise beyond the room, it keeps them and the fit says so. It
// returns nil, changing nothing, when the criterion was not measured.
func fitNoise(req params.Requirements, choice params.Choice, pl *plan.Plan, build func(params.Set) (*plan.Plan, error), approx *passes.ApproxResult) (params.Requirements, params.Choice, *plan.Plan, *NoiseFit, error) {
	if approx == nil || approx.Samples == 0 || !(approx.NoiseRoom > 0) || math.IsInf(approx.NoiseRoom, 1) {
		return req, choice, pl, nil, nil
	}
	bound, err := outputBound(pl)
	if err != nil {
		return req, params.Choice{}, nil, nil, err
	}
	fit := &NoiseFit{Bound: bound, LogScale: choice.LogScale, Room: approx.NoiseRoom, Why: approx.NoiseRoomText()}
	top := topScale(req, choice)
	for !fit.Met() && choice.LogScale < top.LogScale {
		missing := max(1, int(math.Ceil(math.Log2(fit.Bound/fit.Room))))
		next := req
		next.MinLogScale = min(choice.LogScale+missing, top.LogScale)
		nreq, nchoice, npl, err := selectPlan(next, build)
		if errors.Is(err, params.ErrNoFit) {
			break // the planned keys are over the budget at that scale
		}
		if err != nil {
			return req, params.Choice{}, nil, nil, err
		}
		if fit.Before == nil {
			before := choice
			fit.Before, fit.BeforeBound = &before, fit.Bound
		}
		req, choice, pl = nreq, nchoice, npl
		fit.LogScale = choice.LogScale
		if fit.Bound, err = outputBound(pl); err != nil {
			return req, params.Choice{}, nil, nil, err
		}
	}
	return req, choice, pl, fit, nil
}

// outputBound is the plan's predicted bound on an output's error for an
// input encrypted under the public key, the larger error of the two keys.
func outputBound(pl *plan.Plan) (float64, error) {
	n, err := pl.Noise(plan.FreshSigma(pl.Spec.Params, true))
	if err != nil {
		return 0, fmt.Errorf("cannot bound the output's error: %w", err)
	}
	return n.Bound(pl.Graph), nil
}

// Text says how the noise compares with the room, and why the scale was
// raised if it was.
func (f *NoiseFit) Text() []string {
	lines := []string{fmt.Sprintf("output error bound %s predicted; the criterion tolerates %s (%s)", pow2(f.Bound), pow2(f.Room), f.Why)}
	if r := f.Raise(); r != "" {
		lines = append(lines, r)
	}
	return lines
}

// Raise says why the scale was raised, "" when it was not.
func (f *NoiseFit) Raise() string {
	b := f.Before
	if b == nil {
		return ""
	}
	return fmt.Sprintf("scale raised to 2^%d from 2^%d (logN=%d, bound %s): output noise must stay below %s",
		f.LogScale, b.LogScale, b.LogN, pow2(f.BeforeBound), pow2(f.Room))
}

// pow2 writes a positive value with its power of two: "0.0123 (2^-6.3)".
func pow2(v float64) string { return fmt.Sprintf("%.3g (2^%.1f)", v, math.Log2(v)) }
