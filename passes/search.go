package passes

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/hecc-dev/hecc/ir"
)

// SearchProgress is the state of the degree search, reported after every
// candidate it measures and once more when it ends.
type SearchProgress struct {
	Tried   int    // candidates measured
	Best    string // the best candidate so far and what it reaches
	Elapsed time.Duration
	Done    bool
}

// maxProbeDepth is the deepest polynomial (degree 1023, the most --degree
// allows) an unreachable target is probed at for advice.
const maxProbeDepth = 10

type search struct {
	g       *ir.Graph
	cfg     ApproxConfig
	crit    criterion
	targets []*target
	samples []*ir.Tensor // held out: the criterion is measured on them
	exact   *exact       // the model's outputs on samples
	margin  float64      // of the calibrated ranges
	heldOut bool         // samples are not those the ranges came from

	sim *simulator

	budget   int // most levels a candidate's circuit may take, 0: no bound
	users    map[*ir.Node][]*ir.Node
	targetOf map[*ir.Node]int
	// budgetNote says how the budget changed the choice, "" if it did not.
	budgetNote string

	progress    func(SearchProgress)
	start       time.Time
	tried       int
	best        string
	bestScore   float64
	bestMisses  int // of the best, as the criterion's misses counts them
	bestMet     bool
	bestOutcome *outcome // the candidate best describes
	// exactReach is the exact model's largest |t| at each target on the
	// held-out samples, once measured.
	exactReach []float64
}

// groups returns the channel (axis 1) of each element of a [N, C,
// spatial…] tensor, else the element itself, and what a group is called.
func groups(shape []int) (func(i int) int, string) {
	if len(shape) >= 3 {
		inner := ir.NumElements(shape[2:])
		return func(i int) int { return (i / inner) % shape[1] }, "channel"
	}
	return func(i int) int { return i }, "neuron"
}

// replace turns t's node into polynomial p.
func (s *search) replace(t *target, p *ir.Polynomial) {
	t.node.Op, t.node.Poly, t.node.Act = ir.OpPoly, p, nil
}

// choose sets every target's form and says how it was chosen and, with
// samples, what the circuit reaches.
//
// Single fits are searched first, as they always were: the cheapest depth,
// then degree, of each layer. When none within --max-depth meets the
// target, composite forms are raised in precision until one does, then
// each layer is brought back to the cheapest form that keeps the target.
// Last, a composite replaces a single fit it is cheaper than and at least
// as accurate as, if the target still holds.
func (s *search) choose() (string, error) {
	if s.cfg.Degree > 0 {
		forms := make([]form, len(s.targets))
		for i, t := range s.targets {
			t.form = single(s.cfg.Degree)
			forms[i] = t.form
		}
		how := fmt.Sprintf("degree %d fixed by --degree", s.cfg.Degree)
		if s.exact == nil {
			return how, nil
		}
		s.sim = newSimulator(s)
		o, err := s.try(forms)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s; on %s, %s: %s", how, s.sampleText(), s.crit.describe(), s.crit.summary(o.r)), nil
	}
	if s.exact == nil {
		for _, t := range s.targets {
			t.form = single(fallbackDegree)
		}
		return fmt.Sprintf("no calibration samples to measure accuracy with: degree %d (%d levels) each", fallbackDegree, bits.Len(fallbackDegree)), nil
	}
	s.sim = newSimulator(s)
	o, err := s.singleFits()
	if err != nil {
		return "", err
	}
	if !o.met {
		deepest := o
		if o, err = s.composites(); err != nil {
			return "", err
		}
		if !o.met {
			return "", s.unreachable(deepest.r, o)
		}
	}
	if o, err = s.cheaperComposites(o); err != nil {
		return "", err
	}
	if b := s.cfg.MaxCircuitDepth; b > 0 && s.circuitDepth(o.forms) > b {
		if o, err = s.withinBudget(o); err != nil {
			return "", err
		}
	}
	what := "degrees"
	for i, t := range s.targets {
		t.form = o.forms[i]
		if t.form.comp != nil {
			what = "forms"
		}
	}
	return fmt.Sprintf("%s chosen on %s, %s: %s%s", what, s.sampleText(), s.crit.describe(), s.crit.summary(o.r), s.budgetNote), nil
}

