package passes

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/hecc-dev/hecc/ir"
	"gonum.org/v1/gonum/mat"
)

// Approximation method.
//
// Each non-polynomial activation becomes one Chebyshev polynomial on
// [-1, 1], preceded by an affine map that brings its input there; that map
// (and, below, the one after) is folded into the neighbouring layers by
// squash-affine, so it costs no level. Lattigo evaluates the polynomial in
// the same basis by baby-step giant-step Paterson–Stockmeyer.
//
// ReLU and leaky ReLU are positively homogeneous, f(m·t) = m·f(t), so each
// channel of a convolution's output (each neuron of a dense layer's) is
// scaled by its own calibrated magnitude m into [-1, 1] and multiplied back
// by m after the polynomial. A channel that stays small is then
// approximated as accurately, relative to its values, as the largest one; a
// single interval for the whole layer would give it the layer's absolute
// error. Channels pool their statistics over all positions, which makes
// their ranges far more reliable than per-position ones; no scale goes
// below a tenth of the layer's largest, so a neuron that hardly moved during
// calibration cannot push a later input far outside [-1, 1], where a
// polynomial diverges. Other activations (sigmoid, tanh, softplus, clip)
// are smooth or bounded and use one interval for the layer.
//
// The polynomial is a least-squares fit weighted by where the calibration
// samples put the (normalised) inputs, plus a uniform share over [-1, 1]
// that keeps it close to f everywhere: accuracy goes where the data is, and
// the reported bound is still over the whole interval. Without calibration
// samples the weights are uniform. The degree of each layer is chosen by
// simulating the circuit on the calibration samples: the cheapest depth,
// then the fewest multiplications, that keeps what the output is for (see
// Criterion): a classifier's top class or thresholded decision on a target
// fraction of new inputs, as the held-out samples bound it (criterion.bound),
// any other output within a tolerance of the model's. Ranges and fit weights come from one half of the samples and
// the criterion is measured on the other, so the search sees what an input
// the calibration never saw does to the polynomials. When no single fit
// within --max-depth keeps the target, ReLU-like layers take a composite
// form (composite.go): deeper, but accurate relative to each value, which a
// single fit cannot be for the many values near 0 of a layer whose range a
// few large ones set. Each layer is then brought back to a single fit where
// one keeps the target, fitted on the interval widened by the margin once
// more when held-out inputs leave it (a fit diverges just past its
// interval).
//
// A polynomial's error has a mean over the data that a pooling or dense
// layer adds up instead of averaging out. Once the degrees are chosen, its
// mean per channel (neuron) is measured on the calibration half and
// subtracted in the bias of the affine map that follows, which costs
// nothing; it is kept only if it lowers the held-out output error without
// losing the target.

// ApproxConfig controls approx-activations.
type ApproxConfig struct {
	// Degree fixes the degree of every approximation; 0 searches.
	Degree int
	// Criterion is what the search keeps; empty detects it from the output.
	Criterion Criterion
	// Agreement is the fraction of new inputs whose top class (or
	// thresholded decision) the circuit must keep, as the held-out
	// calibration samples bound it (default 0.995).
	Agreement float64
	// Tolerance bounds the largest output error relative to the output's
	// range over the samples (default 1e-3).
	Tolerance float64
	// Cosine is the least cosine similarity with the model's output
	// (default 0.999).
	Cosine float64
	// MaxDepth caps the levels of one polynomial: a single fit, or each
	// stage of a composite form (default 7).
	MaxDepth int
	// MaxCircuitDepth is the most levels the whole circuit may take, as
	// the search counts them (0: no bound): when the forms it chose go
	// deeper, it searches again within it (see budget.go).
	MaxCircuitDepth int
	// Headroom, for top1 and threshold, is the factor the circuit's output
	// error is scaled by for a held-out decision to count as at risk, and
	// Confidence that of the bound on agreement the target is checked
	// against (see criterion.bound).
	Headroom   float64
	Confidence float64
}

