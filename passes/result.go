package passes

import (
	"fmt"
	"math"
)

// ApproxResult is what approx-activations chose and measured, for the
// reports: the criterion with its target and what the circuit reached on
// the held-out calibration samples, and how far each polynomial's interval
// reaches beyond the calibrated range.
type ApproxResult struct {
	Activations int
	// FixedDegree is --degree, or 0 when the degrees were searched.
	FixedDegree int
	OutputKind
	// Target is the criterion's: an agreement fraction, a tolerance
	// relative to the output's range, or a cosine similarity.
	Target float64
	// Detected says the criterion came from the output, not --criterion.
	Detected bool
	// Samples is how many calibration samples the criterion was measured
	// on, 0 when there were none (nothing was checked); HeldOut says they
	// were held out of the ranges and fits.
	Samples int
	HeldOut bool
	// Reached is the criterion's value on the samples (in Target's unit),
	// after bias correction; Met whether it meets Target.
	Reached float64
	Met     bool
	// Headroom and Confidence make the agreement bound Met compares with
	// Target (criterion.bound) from AtRisk, the held-out decisions the
	// output error × Headroom flips.
	Headroom       float64
	Confidence     float64
	AtRisk         int
	MaxOutputError float64 // absolute
	RelOutputError float64 // relative to the output's range over the samples
	// NoiseRoom is the largest error the parameters' noise may add to
	// every output value with the target still met on the held-out
	// samples (NoiseRoomText says what bounds it); +Inf when nothing does,
	// 0 without samples.
	NoiseRoom float64
	// NeedHeldOut is how many held-out samples an agreement target needs
	// for its bound to reach the target with no decision at risk: 161 for
	// 99.5% with the default headroom and confidence. Zero for the other
	// criteria and for a target of 100%, which no bound reaches.
	NeedHeldOut int
	// Margin is the fraction of their width the calibrated ranges were
	// widened by before fitting (--margin).
	Margin float64
	// CircuitDepth is the circuit's depth as the search counts it (see
	// MaxCircuitDepth), before the levels later passes may add.
	CircuitDepth int
	Layers       []ApproxLayer
}

// ApproxLayer is one approximated activation.
type ApproxLayer struct {
	Node     string // its label
	Form     string // the polynomial form chosen
	Interval string // the interval it is fitted on
	// Reached is the largest magnitude the held-out samples put at the
	// polynomial's input, as a fraction of its fitted interval's half-width
	// (past 1 the polynomial diverges); 0 without samples.
	Reached float64
}

// resolution is the fewest held-out samples on which the agreement bound
// with no decision at risk reaches the target: 1 − (1 − confidence)^(1/n),
// the upper bound on a rate never seen, must be at most headroom × what
// the target lets go. 0 when the criterion is not an agreement or the
// target lets nothing go.
func (c *criterion) resolution() int {
	if !c.decides() || c.target >= 1 {
		return 0
	}
	rate := c.headroom * (1 - c.target)
	if rate >= 1 {
		return 1
	}
	// A 1e-9 relative slack keeps a bound that reaches the target up to
	// rounding (as bound computes it) from asking for one sample more.
	return max(1, int(math.Ceil(math.Log(1-c.confidence)/math.Log1p(-rate)*(1-1e-9))))
}

func (r *ApproxResult) criterion() *criterion {
	return &criterion{OutputKind: r.OutputKind, detected: r.Detected, target: r.Target, headroom: r.Headroom, confidence: r.Confidence}
}

func (r *ApproxResult) reach() reach {
	return reach{agreement: r.Reached, atRisk: r.AtRisk, samples: r.Samples, relErr: r.RelOutputError, cosine: r.Reached, maxErr: r.MaxOutputError}
}

// Name says what the criterion keeps: "top-class agreement", ….
func (r *ApproxResult) Name() string { return r.criterion().name() }

// TargetText is the target as the reports write it: "≥ 99.50%".
func (r *ApproxResult) TargetText() string { return r.criterion().targetText() }

// ReachedText is what the circuit reached, with the output error beside
// it and the target.
func (r *ApproxResult) ReachedText() string { return r.criterion().summary(r.reach()) }

// Describe says which criterion was used and why.
func (r *ApproxResult) Describe() string { return r.criterion().describe() }

// SampleText says what the criterion was measured on.
func (r *ApproxResult) SampleText() string {
	if r.HeldOut {
		return fmt.Sprintf("%d held-out calibration samples", r.Samples)
	}
	return fmt.Sprintf("the %d calibration samples (too few to hold half out)", r.Samples)
}

// SamplesWanted is how many calibration samples measure the criterion
// with its target resolved: half are held out.
func (r *ApproxResult) SamplesWanted() int { return 2 * max(r.NeedHeldOut, minHeldOut) }

// Unchecked says, for a compile without calibration samples, what it could
// not check and what to give it; "" when the criterion was measured.
func (r *ApproxResult) Unchecked() string {
	if r.Samples > 0 {
		return ""
	}
	return fmt.Sprintf("without --calibration samples, %s with the exact model (target %s) was not checked: give --calibration at least %d samples to measure it (hecc simulate on labelled samples measures accuracy after the compile)",
		r.Name(), r.TargetText(), r.SamplesWanted())
}

// TooFewSamples says, when the samples cannot resolve an agreement target,
// so and how many calibration samples would; "" when they can.
func (r *ApproxResult) TooFewSamples() string {
	if r.Samples == 0 || r.Samples >= r.NeedHeldOut {
		return ""
	}
	c := r.criterion()
	return fmt.Sprintf("%s cannot show %s %s on new inputs at %g%% confidence: with no decision within ×%g of flipping, the bound reaches %.2f%%, so every one had to be that far from it and the target is not shown: give --calibration at least %d samples",
		r.SampleText(), r.Name(), r.TargetText(), 100*c.confidence, c.headroom, 100*c.bound(0, r.Samples), r.SamplesWanted())
}

// Closest is the layer whose held-out inputs came closest to the edge of
// its fitted interval (or went furthest past it), or nil without samples.
func (r *ApproxResult) Closest() *ApproxLayer {
	var out *ApproxLayer
	for i := range r.Layers {
		if l := &r.Layers[i]; l.Reached > 0 && (out == nil || l.Reached > out.Reached) {
			out = l
		}
	}
	return out
}

// MarginText says how far beyond the calibrated ranges the polynomials
// hold, and how close the held-out samples came to that edge.
func (r *ApproxResult) MarginText() string {
	if r.Samples == 0 {
		return fmt.Sprintf("the polynomials hold on the ranges --input-range gives each activation, widened by %.0f%% (--margin %g): an input outside --input-range may take them past it, where they diverge",
			100*r.Margin, r.Margin)
	}
	s := fmt.Sprintf("the polynomials hold up to %.0f%% beyond the calibrated ranges (--margin %g), and diverge past that", 100*r.Margin, r.Margin)
	if c := r.Closest(); c != nil && c.Reached <= 1 {
		s += fmt.Sprintf("; held-out samples came within %.0f%% of an interval's edge (%s)", 100*(1-c.Reached), c.Node)
	} else if c != nil {
		s += fmt.Sprintf("; held-out samples went %.0f%% past the interval of %s, and the accuracy measured includes them (--margin widens the intervals)", 100*(c.Reached-1), c.Node)
	}
	return s
}
