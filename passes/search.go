package passes

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"strings"
	"sync"
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

	progress  func(SearchProgress)
	start     time.Time
	tried     int
	best      string
	bestScore float64
	bestMet   bool
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

// replace turns t's node into polynomial p; restore turns it back.
func (s *search) replace(t *target, p *ir.Polynomial) {
	t.node.Op, t.node.Poly, t.node.Act = ir.OpPoly, p, nil
}

func (s *search) restore(t *target) {
	t.node.Op, t.node.Poly, t.node.Act = ir.OpActivation, nil, t.act
}

// choose sets every target's degree and says how it was chosen and, with
// samples, what the circuit reaches.
func (s *search) choose() (string, error) {
	if s.cfg.Degree > 0 {
		for _, t := range s.targets {
			t.degree = s.cfg.Degree
		}
		how := fmt.Sprintf("degree %d fixed by --degree", s.cfg.Degree)
		if s.exact == nil {
			return how, nil
		}
		r, err := s.measureAt(nil, s.degrees(nil, nil))
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s; on %s, %s: %s", how, s.sampleText(), s.crit.describe(), s.crit.summary(r)), nil
	}
	if s.exact == nil {
		for _, t := range s.targets {
			t.degree = fallbackDegree
		}
		return fmt.Sprintf("no calibration samples to measure accuracy with: degree %d (%d levels) each", fallbackDegree, bits.Len(fallbackDegree)), nil
	}
	// Start every layer at depth 2 and raise, one level at a time, the
	// layer whose extra level improves the criterion most, until the
	// target holds.
	depth := make([]int, len(s.targets))
	for i := range depth {
		depth[i] = 2
	}
	r, err := s.measureAt(depth, nil)
	if err != nil {
		return "", err
	}
	for !s.crit.met(r) {
		best := -1
		var bestReach reach
		for i := range depth {
			if depth[i] >= s.cfg.MaxDepth {
				continue
			}
			depth[i]++
			ri, err := s.measureAt(depth, nil)
			depth[i]--
			if err != nil {
				return "", err
			}
			if best < 0 || s.crit.score(ri) > s.crit.score(bestReach) {
				best, bestReach = i, ri
			}
		}
		if best < 0 {
			return "", s.unreachable(r)
		}
		depth[best]++
		r = bestReach
	}
	// Within each layer's depth, the lowest degree that keeps the target.
	degree := s.degrees(depth, nil)
	for i, d := range depth {
		lo, hi := 1<<(d-1), 1<<d-1
		for lo < hi {
			mid := (lo + hi) / 2
			degree[i] = mid
			a, err := s.measureAt(depth, degree)
			if err != nil {
				return "", err
			}
			if s.crit.met(a) {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		degree[i] = hi
	}
	final, err := s.measureAt(depth, degree)
	if err != nil {
		return "", err
	}
	for i, t := range s.targets {
		t.degree = degree[i]
	}
	return fmt.Sprintf("degrees chosen on %s, %s: %s", s.sampleText(), s.crit.describe(), s.crit.summary(final)), nil
}

// sampleText says what the criterion is measured on.
func (s *search) sampleText() string {
	if s.heldOut {
		return fmt.Sprintf("%d held-out calibration samples", len(s.samples))
	}
	return fmt.Sprintf("the %d calibration samples (too few to hold half out)", len(s.samples))
}

// degrees is every target's degree: the given one, else the fullest of its
// depth, else the fixed one.
func (s *search) degrees(depth, degree []int) []int {
	out := make([]int, len(s.targets))
	for i, t := range s.targets {
		switch {
		case degree != nil:
			out[i] = degree[i]
		case depth != nil:
			out[i] = 1<<depth[i] - 1
		default:
			out[i] = t.degree
		}
	}
	return out
}

// unreachable explains a target no depth within --max-depth meets, r being
// what the deepest polynomials reach, with advice that works.
func (s *search) unreachable(r reach) error {
	c := &s.crit
	var advice []string
	// Polynomials diverge outside [-1, 1]: a held-out input beyond the
	// calibrated interval is a matter of margin, not of degree.
	margin := s.margin
	for i, t := range s.targets {
		if x := r.reached[i]; x > 1 {
			need := (1+s.margin)*x - 1 // per-channel scales: |x| ≤ peak·(1+margin)
			if !homogeneous[t.act.Func] {
				need = ((1+2*s.margin)*x - 1) / 2 // intervals widened on both sides
			}
			margin = math.Max(margin, need)
		}
	}
	if margin > s.margin {
		advice = append(advice, fmt.Sprintf("held-out samples put activations' inputs outside the intervals calibrated on the other half, where polynomials diverge: --margin %.2g covers them (or calibrate on more samples)",
			math.Ceil(margin*20)/20))
	}
	if f := c.flag(r); f != "" {
		advice = append(advice, "pass "+f+" (what it reaches)")
	}
	if d := s.cfg.MaxDepth + 1; d <= maxProbeDepth {
		depth := make([]int, len(s.targets))
		for i := range depth {
			depth[i] = d
		}
		deeper, err := s.measureAt(depth, nil)
		switch {
		case err != nil:
		case c.met(deeper):
			advice = append(advice, fmt.Sprintf("pass --max-depth %d, which meets it (%s)", d, c.value(deeper)))
		default:
			advice = append(advice, fmt.Sprintf("--max-depth %d reaches %s", d, c.value(deeper)))
		}
	}
	return fmt.Errorf("%w: %s: with every activation at depth %d (--max-depth), the circuit reaches %s %s on %s, short of the target %s: %s",
		ErrTargetUnreachable, c.describe(), s.cfg.MaxDepth, c.name(), c.value(r), s.sampleText(), c.targetText(), strings.Join(advice, "; "))
}

// measureAt measures the criterion with every layer at the given degree
// (or the fullest of the given depth).
func (s *search) measureAt(depth, degree []int) (reach, error) {
	deg := s.degrees(depth, degree)
	for i, t := range s.targets {
		s.replace(t, t.fit(deg[i]))
	}
	defer func() {
		for _, t := range s.targets {
			s.restore(t)
		}
	}()
	r, err := s.measure()
	if err != nil {
		return reach{}, err
	}
	s.tried++
	score, met := s.crit.score(r), s.crit.met(r)
	// A candidate that meets the target is cheaper than the last one
	// that did: the search only lowers degrees once the target holds.
	if met || (!s.bestMet && (s.best == "" || score > s.bestScore)) {
		list := make([]string, len(deg))
		for i, d := range deg {
			list[i] = fmt.Sprint(d)
		}
		s.best = fmt.Sprintf("degrees %s: %s %s (target %s)", strings.Join(list, ","), s.crit.name(), s.crit.value(r), s.crit.targetText())
		s.bestScore, s.bestMet = score, met
	}
	s.report(false)
	return r, nil
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
// held-out samples without losing a target the circuit met. The
// polynomials must be in place.
func (s *search) correctBias(samples []*ir.Tensor) (string, error) {
	before, err := s.measure()
	if err != nil {
		return "", err
	}
	sums := make([][]float64, len(s.targets))
	index := make(map[*ir.Node]int, len(s.targets))
	for i, t := range s.targets {
		sums[i] = make([]float64, t.node.Size())
		index[t.node.Inputs[0]] = i
	}
	in := s.g.Inputs()[0]
	for _, x := range samples {
		_, err := ir.InterpretObserved(s.g, map[string]*ir.Tensor{in.Name: x}, func(n *ir.Node, v []float64) {
			i, ok := index[n]
			if !ok {
				return
			}
			p := s.targets[i].node.Poly
			for j, t := range v {
				sums[i][j] += p.Eval(t) - p.EvalExact(t)
			}
		})
		if err != nil {
			return "", fmt.Errorf("bias correction: %w", err)
		}
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
		return "bias correction: no activation feeds an affine map", nil
	}
	after, err := s.measure()
	if err != nil {
		return "", err
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
		return "bias correction not applied: " + compare, nil
	}
	return fmt.Sprintf("bias correction: %d of %d activations corrected in the next affine map's bias (largest shift %.3g, after %s); %s",
		len(corrected), len(s.targets), largest, where, compare), nil
}

// outputs evaluates the held-out samples on every core (interpretation
// only reads the graph), and the largest |t| each target's polynomial
// input reached: beyond 1, outside the calibrated interval.
func (s *search) outputs() ([][]float64, []float64, error) {
	in, out := s.g.Inputs()[0], s.g.Outputs()[0]
	index := make(map[*ir.Node]int, len(s.targets))
	for i, t := range s.targets {
		index[t.node.Inputs[0]] = i
	}
	outs := make([][]float64, len(s.samples))
	errs := make([]error, len(s.samples))
	workers := max(1, runtime.GOMAXPROCS(0))
	reached := make([][]float64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		reached[w] = make([]float64, len(s.targets))
		go func() {
			defer wg.Done()
			observe := func(n *ir.Node, v []float64) {
				if i, ok := index[n]; ok {
					for _, x := range v {
						reached[w][i] = math.Max(reached[w][i], math.Abs(x))
					}
				}
			}
			for i := w; i < len(s.samples); i += workers {
				o, err := ir.InterpretObserved(s.g, map[string]*ir.Tensor{in.Name: s.samples[i]}, observe)
				if err != nil {
					errs[i] = err
					continue
				}
				outs[i] = o[out.Name].Data
			}
		}()
	}
	wg.Wait()
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