// singleFits is the search of single Chebyshev fits: every layer starts at
// depth 2, and the layer whose extra level improves the criterion most is
// raised, one level at a time, until the target holds; then each layer
// takes the lowest degree within its depth that keeps it. When the target
// is out of reach, it returns what the deepest fits reach.
func (s *search) singleFits() (*outcome, error) {
	depth := make([]int, len(s.targets))
	for i := range depth {
		depth[i] = 2
	}
	fulls := func() []form {
		f := make([]form, len(depth))
		for i, d := range depth {
			f[i] = single(1<<d - 1)
		}
		return f
	}
	o, err := s.try(fulls())
	if err != nil {
		return nil, err
	}
	s.sim.adopt(o)
	for !o.met {
		best := -1
		var bestOutcome *outcome
		for i := range depth {
			if depth[i] >= s.cfg.MaxDepth {
				continue
			}
			depth[i]++
			cand := fulls()
			depth[i]--
			if !s.fits(cand) {
				continue
			}
			oi, err := s.rival(cand, bestOutcome)
			if err != nil {
				return nil, err
			}
			if !oi.partial && (best < 0 || s.crit.rank(oi.r) > s.crit.rank(bestOutcome.r)) {
				best, bestOutcome = i, oi
			}
		}
		if best < 0 {
			return o, nil
		}
		depth[best]++
		o = bestOutcome
		s.sim.adopt(o)
	}
	// Within each layer's depth, the lowest degree that keeps the target.
	forms := fulls()
	for i, d := range depth {
		lo, hi := 1<<(d-1), 1<<d-1
		var kept *outcome
		for lo < hi {
			mid := (lo + hi) / 2
			forms[i] = single(mid)
			a, err := s.check(forms)
			if err != nil {
				return nil, err
			}
			if a.met {
				hi, kept = mid, a
			} else {
				lo = mid + 1
			}
		}
		forms[i] = single(hi)
		if kept != nil {
			s.sim.adopt(kept)
		}
	}
	return s.try(forms)
}

// compositeSteps are the precisions every layer is raised through
// together before each layer is lowered on its own.
var compositeSteps = []int{4, 6, 8, 10, 12, 14, maxCompositeBits}

// composites raises every layer that has a composite form to a composite
// of the same precision, the others staying at the deepest single fit,
// until the target holds; then brings each layer back to the cheapest
// form that keeps it: a single fit within --max-depth, else the least
// precise composite. When the target is out of reach, it returns what the
// most precise composites reach (nil when there is none).
func (s *search) composites() (*outcome, error) {
	var o *outcome
	forms := make([]form, len(s.targets))
	top := 0
	for _, b := range compositeSteps {
		c := s.composite(b)
		if c == nil {
			continue
		}
		for i, t := range s.targets {
			forms[i] = single(1<<s.cfg.MaxDepth - 1)
			if t.composable() {
				forms[i] = form{comp: c}
			}
		}
		if !s.fits(forms) {
			break // more bits only deepen the composites
		}
		var err error
		if o, err = s.try(forms); err != nil {
			return nil, err
		}
		if o.met {
			top = b
			break
		}
	}
	if top == 0 {
		return o, nil
	}
	s.sim.adopt(o)
	for i, t := range s.targets {
		// The deepest single fit, on an interval that holds the exact
		// model's held-out inputs (it diverges past it, where a composite
		// stays bounded), then the lowest degree that keeps the target;
		// else the least precise composite that does.
		cand := slices.Clone(forms)
		deepest, ok := s.deepestSingle(cand, i)
		r, err := s.span(i)
		if err != nil {
			return nil, err
		}
		deepest = wide(deepest.degree, r)
		a := &outcome{}
		if ok {
			cand[i] = deepest
			if a, err = s.check(cand); err != nil {
				return nil, err
			}
		}
		var kept *outcome
		switch {
		case a.met:
			lo, hi := 1, deepest.degree
			kept = a
			for lo < hi {
				mid := (lo + hi) / 2
				cand[i] = wide(mid, deepest.width())
				if a, err = s.check(cand); err != nil {
					return nil, err
				}
				if a.met {
					hi, kept = mid, a
				} else {
					lo = mid + 1
				}
			}
			forms[i] = wide(hi, deepest.width())
		case t.composable():
			lo, hi := minCompositeBits, top
			for lo < hi {
				mid := (lo + hi) / 2
				c := s.composite(mid)
				if c == nil {
					lo = mid + 1
					continue
				}
				cand[i] = form{comp: c}
				if a, err = s.check(cand); err != nil {
					return nil, err
				}
				if a.met {
					hi, kept = mid, a
				} else {
					lo = mid + 1
				}
			}
			forms[i] = form{comp: s.composite(hi)}
		}
		if kept != nil {
			s.sim.adopt(kept)
		}
	}
	return s.try(forms)
}