// Defaults of the approximation search.
const (
	DefaultAgreement  = 0.995
	DefaultHeadroom   = 2
	DefaultConfidence = 0.8
	defaultMaxDepth   = 7
	// fallbackDegree is used without calibration samples to search with.
	fallbackDegree = 15
	// uniformShare is the weight spread evenly over [-1, 1] in the fit.
	uniformShare  = 0.2
	histogramBins = 512
	// scaleFloor is the least scale of a channel or neuron, relative to the
	// layer's largest.
	scaleFloor = 0.1
	// minHeldOut is the fewest samples worth holding out for validation.
	minHeldOut = 20
)

// homogeneous activations are scaled per channel or neuron.
var homogeneous = map[string]bool{"relu": true, "leaky_relu": true}

// lipschitz constants of the activations, for the error bound.
var lipschitz = map[string]func(a *ir.Activation) float64{
	"relu":       func(*ir.Activation) float64 { return 1 },
	"leaky_relu": func(a *ir.Activation) float64 { return max(1, math.Abs(a.Alpha)) },
	"clip":       func(*ir.Activation) float64 { return 1 },
	"sigmoid":    func(*ir.Activation) float64 { return 0.25 },
	"tanh":       func(*ir.Activation) float64 { return 1 },
	"softplus":   func(*ir.Activation) float64 { return 1 },
}

// target is one activation with the map that brings its input onto
// [-1, 1] and the distribution of the mapped inputs.
type target struct {
	node   *ir.Node
	act    *ir.Activation
	scale  float64 // x = scale·t + shift (for homogeneous: per neuron, in the maps)
	shift  float64
	weight []float64 // histogram of t over [-1, 1]; nil for uniform
	desc   string    // the interval, for the report
	form   form      // chosen
	fits   map[form]*ir.Polynomial
	radii  map[form]float64 // of the fits' domains
}

// fitted is single form f's fit, computed once.
func (t *target) fitted(f form) *ir.Polynomial {
	if p, ok := t.fits[f]; ok {
		return p
	}
	if t.fits == nil {
		t.fits = map[form]*ir.Polynomial{}
	}
	t.fits[f] = t.fitOn(f.degree, f.width())
	return t.fits[f]
}

// gridError is the largest error of single form f on a grid of [-1, 1]:
// an estimate, for comparing forms.
func (t *target) gridError(f form) float64 {
	p, r := t.fitted(f), f.width()
	var worst float64
	for i := range 4097 {
		x := -1 + float64(i)/2048
		worst = math.Max(worst, math.Abs(p.Eval(x/r)-t.fn(x)))
	}
	return worst
}

// compositeSlice sets y[i] to t's activation (homogeneous, on the scaled
// input) at x[i] with sign approximated by c: x·((1+α) + (1−α)·s(x))/2, α
// the negative slope. y must not be x.
func (t *target) compositeSlice(c *composite, y, x []float64) {
	if t.act.Func == "clip" {
		t.clipSlice(c, y, x)
		return
	}
	lo, hi := (1+t.act.Alpha)/2, (1-t.act.Alpha)/2
	c.signSlice(y, x)
	for i, v := range x {
		y[i] = v * (lo + hi*y[i])
	}
}

// fn is the activation on t.
func (t *target) fn(v float64) float64 { return t.act.Eval(t.scale*v + t.shift) }

// Fit returns the degree-d weighted least-squares Chebyshev fit on
// [-span, span] (span ≥ 1) of x ↦ a(scale·x + shift) (weights: a histogram
// over [-1, 1], or nil for uniform), read at x/span, with a rigorous bound
// on its error over [-span, span].
func Fit(a *ir.Activation, scale, shift float64, d int, span float64, weight []float64) *ir.Polynomial {
	t := &target{act: a, scale: scale, shift: shift, weight: weight}
	p := t.fitOn(d, span)
	p.MaxErr = errorBound(p, p.EvalExact, lipschitz[a.Func](a)*p.ArgScale)
	return p
}

