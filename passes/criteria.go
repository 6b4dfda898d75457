package passes

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/hecc-dev/hecc/ir"
)

// Criterion names what the degree search keeps of the exact model's
// output on the held-out calibration samples.
type Criterion string

// The criteria. An empty Criterion is detected from the graph's output.
const (
	// Top1 keeps the top class of a class vector.
	Top1 Criterion = "top1"
	// Threshold keeps every output's side of a decision threshold.
	Threshold Criterion = "threshold"
	// Tolerance bounds the largest output error relative to the output's
	// range over the samples.
	Tolerance Criterion = "tolerance"
	// Cosine bounds the least cosine similarity between the circuit's
	// output and the model's, for embeddings.
	Cosine Criterion = "cosine"
)

// Criteria lists the criteria, for flags and errors.
var Criteria = []Criterion{Top1, Threshold, Tolerance, Cosine}

// ErrUnknownCriterion reports a criterion name that is none of Criteria.
var ErrUnknownCriterion = errors.New("unknown accuracy criterion")

// ErrTargetUnreachable reports that no polynomials within the depth limit
// meet the accuracy target.
var ErrTargetUnreachable = errors.New("accuracy target unreachable")

// Defaults of the criteria's targets.
const (
	DefaultTolerance = 1e-3
	DefaultCosine    = 0.999
	// sigmoidThreshold decides a probability, logitThreshold a logit.
	sigmoidThreshold = 0.5
	logitThreshold   = 0
)

// ParseCriterion checks a criterion name; "" (detect) is accepted.
func ParseCriterion(s string) (Criterion, error) {
	c := Criterion(s)
	if s == "" || slices.Contains(Criteria, c) {
		return c, nil
	}
	names := make([]string, len(Criteria))
	for i, c := range Criteria {
		names[i] = string(c)
	}
	return "", fmt.Errorf("%w %q: expected one of %s", ErrUnknownCriterion, s, strings.Join(names, ", "))
}

// OutputKind is what a graph's output looks like to the criteria: the
// criterion it calls for, the decision threshold of a Threshold
// criterion, and why.
type OutputKind struct {
	Criterion Criterion
	Threshold float64
	Reason    string
}

// DetectOutput reads the criterion a graph's (first) output calls for. A
// class vector (one axis of several values, or a trailing Softmax/ArgMax
// the client applies) keeps its top class; one value after a Sigmoid is a
// binary classifier's probability, decided at 0.5. One value without a
// Sigmoid may be a logit or a regression value: only a bound on its error
// serves both, so it gets Tolerance (a logit is better served by
// --criterion threshold, deciding at 0, which is cheaper). Any other
// tensor gets Tolerance. It reads graphs before and after approximation.
func DetectOutput(g *ir.Graph) OutputKind {
	outs := g.Outputs()
	if len(outs) == 0 {
		return OutputKind{Criterion: Tolerance, Reason: "no output"}
	}
	out := outs[0]
	size := out.Size()
	last := 1
	if len(out.Shape) > 0 {
		last = out.Shape[len(out.Shape)-1]
	}
	sigmoid := endsInSigmoid(out)
	switch {
	case out.Post != "":
		return OutputKind{Criterion: Top1, Reason: fmt.Sprintf("output %v then %s by the client: class scores", out.Shape, out.Post)}
	case size == 1 && sigmoid:
		return OutputKind{Criterion: Threshold, Threshold: sigmoidThreshold, Reason: "one output after a Sigmoid: a binary classifier's probability, decided at 0.5"}
	case size == 1:
		return OutputKind{Criterion: Tolerance, Reason: "one output without a Sigmoid: read as a regression value (for a logit, --criterion threshold keeps its sign at 0, more cheaply)"}
	case size == last:
		return OutputKind{Criterion: Top1, Reason: fmt.Sprintf("output %v: a vector of %d class scores", out.Shape, last)}
	}
	return OutputKind{Criterion: Tolerance, Reason: fmt.Sprintf("output %v: a tensor, not a class vector", out.Shape)}
}

// endsInSigmoid reports whether the output's values come out of a sigmoid
// (or its approximation), through maps that only move values.
func endsInSigmoid(out *ir.Node) bool {
	n := out.Inputs[0]
	for n.Op == ir.OpAffine && movesOnly(n.Linear) {
		n = n.Inputs[0]
	}
	switch n.Op {
	case ir.OpActivation:
		return n.Act.Func == "sigmoid"
	case ir.OpPoly:
		return n.Poly.Replaces != nil && n.Poly.Replaces.Func == "sigmoid"
	}
	return false
}