// span is the half-width, in units of the calibrated interval, of target
// i's single fit: the interval once more widened by the margin when the
// exact model's inputs on the held-out samples, so widened, leave it (the
// calibrated interval comes from the other half, and new inputs go
// further). Wider spans, which single fits would then meet the target
// with, keep less of new inputs' decisions than the composites they
// replace.
func (s *search) span(i int) (float64, error) {
	if s.exactReach == nil {
		ex, err := s.sim.run(uniform(len(s.targets), exactForm), noLimit)
		if err != nil {
			return 0, err
		}
		s.exactReach = ex.r.reached
	}
	if r := 1 + s.margin; r*s.exactReach[i] > 1 {
		return r, nil
	}
	return 1, nil
}

// cheaperComposites replaces each single fit by the cheapest composite
// that is cheaper and bounds the error no worse, if the target still
// holds with it. Composites are only built while they are shallower than
// the fit, and only simulated when their bound passes: a fit the search
// settled on is rarely worth replacing.
func (s *search) cheaperComposites(o *outcome) (*outcome, error) {
	for i, t := range s.targets {
		f := o.forms[i]
		if f.comp != nil || !t.composable() {
			continue
		}
		bound := t.gridError(f)
		for b := minCompositeBits; b <= maxCompositeBits; b++ {
			c := s.composite(b)
			if c == nil || c.depth() > f.depth() {
				break
			}
			g := form{comp: c}
			if !g.cheaper(f) || t.compositeError(c) > bound {
				continue
			}
			cand := slices.Clone(o.forms)
			cand[i] = g
			a, err := s.check(cand)
			if err != nil {
				return nil, err
			}
			if a.met {
				o = a
				s.sim.adopt(o)
				break
			}
		}
	}
	return o, nil
}

// composite is the composite sign of b bits whose stages --max-depth
// allows, or nil.
func (s *search) composite(b int) *composite {
	return compositeSign(b, s.cfg.MaxDepth)
}

// sampleText says what the criterion is measured on.
func (s *search) sampleText() string {
	if s.heldOut {
		return fmt.Sprintf("%d held-out calibration samples", len(s.samples))
	}
	return fmt.Sprintf("the %d calibration samples (too few to hold half out)", len(s.samples))
}