// maxLeastSquares is the highest degree fitted by least squares: the
// system's 4(d+1) rows cost O(d³), minutes at degree 4095, while the
// interpolant at Chebyshev nodes, near-best at such degrees, costs O(d²).
const maxLeastSquares = 255

// fitOn is the degree-d fit on [-r, r], r ≥ 1, read at u = t/r: inputs
// a little beyond the calibrated interval (new inputs' own spread, earlier
// polynomials' errors) then meet the fit instead of a polynomial growing
// like its highest Chebyshev term, at the price of a larger error within
// it for the same degree. The data's weights keep their place. Read at u,
// the series stays on [-1, 1], where its evaluation is stable (as a series
// in t its terms would cancel past 1), and the map onto u is the one onto
// [-1, 1] divided by r, at no cost (see widen).
func (t *target) fitOn(d int, r float64) *ir.Polynomial {
	if r <= 1 {
		return t.fit(d)
	}
	w := &target{act: t.act, scale: t.scale * r, shift: t.shift}
	if t.weight != nil {
		w.weight = make([]float64, histogramBins)
		for b, v := range t.weight {
			x := (-1 + (float64(b)+0.5)*2/histogramBins) / r
			w.weight[max(0, min(histogramBins-1, int((x+1)/2*histogramBins)))] += v
		}
	}
	return w.fit(d)
}

func (t *target) fit(d int) *ir.Polynomial {
	if d > maxLeastSquares {
		return t.interpolate(d)
	}
	// Least squares at Chebyshev nodes stays well conditioned at any degree
	// (at equispaced points it degrades once d² exceeds the point count).
	// Each node stands for the cell dx = sin θ·π/M around it; its weight is
	// the data's share of that cell plus the uniform share.
	points := max(histogramBins, 4*(d+1))
	rows := make([]float64, 0, points*(d+1))
	rhs := make([]float64, 0, points)
	for j := range points {
		th := math.Pi * (float64(j) + 0.5) / float64(points)
		x, cell := math.Cos(th), math.Sin(th)*math.Pi/float64(points)
		w := cell / 2
		if t.weight != nil {
			b := max(0, min(histogramBins-1, int((x+1)/2*histogramBins)))
			density := t.weight[b] / (2.0 / histogramBins)
			w = uniformShare*cell/2 + (1-uniformShare)*density*cell
		}
		sw := math.Sqrt(w)
		t0, t1 := 1.0, x
		for k := 0; k <= d; k++ {
			switch k {
			case 0:
				rows = append(rows, sw*t0)
			case 1:
				rows = append(rows, sw*t1)
			default:
				t0, t1 = t1, 2*x*t1-t0
				rows = append(rows, sw*t1)
			}
		}
		rhs = append(rhs, sw*t.fn(x))
	}
	var c mat.VecDense
	if err := c.SolveVec(mat.NewDense(points, d+1, rows), mat.NewVecDense(points, rhs)); err != nil {
		return t.interpolate(d) // rank-deficient weights: interpolation needs none
	}
	return t.poly(c.RawVector().Data)
}

// interpolate is the Chebyshev interpolant at the d+1 Chebyshev nodes.
func (t *target) interpolate(d int) *ir.Polynomial {
	n := d + 1
	coeffs := make([]float64, n)
	for k := range n {
		var s float64
		for j := range n {
			th := math.Pi * (float64(j) + 0.5) / float64(n)
			s += t.fn(math.Cos(th)) * math.Cos(float64(k)*th)
		}
		coeffs[k] = 2 * s / float64(n)
	}
	coeffs[0] /= 2
	return t.poly(coeffs)
}