// movesOnly reports whether every output of l is one input or zero: a
// reshape, a permutation, an output mask.
func movesOnly(l *ir.Linear) bool {
	if l.Bias != nil {
		return false
	}
	if l.Identity {
		return true
	}
	for r := range l.Rows {
		if l.RowPtr[r+1]-l.RowPtr[r] > 1 {
			return false
		}
	}
	for _, v := range l.Vals {
		if v != 1 {
			return false
		}
	}
	return true
}

// criterion is a resolved criterion with its target.
type criterion struct {
	OutputKind
	detected bool    // from the graph rather than --criterion
	target   float64 // agreement fraction, relative tolerance or cosine
	shape    []int   // of the output, for per-row top classes
	// headroom and confidence, for top1 and threshold, make the agreement
	// bound (see bound): a held-out decision is at risk when the circuit's
	// output error × headroom flips it.
	headroom   float64
	confidence float64
}

func newCriterion(g *ir.Graph, cfg ApproxConfig) criterion {
	kind := DetectOutput(g)
	c := criterion{OutputKind: kind, detected: true, headroom: max(1, cfg.Headroom), confidence: cfg.Confidence}
	if cfg.Criterion != "" && cfg.Criterion != kind.Criterion {
		c.detected = false
		c.Criterion, c.Reason = cfg.Criterion, "set by --criterion"
		c.Threshold = logitThreshold
		if endsInSigmoid(g.Outputs()[0]) {
			c.Threshold = sigmoidThreshold
		}
	}
	if outs := g.Outputs(); len(outs) > 0 {
		c.shape = outs[0].Shape
	}
	switch c.Criterion {
	case Top1, Threshold:
		c.target = cfg.Agreement
	case Tolerance:
		c.target = cfg.Tolerance
	case Cosine:
		c.target = cfg.Cosine
	}
	return c
}

// exact is the model's output on the held-out samples, and what the
// criteria compare with.
type exact struct {
	outputs [][]float64
	tops    [][][]int // per sample and row, every class at the row's maximum
	width   float64   // of the output's range over the samples
}