// unreachable explains a target that neither single fits within
// --max-depth nor composites meet, r being what the deepest fits reach and
// oc what the most precise composites reach (nil for none), with advice
// drawn from what the search tried: the best candidate it measured (a
// target it meets), one level more (measured here), and, when held-out
// inputs leave the calibrated intervals, whether a margin would cover them
// (the exact model's inputs leave them) or not (only the circuit's do:
// earlier polynomials' errors carry them out).
func (s *search) unreachable(r reach, oc *outcome) error {
	c := &s.crit
	var advice []string
	best, bestForms := r, "every activation at depth "+fmt.Sprint(s.cfg.MaxDepth)
	if oc != nil && c.rank(oc.r) > c.rank(best) {
		best, bestForms = oc.r, formsText(oc.forms)
	}
	if s.bestOutcome != nil && c.rank(s.bestOutcome.r) > c.rank(best) {
		best, bestForms = s.bestOutcome.r, formsText(s.bestOutcome.forms)
	}
	if f := c.flag(best); f != "" {
		advice = append(advice, fmt.Sprintf("pass %s to accept the best it tried (%s: %s)", f, bestForms, c.value(best)))
	}
	if d := s.cfg.MaxDepth + 1; d <= maxProbeDepth {
		deeper, err := s.try(uniform(len(s.targets), single(1<<d-1)))
		switch {
		case err != nil:
		case deeper.met:
			advice = append(advice, fmt.Sprintf("pass --max-depth %d, which meets it (%s)", d, c.value(deeper.r)))
		default:
			advice = append(advice, fmt.Sprintf("--max-depth %d does not help (%s with every activation at depth %d)", d, c.value(deeper.r), d))
		}
	}
	if m := s.marginAdvice(best.reached); m != "" {
		advice = append(advice, m)
	}
	composite := ""
	if oc != nil {
		composite = fmt.Sprintf(" (composite sign polynomials of up to %d bits reach %s)", maxCompositeBits, c.value(oc.r))
	}
	return fmt.Errorf("%w: %s: with every activation at depth %d (--max-depth), the circuit reaches %s %s%s on %s, short of the target %s: %s",
		ErrTargetUnreachable, c.describe(), s.cfg.MaxDepth, c.name(), c.value(r), composite, s.sampleText(), c.targetText(), strings.Join(advice, "; "))
}

// marginAdvice says what held-out inputs beyond the calibrated intervals
// (|t| > 1 in reached, where polynomials diverge) call for: the margin
// that covers the exact model's inputs when those leave the intervals,
// else that no margin helps, or "" when every input stayed inside.
func (s *search) marginAdvice(reached []float64) string {
	var circuit float64
	for _, x := range reached {
		circuit = math.Max(circuit, x)
	}
	if !(circuit > 1) {
		return ""
	}
	exact, err := s.sim.run(uniform(len(s.targets), exactForm), noLimit)
	if err != nil {
		return ""
	}
	margin := s.margin
	for i, t := range s.targets {
		if x := exact.r.reached[i]; x > 1 {
			need := (1+s.margin)*x - 1 // per-channel scales: |x| ≤ peak·(1+margin)
			if !homogeneous[t.act.Func] {
				need = ((1+2*s.margin)*x - 1) / 2 // intervals widened on both sides
			}
			margin = math.Max(margin, need)
		}
	}
	if margin > s.margin {
		return fmt.Sprintf("held-out samples put activations' inputs outside the intervals calibrated on the other half, where polynomials diverge: --margin %.2g would cover them (not tried), or calibrate on more samples",
			math.Ceil(margin*20)/20)
	}
	return fmt.Sprintf("the exact model keeps every activation's input within its calibrated interval, but the polynomials' errors carry later ones out of it (|t| up to %.2g), where they diverge: a wider --margin would not help", circuit)
}

// uniform is n copies of f.
func uniform(n int, f form) []form {
	forms := make([]form, n)
	for i := range forms {
		forms[i] = f
	}
	return forms
}

func formsText(forms []form) string {
	list := make([]string, len(forms))
	for i, f := range forms {
		list[i] = f.String()
	}
	return "degrees " + strings.Join(list, ",")
}

// try measures the criterion on the held-out samples with the given forms,
// from the first layer where they differ from those measured before.
func (s *search) try(forms []form) (*outcome, error) { return s.measureForms(forms, noLimit) }