func (t *target) poly(coeffs []float64) *ir.Polynomial {
	return &ir.Polynomial{Basis: ir.Chebyshev, Coeffs: slices.Clone(coeffs), Interval: ir.Interval{Lo: -1, Hi: 1},
		Func: t.act.String(), Replaces: t.act, ArgScale: t.scale, ArgShift: t.shift}
}

// errorBound bounds |p − f| on [-1, 1]: the maximum over a uniform grid
// plus the most the error can grow between grid points,
// (h/2)·(Lip(p) + Lip(f)), with Lip(p) ≤ Σ k²|c_k| by Markov's inequality
// for each T_k. The grid is refined until that slack is under 5% of the
// grid maximum.
func errorBound(p *ir.Polynomial, f func(float64) float64, lipF float64) float64 {
	var lipP float64
	for k, c := range p.Coeffs {
		lipP += float64(k*k) * math.Abs(c)
	}
	for points := 4096; ; points *= 2 {
		h := 2 / float64(points-1)
		var worst float64
		for i := range points {
			x := -1 + float64(i)*h
			worst = max(worst, math.Abs(p.Eval(x)-f(x)))
		}
		slack := h / 2 * (lipP + lipF)
		if slack <= 0.05*worst || points >= 1<<20 {
			return worst + slack
		}
	}
}

