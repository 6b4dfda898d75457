package passes

import (
	"fmt"
	"math"

	"github.com/hecc-dev/hecc/ir"
)

// Bounded domains.
//
// A polynomial is fitted on [-1, 1], the calibrated interval; past it, it
// grows like its highest Chebyshev term (a composite's stages explode
// within a few percent). An input a little outside costs accuracy on the
// few samples that bring it, which the criterion may let go, but the value
// ranges that size the first prime are taken over every calibration
// sample: one exploded value costs every ciphertext bits, or makes the
// parameters impossible. So a form is accepted only if every sample keeps
// its input within the domain where it stays bounded.

// singleGrowth is how many times its largest magnitude on [-1, 1] a single
// fit may reach on its domain.
const singleGrowth = 1 << 10

// domain is how far, in units of the calibrated scale, target t's input
// may go under form f with the form bounded.
func (t *target) domain(f form) float64 {
	if f.comp != nil {
		return compositeDomain * (1 + stageSlack)
	}
	if r, ok := t.radii[f]; ok {
		return r
	}
	if t.radii == nil {
		t.radii = map[form]float64{}
	}
	t.radii[f] = f.width() * radius(t.fitted(f)) // read at t/width
	return t.radii[f]
}

// radius is the largest r, up to compositeDomain, for which p stays within
// singleGrowth times its largest magnitude on [-1, 1] over [-r, r].
func radius(p *ir.Polynomial) float64 {
	const steps = 4096
	var peak float64
	for i := range 2*steps + 1 {
		peak = math.Max(peak, math.Abs(p.Eval(-1+float64(i)/steps)))
	}
	limit := singleGrowth * peak
	for i := 1; i <= steps; i++ {
		r := 1 + (compositeDomain-1)*float64(i)/steps
		if !(math.Abs(p.Eval(r)) <= limit && math.Abs(p.Eval(-r)) <= limit) {
			return 1 + (compositeDomain-1)*float64(i-1)/steps
		}
	}
	return compositeDomain
}

// outOfDomain is the first target whose input, reaching reached (per
// target), leaves its form's domain, or -1. The exact form has none.
func (s *search) outOfDomain(forms []form, reached []float64) int {
	for i, f := range forms {
		if f != exactForm && !(reached[i] <= s.targets[i].domain(f)) {
			return i
		}
	}
	return -1
}

// checkDomains runs the circuit on the calibration samples the search did
// not measure (those the ranges came from) and refuses it when one puts an
// activation's input beyond its form's domain. The forms must be in place:
// a composite's input is then in units of its domain (see compose).
func (s *search) checkDomains(samples []*ir.Tensor) error {
	if s.cfg.Degree > 0 {
		return nil // fixed by the user: bound-values reports what it costs
	}
	index := map[*ir.Node]int{}
	for i, t := range s.targets {
		index[t.node.Inputs[0]] = i
	}
	// Each sample's extremes are found on every core in batches, then
	// taken in sample order to name the first sample that leaves a domain.
	per := make([][]float64, len(samples))
	errs := make([]error, len(samples))
	forBatches(len(samples), func(_, lo, hi int) {
		for k := lo; k < hi; k++ {
			per[k] = make([]float64, len(s.targets))
		}
		interpretBatch(s.g, samples, lo, hi, errs, func(n *ir.Node, vs [][]float64) {
			i, ok := index[n]
			if !ok {
				return
			}
			unit := s.targets[i].unit()
			for k, v := range vs {
				r := &per[lo+k][i]
				for _, u := range v {
					*r = math.Max(*r, math.Abs(u)*unit)
				}
			}
		})
	})
	forms := make([]form, len(s.targets))
	for i, t := range s.targets {
		forms[i] = t.form
	}
	reached := make([]float64, len(s.targets))
	for k := range samples {
		if errs[k] != nil {
			return fmt.Errorf("domain check: %w", errs[k])
		}
		for i, x := range per[k] {
			reached[i] = math.Max(reached[i], x)
		}
		if i := s.outOfDomain(forms, reached); i >= 0 {
			t := s.targets[i]
			return fmt.Errorf("%w: calibration sample %d puts the input of %s (%s) at %.3g × its calibrated scale, beyond ±%.3g where it stays bounded (earlier polynomials' errors carry it there): raise --max-depth, or give more calibration samples",
				ErrTargetUnreachable, 2*k, t.node.Label(), t.form, reached[i], t.domain(t.form))
		}
	}
	return nil
}