// check is try when only whether the target holds matters: it stops once
// the target is lost.
func (s *search) check(forms []form) (*outcome, error) {
	return s.measureForms(forms, s.crit.allowed(len(s.samples)))
}

// rival is try for a candidate that matters only if it ranks above best
// (when given), meets the target, or is the best so far: for a criterion
// whose rank counts the samples that miss, it stops once more miss than
// that allows, and is then partial.
func (s *search) rival(forms []form, best *outcome) (*outcome, error) {
	if best == nil || (s.crit.Criterion != Top1 && s.crit.Criterion != Threshold) || !s.bestMet && s.best == "" {
		return s.try(forms)
	}
	limit := max(best.misses-1, s.crit.allowed(len(s.samples)))
	if !s.bestMet {
		limit = max(limit, s.bestMisses-1)
	}
	return s.measureForms(forms, limit)
}

func (s *search) measureForms(forms []form, limit int) (*outcome, error) {
	o, err := s.sim.run(forms, limit)
	if err != nil {
		return nil, err
	}
	s.tried++
	score := s.crit.rank(o.r)
	// A candidate that meets the target is cheaper than the last one
	// that did: the search only lowers costs once the target holds. One
	// whose inputs leave its forms' domains is no candidate, nor one
	// over the depth budget.
	valid := !o.partial && s.fits(forms) && s.outOfDomain(forms, o.r.reached) < 0
	if valid && (o.met || (!s.bestMet && (s.best == "" || score > s.bestScore))) {
		s.best = fmt.Sprintf("%s: %s %s (target %s)", formsText(forms), s.crit.name(), s.crit.value(o.r), s.crit.targetText())
		s.bestScore, s.bestMisses, s.bestMet, s.bestOutcome = score, o.misses, o.met, o
	}
	s.report(false)
	return o, nil
}

// measure evaluates the graph as it is on the held-out samples.
func (s *search) measure() (reach, error) {
	outs, reached, err := s.outputs()
	if err != nil {
		return reach{}, err
	}
	r := s.crit.measure(outs, s.exact)
	r.reached = reached
	return r, nil
}

func (s *search) report(done bool) {
	if s.progress != nil && s.tried > 0 {
		s.progress(SearchProgress{Tried: s.tried, Best: s.best, Elapsed: time.Since(s.start), Done: done})
	}
}