// ApproxActivations replaces every Activation node by a polynomial.
func ApproxActivations(g *ir.Graph, cfg *Config) error {
	var acts []*ir.Node
	for _, n := range g.Nodes {
		if n.Op == ir.OpActivation {
			acts = append(acts, n)
		}
	}
	if len(acts) == 0 {
		return nil
	}
	ac := ApproxConfig{}
	if cfg != nil {
		ac = cfg.Approx
	}
	if ac.Agreement == 0 {
		ac.Agreement = DefaultAgreement
	}
	if ac.Tolerance == 0 {
		ac.Tolerance = DefaultTolerance
	}
	if ac.Cosine == 0 {
		ac.Cosine = DefaultCosine
	}
	if ac.MaxDepth == 0 {
		ac.MaxDepth = defaultMaxDepth
	}
	if ac.Headroom == 0 {
		ac.Headroom = DefaultHeadroom
	}
	if ac.Confidence == 0 {
		ac.Confidence = DefaultConfidence
	}
	src := cfg.rangeSource()
	s := &search{g: g, cfg: ac, crit: newCriterion(g, ac), start: time.Now()}
	if cfg != nil {
		s.progress = cfg.Progress
	}
	if src != nil {
		s.margin = src.Margin
	}
	fitSrc := src
	if src != nil && len(src.Samples) >= 2*minHeldOut {
		// Even samples calibrate, odd ones validate.
		split := *src
		split.Samples = nil
		for i, x := range src.Samples {
			if i%2 == 0 {
				split.Samples = append(split.Samples, x)
			} else {
				s.samples = append(s.samples, x)
			}
		}
		fitSrc = &split
		s.heldOut = true
	} else if src != nil {
		s.samples = src.Samples
	}
	elems, err := elementRanges(g, acts, fitSrc)
	if err != nil {
		return err
	}
	// The reference comes from the model as it is: once the maps onto
	// [-1, 1] are in place, an activation node no longer computes the
	// model's function until it is replaced.
	if len(s.samples) > 0 {
		ref, _, err := s.outputs()
		if err != nil {
			return err
		}
		s.exact = newExact(ref, s.crit.rowLen())
	}
	for i, n := range acts {
		t, err := s.normalize(n, elems[i], fitSrc)
		if err != nil {
			return err
		}
		s.targets = append(s.targets, t)
	}
	how, err := s.choose()
	s.report(true)
	if err != nil {
		return err
	}
	cfg.logf("approx-activations", "%d activations approximated (%s)", len(acts), how)
	res := ApproxResult{Activations: len(acts), FixedDegree: ac.Degree, OutputKind: s.crit.OutputKind, Target: s.crit.target,
		Headroom: s.crit.headroom, Confidence: s.crit.confidence,
		Detected: s.crit.detected, HeldOut: s.heldOut, NeedHeldOut: s.crit.resolution(), Margin: s.margin}
	chosen := make([]form, len(s.targets))
	for i, t := range s.targets {
		chosen[i] = t.form
	}
	res.CircuitDepth = s.circuitDepth(chosen)
	for _, t := range s.targets {
		layer := ApproxLayer{Node: t.node.Label(), Interval: t.desc}
		if c := t.form.comp; c != nil {
			unit := " × the scale"
			if t.act.Func == "clip" {
				unit = ", two ReLUs side by side"
			}
			cfg.logf("approx-activations", "%s: %s %s, %s, max error %.3g%s, %d levels, %d multiplications",
				t.node.Label(), t.act, t.desc, c, t.compositeError(c), unit, c.depth(), c.mults())
			layer.Form = fmt.Sprintf("composite sign %v, %d levels, bounded up to %g× the interval", c.degrees, c.depth(), compositeDomain)
			if t.act.Func == "clip" {
				s.composeClip(t, c)
			} else {
				s.compose(t, c)
			}
		} else {
			p := Fit(t.act, t.scale, t.shift, t.form.degree, t.form.width(), t.weight)
			s.widen(t, t.form.width())
			s.replace(t, p)
			wider := ""
			if t.form.span > 1 {
				wider = fmt.Sprintf(" fitted on %g× the interval", t.form.span)
			}
			cfg.logf("approx-activations", "%s: %s %s, %s degree %d%s, max error %.3g%s, %d levels, %d multiplications",
				t.node.Label(), t.act, t.desc, p.Basis, p.Degree(), wider, p.MaxErr, map[bool]string{true: " × the scale"}[homogeneous[t.act.Func]], p.Depth(), polyMults(p.Degree()))
			layer.Form = fmt.Sprintf("%s degree %d%s, %d levels", p.Basis, p.Degree(), wider, p.Depth())
		}
		res.Layers = append(res.Layers, layer)
	}
	if s.exact != nil && fitSrc != nil && len(fitSrc.Samples) > 0 {
		if err := s.checkDomains(fitSrc.Samples); err != nil {
			return err
		}
		msg, final, err := s.correctBias(fitSrc.Samples)
		if err != nil {
			return err
		}
		cfg.logf("approx-activations", "%s", msg)
		res.Samples, res.Reached, res.Met = len(s.samples), s.crit.score(final), s.crit.met(final)
		res.AtRisk = final.atRisk
		res.MaxOutputError, res.RelOutputError = final.maxErr, final.relErr
		res.NoiseRoom = s.crit.noiseRoom(final.outs, s.exact)
		for i, x := range final.reached {
			x *= s.targets[i].unit() // its input is in units of its form's interval
			res.Layers[i].Reached = x
		}
	}
	if cfg != nil && cfg.ApproxResult != nil {
		*cfg.ApproxResult = res
	}
	return nil
}

// observed holds, for one activation input, each element's range and
// (with samples) every value seen.
type observed struct {
	ranges []ir.Interval
	values []float64
}