func newExact(outputs [][]float64, rowLen int) *exact {
	e := &exact{outputs: outputs}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, o := range outputs {
		var rows [][]int
		for r := 0; r+rowLen <= len(o); r += rowLen {
			rows = append(rows, maxima(o[r:r+rowLen]))
		}
		e.tops = append(e.tops, rows)
		for _, v := range o {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	e.width = hi - lo
	if !(e.width > 0) {
		// A constant output: relative to its magnitude, else absolute.
		e.width = math.Max(math.Abs(lo), math.Abs(hi))
		if !(e.width > 0) {
			e.width = 1
		}
	}
	return e
}

// reach is what a circuit reaches on the held-out samples: agreement
// under the criterion (top class or thresholded decisions), the largest
// output error (absolute and relative to the output's range) and the
// least cosine similarity.
type reach struct {
	agreement float64
	atRisk    int // decisions the circuit's output error × the headroom flips
	samples   int
	maxErr    float64
	meanErr   float64 // of |output error|, over every value
	relErr    float64
	cosine    float64
	reached   []float64   // per target, the largest |t| its polynomial saw
	outs      [][]float64 // the circuit's outputs it measured
}

func (c *criterion) rowLen() int {
	if len(c.shape) == 0 {
		return 1
	}
	return max(1, c.shape[len(c.shape)-1])
}

// measure compares the circuit's outputs with the model's.
func (c *criterion) measure(outs [][]float64, ex *exact) reach {
	r := reach{cosine: 1, outs: outs}
	agree, values := 0, 0
	r.samples = len(outs)
	for i, o := range outs {
		e := ex.outputs[i]
		var dot, no, ne float64
		for k := range o {
			d := math.Abs(o[k] - e[k])
			if math.IsNaN(d) {
				d = math.Inf(1)
			}
			r.maxErr = math.Max(r.maxErr, d)
			r.meanErr += d
			values++
			dot, no, ne = dot+o[k]*e[k], no+o[k]*o[k], ne+e[k]*e[k]
		}
		cos := 1.0
		if no > 0 || ne > 0 {
			cos = dot / math.Sqrt(no*ne)
		}
		if math.IsNaN(cos) {
			cos = -1
		}
		r.cosine = math.Min(r.cosine, cos)
		if c.agrees(o, e, ex.tops[i]) {
			agree++
		}
		if !c.agreesWithHeadroom(o, e, ex.tops[i]) {
			r.atRisk++
		}
	}
	r.relErr = r.maxErr / ex.width
	if values > 0 {
		r.meanErr /= float64(values)
	}
	if len(outs) > 0 {
		r.agreement = float64(agree) / float64(len(outs))
	}
	return r
}

// agrees reports whether output o makes the model's decisions: the top
// class of every row (any of a tie: a saturated Clip ties classes), or
// every value's side of the threshold (either side on it). A value that
// is not finite never agrees: the polynomial blew up.
func (c *criterion) agrees(o, e []float64, tops [][]int) bool {
	if c.Criterion == Threshold {
		for k, v := range o {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return false
			}
			if e[k] != c.Threshold && (v > c.Threshold) != (e[k] > c.Threshold) {
				return false
			}
		}
		return true
	}
	n := c.rowLen()
	for r, top := range tops {
		if !slices.Contains(top, argmax(o[r*n:(r+1)*n])) {
			return false
		}
	}
	return true
}

// agreesWithHeadroom is agrees with the circuit's output error scaled by
// the headroom: the decision is not at risk (see bound).
func (c *criterion) agreesWithHeadroom(o, e []float64, tops [][]int) bool {
	if c.headroom <= 1 {
		return c.agrees(o, e, tops)
	}
	scaled := make([]float64, len(o))
	for k := range o {
		scaled[k] = e[k] + c.headroom*(o[k]-e[k])
	}
	return c.agrees(scaled, e, tops)
}

// score orders what circuits reach: higher is better.
func (c *criterion) score(r reach) float64 {
	switch c.Criterion {
	case Tolerance:
		return -r.relErr
	case Cosine:
		return r.cosine
	}
	return r.agreement
}

// rank orders candidates for the search: score, but the agreement bound,
// which the target is met on, for an agreement.
func (c *criterion) rank(r reach) float64 {
	if c.decides() {
		return c.bound(r.atRisk, r.samples)
	}
	return c.score(r)
}

func (c *criterion) met(r reach) bool {
	switch {
	case c.Criterion == Tolerance:
		return r.relErr <= c.target
	case c.decides():
		return r.samples > 0 && r.atRisk <= c.allowed(r.samples)
	}
	return c.rank(r) >= c.target
}

// decides reports whether the criterion keeps decisions: an agreement.
func (c *criterion) decides() bool { return c.Criterion == Top1 || c.Criterion == Threshold }

// bound is the agreement the circuit keeps, at the confidence, on inputs
// the calibration never saw, when k of n held-out decisions are at risk.
//
// The target is a claim about such inputs. Checked on the held-out
// samples as they are, a search that keeps the cheapest circuit meeting it
// keeps one that met it there by chance: on a few hundred samples, a
// circuit that flips 0.8% of decisions flips at most one in 200 often
// enough. Two things make the check sound. A decision the circuit's error
// flips has its top-two gap (its distance to the threshold) below the
// error on it; one at risk, below the headroom H times that error. The
// model's gaps are no denser at a tie than a little further from it (its
// training pushed them apart), so the share of decisions the error flips
// is at most the share at risk divided by H: H times as many samples,
// which measure it with less noise. And that share is bounded above at
// the confidence (a one-sided Clopper–Pearson bound), not taken as seen.
// The bound is 1 − that upper bound ÷ H.
func (c *criterion) bound(k, n int) float64 {
	return 1 - upperRate(k, n, c.confidence)/c.headroom
}

// allowed is how many of n samples may miss with the target still met:
// for an agreement, the most decisions at risk whose bound keeps the
// target, and none when n samples cannot show the target at all (the
// report says so).
func (c *criterion) allowed(n int) int {
	if !c.decides() {
		return 0
	}
	// bound decreases with k: the last k in [0, n] that keeps the target.
	lo, hi := 0, n
	if c.bound(0, n) < c.target {
		return 0
	}
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if c.bound(mid, n) >= c.target {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// upperRate is the one-sided Clopper–Pearson upper bound, at the
// confidence, on the rate of an event seen k times in n trials: the rate
// at which k or fewer would be seen with probability 1 − confidence.
func upperRate(k, n int, confidence float64) float64 {
	if k >= n {
		return 1
	}
	lo, hi := 0.0, 1.0
	for range 60 {
		mid := (lo + hi) / 2
		if binomialCDF(k, n, mid) > 1-confidence {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// binomialCDF is P(X ≤ k) for X binomial with n trials of probability p.
func binomialCDF(k, n int, p float64) float64 {
	if p <= 0 || k >= n {
		return 1
	}
	if p >= 1 {
		return 0
	}
	lp, lq := math.Log(p), math.Log1p(-p)
	var sum float64
	for j := 0; j <= k; j++ {
		sum += math.Exp(logChoose(n, j) + float64(j)*lp + float64(n-j)*lq)
	}
	return math.Min(1, sum)
}

func logChoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// name says what the criterion keeps.
func (c *criterion) name() string {
	switch c.Criterion {
	case Top1:
		return "top-class agreement"
	case Threshold:
		return fmt.Sprintf("agreement on the decision at %g", c.Threshold)
	case Tolerance:
		return "max output error relative to the output's range"
	}
	return "least cosine similarity"
}

// value formats a reached value of the criterion.
func (c *criterion) value(r reach) string {
	switch c.Criterion {
	case Tolerance:
		return fmt.Sprintf("%.3g", r.relErr)
	case Cosine:
		return fmt.Sprintf("%.5f", r.cosine)
	}
	if r.samples == 0 {
		return fmt.Sprintf("%.2f%%", 100*r.agreement)
	}
	return fmt.Sprintf("%.2f%%, so ≥ %.2f%% on new inputs at %g%% confidence (%d of %d decisions within ×%g of flipping)",
		100*r.agreement, 100*c.bound(r.atRisk, r.samples), 100*c.confidence, r.atRisk, r.samples, c.headroom)
}

func (c *criterion) targetText() string {
	switch c.Criterion {
	case Tolerance:
		return fmt.Sprintf("≤ %.3g", c.target)
	case Cosine:
		return fmt.Sprintf("≥ %.5f", c.target)
	}
	return fmt.Sprintf("≥ %.2f%%", 100*c.target)
}

// describe says which criterion is used and why.
func (c *criterion) describe() string {
	how := "detected"
	if !c.detected {
		how = "chosen"
	}
	return fmt.Sprintf("criterion %s (%s: %s)", c.Criterion, how, c.Reason)
}

// summary reports what a circuit reached against the target, with the
// output error beside it.
func (c *criterion) summary(r reach) string {
	s := fmt.Sprintf("%s %s (target %s)", c.name(), c.value(r), c.targetText())
	if c.Criterion == Tolerance {
		return s + fmt.Sprintf("; max |output error| %.3g", r.maxErr)
	}
	return s + fmt.Sprintf("; max |output error| %.3g (%.3g of the output's range)", r.maxErr, r.relErr)
}

// flag is the option that sets the target to a value the reached r
// meets, or "" when no useful target would.
func (c *criterion) flag(r reach) string {
	_, f := c.relax(r, ApproxConfig{})
	return f
}

// relax is cfg with the target set to a value the reached r meets, and
// the option that sets it; "" when no useful target would.
func (c *criterion) relax(r reach, cfg ApproxConfig) (ApproxConfig, string) {
	switch c.Criterion {
	case Tolerance:
		if !(r.relErr > 0 && r.relErr < 0.5) { // an error half the range bounds nothing
			return cfg, ""
		}
		p := math.Pow(10, math.Floor(math.Log10(r.relErr))-1) // two significant digits, rounded up
		cfg.Tolerance = math.Ceil(r.relErr/p) * p
		return cfg, fmt.Sprintf("--tolerance %.2g", cfg.Tolerance)
	case Cosine:
		if v := math.Floor(r.cosine*1e5) / 1e5; v >= 0.5 {
			cfg.Cosine = v
			return cfg, fmt.Sprintf("--cosine %g", v)
		}
		return cfg, ""
	}
	if v := math.Floor(c.rank(r)*1e4) / 1e4; v >= 0.5 {
		cfg.Agreement = v
		return cfg, fmt.Sprintf("--agreement %g", v)
	}
	return cfg, ""
}

// misses reports whether output o of held-out sample i alone breaks the
// target: a decision lost, an error beyond the tolerance, a cosine below
// the target. A search that only asks whether a candidate meets the
// target stops once more samples miss than allowed() lets through.
func (c *criterion) misses(o []float64, i int, ex *exact) bool {
	e := ex.outputs[i]
	switch c.Criterion {
	case Tolerance:
		for k := range o {
			if d := math.Abs(o[k] - e[k]); !(d/ex.width <= c.target) {
				return true
			}
		}
		return false
	case Cosine:
		return c.measure([][]float64{o}, &exact{outputs: [][]float64{e}, tops: ex.tops[i : i+1], width: ex.width}).cosine < c.target
	}
	return !c.agreesWithHeadroom(o, e, ex.tops[i])
}