// correctBias folds the mean error of every polynomial, per channel or
// neuron, over the given samples into the bias of the affine maps that read
// it, and keeps the corrections if they lower the mean output error on the
// held-out samples without losing a target the circuit met. It returns
// what the circuit reaches on the held-out samples in the end. The
// polynomials must be in place.
func (s *search) correctBias(samples []*ir.Tensor) (string, reach, error) {
	before, err := s.measure()
	if err != nil {
		return "", reach{}, err
	}
	sums := make([][]float64, len(s.targets))
	index := make(map[*ir.Node]int, len(s.targets))
	for i, t := range s.targets {
		if t.form.comp != nil {
			continue // its error is relative to each value: no mean to remove
		}
		sums[i] = make([]float64, t.node.Size())
		index[t.node.Inputs[0]] = i
	}
	if err := s.sumPolyErrors(samples, index, sums); err != nil {
		return "", reach{}, fmt.Errorf("bias correction: %w", err)
	}
	users := s.g.Users()
	type change struct {
		node *ir.Node
		old  *ir.Linear
	}
	var changes []change
	var corrected []*ir.Node
	largest, where := 0.0, ""
	for i, t := range s.targets {
		if t.form.comp != nil {
			continue
		}
		// The mean per group, over its elements and the samples.
		group, _ := groups(t.node.Shape)
		sum, count := map[int]float64{}, map[int]int{}
		for j, v := range sums[i] {
			sum[group(j)] += v
			count[group(j)]++
		}
		corr := make([]float64, len(sums[i]))
		for j := range corr {
			corr[j] = sum[group(j)] / float64(count[group(j)]*len(samples))
		}
		readers := users[t.node]
		if !slices.ContainsFunc(readers, func(n *ir.Node) bool { return n.Op != ir.OpAffine }) && len(readers) > 0 {
			for _, r := range readers {
				// The maps that bring a homogeneous activation back from
				// [-1, 1] scale the correction like the values.
				shift := r.Linear.Apply(corr)
				for k, b := range r.Linear.Bias {
					shift[k] -= b
				}
				lin := *r.Linear
				lin.Bias = make([]float64, lin.Rows)
				for k := range lin.Bias {
					if r.Linear.Bias != nil {
						lin.Bias[k] = r.Linear.Bias[k]
					}
					lin.Bias[k] -= shift[k]
					if m := math.Abs(shift[k]); m > largest {
						largest, where = m, t.node.Label()
					}
				}
				changes = append(changes, change{r, r.Linear})
				r.Linear = &lin
			}
			t.node.Poly.Correction = corr
			corrected = append(corrected, t.node)
		}
	}
	if len(corrected) == 0 {
		return "bias correction: no single-fit activation feeds an affine map", before, nil
	}
	after, err := s.measure()
	if err != nil {
		return "", reach{}, err
	}
	c := &s.crit
	compare := fmt.Sprintf("held out, mean |output error| %.3g → %.3g, max %.3g → %.3g, %s %s → %s",
		before.meanErr, after.meanErr, before.maxErr, after.maxErr, c.name(), c.value(before), c.value(after))
	if (c.met(before) && !c.met(after)) || !(after.meanErr < before.meanErr) {
		for _, ch := range changes {
			ch.node.Linear = ch.old
		}
		for _, n := range corrected {
			n.Poly.Correction = nil
		}
		return "bias correction not applied: " + compare, before, nil
	}
	return fmt.Sprintf("bias correction: %d of %d activations corrected in the next affine map's bias (largest shift %.3g, after %s); %s",
		len(corrected), len(s.targets), largest, where, compare), after, nil
}

// outputs evaluates the held-out samples on every core in batches
// (interpretation only reads the graph), and the largest |t| each target's
// polynomial input reached: beyond 1, outside the calibrated interval.
func (s *search) outputs() ([][]float64, []float64, error) {
	out := s.g.Outputs()[0]
	index := make(map[*ir.Node]int, len(s.targets))
	for i, t := range s.targets {
		index[t.node.Inputs[0]] = i
	}
	outs := make([][]float64, len(s.samples))
	errs := make([]error, len(s.samples))
	reached := make([][]float64, batchWorkers(len(s.samples)))
	for w := range reached {
		reached[w] = make([]float64, len(s.targets))
	}
	forBatches(len(s.samples), func(w, lo, hi int) {
		o := interpretBatch(s.g, s.samples, lo, hi, errs, func(n *ir.Node, vs [][]float64) {
			if i, ok := index[n]; ok {
				for _, v := range vs {
					for _, x := range v {
						reached[w][i] = max(reached[w][i], math.Abs(x)) // as math.Max, NaN included
					}
				}
			}
		})
		for k, ok := range o {
			outs[lo+k] = ok[out.Name].Data
		}
	})
	for _, r := range reached[1:] {
		for i, x := range r {
			reached[0][i] = math.Max(reached[0][i], x)
		}
	}
	return outs, reached[0], errors.Join(errs...)
}

// maxima lists the indices of v's largest value.
func maxima(v []float64) []int {
	var top []int
	for i, x := range v {
		switch {
		case len(top) == 0 || x > v[top[0]]:
			top = []int{i}
		case x == v[top[0]]:
			top = append(top, i)
		}
	}
	return top
}

// argmax is the index of the largest value, or -1 when a value is not
// finite: a polynomial that blew up never agrees with the model.
func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return -1
		}
		if x > v[best] {
			best = i
		}
	}
	return best
}