// elementRanges finds every element's range at each activation's input:
// on the calibration samples, or by interval arithmetic from the input
// range.
func elementRanges(g *ir.Graph, acts []*ir.Node, src *RangeSource) ([]observed, error) {
	out := make([]observed, len(acts))
	if src == nil || !src.Known() {
		n := acts[0]
		return nil, fmt.Errorf("%w: node %s (%s) needs the range of its input to be approximated by a polynomial: pass --calibration with sample inputs, or --input-range LO,HI",
			ErrNoRange, n.Label(), n.Act)
	}
	index := map[*ir.Node]int{}
	for i, a := range acts {
		index[a.Inputs[0]] = i
		out[i].ranges = make([]ir.Interval, a.Size())
		for j := range out[i].ranges {
			out[i].ranges[j] = ir.Interval{Lo: math.Inf(1), Hi: math.Inf(-1)}
		}
	}
	if len(src.Samples) == 0 {
		per, err := elementIntervals(g, *src.Input)
		if err != nil {
			return nil, err
		}
		for i, a := range acts {
			out[i].ranges = per[a.Inputs[0]]
		}
		return out, nil
	}
	// Samples run on every core in batches, each worker keeping its own
	// ranges and each sample's values going to their place in sample order.
	samples := src.Samples
	for _, i := range index {
		out[i].values = make([]float64, len(samples)*len(out[i].ranges))
	}
	workers := batchWorkers(len(samples))
	ranges := make([][][]ir.Interval, workers)
	for w := range ranges {
		ranges[w] = make([][]ir.Interval, len(acts))
		for i := range acts {
			ranges[w][i] = slices.Clone(out[i].ranges)
		}
	}
	errs := make([]error, len(samples))
	forBatches(len(samples), func(w, lo, hi int) {
		interpretBatch(g, samples, lo, hi, errs, func(n *ir.Node, vs [][]float64) {
			i, ok := index[n]
			if !ok {
				return
			}
			rs := ranges[w][i]
			for k, v := range vs {
				for j, y := range v {
					r := &rs[j]
					r.Lo, r.Hi = min(r.Lo, y), max(r.Hi, y) // as math.Min and Max, NaN included
				}
				copy(out[i].values[(lo+k)*len(v):], v)
			}
		})
	})
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("calibration: %w", err)
		}
	}
	for i := range out {
		for _, rs := range ranges {
			for j, r := range rs[i] {
				o := &out[i].ranges[j]
				o.Lo, o.Hi = min(o.Lo, r.Lo), max(o.Hi, r.Hi)
			}
		}
	}
	return out, nil
}

// normalize inserts the maps that bring activation n's input onto [-1, 1]
// (and, for a homogeneous activation, back), and returns the target.
func (s *search) normalize(n *ir.Node, obs observed, src *RangeSource) (*target, error) {
	margin := 1.0
	if src != nil {
		margin += src.Margin
	}
	t := &target{node: n, act: n.Act, scale: 1}
	size := n.Size()
	in := make([]float64, size) // t = in[i]·x + bias[i]
	bias := make([]float64, size)
	var back []float64 // x-scale restored after a homogeneous activation
	if homogeneous[n.Act.Func] {
		back = make([]float64, size)
		group, what := groups(n.Shape)
		peak := map[int]float64{}
		var layer float64
		for i, r := range obs.ranges {
			m := math.Max(math.Abs(r.Lo), math.Abs(r.Hi))
			if math.IsNaN(m) || math.IsInf(m, 0) {
				return nil, fmt.Errorf("node %s: the calibrated range of its input is not finite", n.Label())
			}
			peak[group(i)] = math.Max(peak[group(i)], m)
			layer = math.Max(layer, m)
		}
		if layer == 0 {
			layer = 1 // the layer never moved: any scale is exact at 0
		}
		var largest, smallest float64 = 0, math.Inf(1)
		for i := range obs.ranges {
			m := math.Max(peak[group(i)], scaleFloor*layer) * margin
			in[i], back[i] = 1/m, m
			largest, smallest = math.Max(largest, m), math.Min(smallest, m)
		}
		t.desc = fmt.Sprintf("scaled per %s (|x| ≤ %.3g … %.3g: each %s's calibrated peak, at least a tenth of the layer's, × %g)", what, smallest, largest, what, margin)
	} else {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, r := range obs.ranges {
			lo, hi = math.Min(lo, r.Lo), math.Max(hi, r.Hi)
		}
		if math.IsInf(lo, 0) || math.IsInf(hi, 0) || math.IsNaN(lo) || math.IsNaN(hi) {
			return nil, fmt.Errorf("node %s: the calibrated range of its input is not finite", n.Label())
		}
		w := (hi - lo) * (margin - 1)
		calLo, calHi := lo, hi
		lo, hi = lo-w, hi+w
		if hi-lo < 1e-6 {
			lo, hi = lo-1e-3, hi+1e-3
		}
		t.scale, t.shift = (hi-lo)/2, (hi+lo)/2
		for i := range in {
			in[i], bias[i] = 1/t.scale, -t.shift/t.scale
		}
		t.desc = fmt.Sprintf("on [%.4g, %.4g] (calibrated [%.4g, %.4g])", lo, hi, calLo, calHi)
	}
	if obs.values != nil {
		t.weight = make([]float64, histogramBins)
		for k, x := range obs.values {
			v := x*in[k%size] + bias[k%size]
			b := int((v + 1) / 2 * histogramBins)
			t.weight[max(0, min(histogramBins-1, b))]++
		}
		for b := range t.weight {
			t.weight[b] /= float64(len(obs.values))
		}
	}
	to := diagonal(in, bias, "to [-1,1]")
	var from *ir.Linear
	if back != nil {
		from = diagonal(back, nil, "from [-1,1]")
	}
	if len(n.Shape) >= 3 { // element-wise: keep the layout of convolutions
		to.Geometry = ir.SameGeometry(len(n.Shape) - 2)
		if from != nil {
			from.Geometry = ir.SameGeometry(len(n.Shape) - 2)
		}
	}
	s.insertBefore(n, to)
	if from != nil {
		s.insertAfter(n, from)
	}
	return t, nil
}

func diagonal(d, bias []float64, desc string) *ir.Linear {
	b := ir.NewBuilder(len(d), len(d))
	for i, v := range d {
		b.Add(i, i, v)
	}
	hasBias := false
	for _, v := range bias {
		hasBias = hasBias || v != 0
	}
	if !hasBias {
		bias = nil
	}
	lin, _ := b.Build(bias, desc) // diagonal entries: cannot fail
	return lin
}

// widen divides the map onto [-1, 1] before target t by r, for a fit
// read at t/r.
func (s *search) widen(t *target, r float64) {
	if r == 1 {
		return
	}
	divideInputMap(t.node, r)
}

// divideInputMap divides the map onto [-1, 1] that feeds n by r: that map
// is normalize's own, read by n only, so it is copied and replaced.
func divideInputMap(n *ir.Node, r float64) {
	x := n.Inputs[0]
	to := *x.Linear
	to.Vals = slices.Clone(to.Vals)
	for k := range to.Vals {
		to.Vals[k] /= r
	}
	if to.Bias != nil {
		to.Bias = slices.Clone(to.Bias)
		for k := range to.Bias {
			to.Bias[k] /= r
		}
	}
	x.Linear = &to
}

// unit is the calibrated interval's half-width in units of what t's node
// reads once its form is in place.
func (t *target) unit() float64 {
	if t.form.comp != nil {
		return compositeDomain
	}
	return t.form.width()
}

// insertBefore puts an affine map between n and its input.
func (s *search) insertBefore(n *ir.Node, lin *ir.Linear) {
	in := n.Inputs[0]
	m := &ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{in}, Shape: in.Shape, Origin: n.Origin, Linear: lin}
	i := slices.Index(s.g.Nodes, n)
	s.g.Nodes = slices.Insert(s.g.Nodes, i, m)
	n.Inputs[0] = m
}

// insertAfter puts an affine map between n and its readers.
func (s *search) insertAfter(n *ir.Node, lin *ir.Linear) {
	m := &ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{n}, Shape: n.Shape, Origin: n.Origin, Linear: lin}
	s.g.Replace(n, m)
	m.Inputs[0] = n
	i := slices.Index(s.g.Nodes, n)
	s.g.Nodes = slices.Insert(s.g.Nodes, i+1, m)
}
