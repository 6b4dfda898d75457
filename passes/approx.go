package passes

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/hecc-dev/hecc/ir"
)

// Approximation method. Each non-polynomial activation becomes a Chebyshev
// interpolant on the interval its input was calibrated to (or bounded to):
// interpolation at Chebyshev nodes is within a small factor of the best
// uniform approximation, costs nothing to compute, and is stable at the
// degrees CKKS can afford, which Lattigo evaluates in the same basis with a
// baby-step giant-step Paterson–Stockmeyer scheme. The map of the interval
// onto [-1, 1] is an affine node placed before the polynomial, so
// squash-affine folds it into the preceding layer and it costs no level.
//
// A composite minimax sign approximation (Lattigo's comparisons) would be
// uniformly accurate away from zero, but costs 16 or more levels a ReLU;
// calibrated intervals let a single polynomial of depth 4–6 keep plaintext
// accuracy, because what the network needs is the right ranking of the
// outputs, not ReLU itself. The degree is therefore chosen per layer by
// simulating the circuit on the calibration samples: the cheapest depth
// (then the fewest multiplications) that keeps the model's top class.

// ApproxConfig controls approx-activations.
type ApproxConfig struct {
	// Degree fixes the degree of every approximation; 0 searches.
	Degree int
	// Agreement is the fraction of calibration samples whose top class the
	// circuit must keep (default 0.995).
	Agreement float64
	// MaxDepth caps the levels one approximation may take (default 7,
	// degree 127).
	MaxDepth int
}

// Defaults of the approximation search.
const (
	DefaultAgreement = 0.995
	defaultMaxDepth  = 7
	// fallbackDepth is used without calibration samples to search with.
	fallbackDepth = 5
)

// Lipschitz constants of the activations, for the error bound.
var lipschitz = map[string]func(a *ir.Activation) float64{
	"relu":       func(*ir.Activation) float64 { return 1 },
	"leaky_relu": func(a *ir.Activation) float64 { return max(1, math.Abs(a.Alpha)) },
	"clip":       func(*ir.Activation) float64 { return 1 },
	"sigmoid":    func(*ir.Activation) float64 { return 0.25 },
	"tanh":       func(*ir.Activation) float64 { return 1 },
	"softplus":   func(*ir.Activation) float64 { return 1 },
}

// Fit returns the degree-d Chebyshev interpolant of a on iv (Interval iv,
// so it is evaluated on a's own argument), with a rigorous bound on its
// error over iv.
func Fit(a *ir.Activation, iv ir.Interval, d int) *ir.Polynomial {
	p := interpolate(a, iv, d)
	half, mid := iv.Width()/2, (iv.Hi+iv.Lo)/2
	f := func(t float64) float64 { return a.Eval(half*t + mid) }
	p.MaxErr = errorBound(p.Coeffs, func(t float64) float64 { return p.Eval(half*t+mid) - f(t) }, lipschitz[a.Func](a)*half)
	return p
}

// interpolate is Fit without the error bound, for the degree search.
func interpolate(a *ir.Activation, iv ir.Interval, d int) *ir.Polynomial {
	half, mid := iv.Width()/2, (iv.Hi+iv.Lo)/2
	f := func(t float64) float64 { return a.Eval(half*t + mid) }
	n := d + 1
	coeffs := make([]float64, n)
	vals := make([]float64, n)
	for j := range n {
		vals[j] = f(math.Cos(math.Pi * (float64(j) + 0.5) / float64(n)))
	}
	for k := range n {
		var s float64
		for j := range n {
			s += vals[j] * math.Cos(math.Pi*float64(k)*(float64(j)+0.5)/float64(n))
		}
		coeffs[k] = 2 * s / float64(n)
	}
	coeffs[0] /= 2
	return &ir.Polynomial{Basis: ir.Chebyshev, Coeffs: coeffs, Interval: iv, Func: a.String(), Replaces: a, ArgScale: 1}
}

// errorBound bounds |e| on [-1, 1] for e = p − f with p = Σ c_k T_k: the
// maximum over a uniform grid plus the most |e| can grow between grid
// points, (h/2)·(Lip(p) + Lip(f)), with Lip(p) ≤ Σ k²|c_k| by Markov's
// inequality for each T_k. The grid is refined until that slack is under
// 5% of the grid maximum.
func errorBound(coeffs []float64, e func(float64) float64, lipF float64) float64 {
	var lipP float64
	for k, c := range coeffs {
		lipP += float64(k*k) * math.Abs(c)
	}
	for points := 4096; ; points *= 2 {
		h := 2 / float64(points-1)
		var worst float64
		for i := range points {
			worst = max(worst, math.Abs(e(-1+float64(i)*h)))
		}
		slack := h / 2 * (lipP + lipF)
		if slack <= 0.05*worst || points >= 1<<20 {
			return worst + slack
		}
	}
}

// ApproxActivations replaces every Activation node by a polynomial on its
// input's range, preceded by the affine map onto [-1, 1].
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
	if ac.MaxDepth == 0 {
		ac.MaxDepth = defaultMaxDepth
	}
	intervals := make([]ir.Interval, len(acts))
	for i, n := range acts {
		r := n.Inputs[0].Range
		if r == (ir.Interval{}) {
			return fmt.Errorf("%w: node %s (%s) needs the range of its input to be approximated by a polynomial: pass --calibration with sample inputs, or --input-range LO,HI",
				ErrNoRange, n.Label(), n.Act)
		}
		if r.Width() < 1e-6 {
			r = ir.Interval{Lo: r.Lo - 1e-3, Hi: r.Hi + 1e-3}
		}
		intervals[i] = r
	}
	s := &search{g: g, acts: acts, intervals: intervals, cfg: ac}
	degrees, how, err := s.choose(cfg)
	if err != nil {
		return err
	}
	for i, n := range acts {
		s.replace(n, Fit(n.Act, intervals[i], degrees[i]))
	}
	cfg.logf("approx-activations", "%d activations approximated (%s)", len(acts), how)
	for _, n := range acts {
		p := n.Poly
		cfg.logf("approx-activations", "%s: %s on [%.4g, %.4g], degree %d %s, max error %.3g, %d levels",
			n.Label(), p.Replaces, p.Interval.Lo, p.Interval.Hi, p.Degree(), p.Basis, p.MaxErr, bits.Len(uint(p.Degree())))
	}
	// The maps onto [-1, 1] go in last: the search ran on the graph with
	// each polynomial on its activation's own argument.
	for _, n := range acts {
		s.insertBasisMap(n)
	}
	return nil
}

type search struct {
	g         *ir.Graph
	acts      []*ir.Node
	intervals []ir.Interval
	cfg       ApproxConfig
	samples   []*ir.Tensor
	reference []int // exact model's top class per sample
}

// replace turns activation node n into polynomial p in place (the argument
// map stays inside p until insertBasisMap).
func (s *search) replace(n *ir.Node, p *ir.Polynomial) {
	n.Op, n.Poly, n.Act = ir.OpPoly, p, nil
}

// restore turns n back into its activation.
func (s *search) restore(n *ir.Node) {
	n.Op, n.Act, n.Poly = ir.OpActivation, n.Poly.Replaces, nil
}

func (s *search) choose(cfg *Config) ([]int, string, error) {
	degrees := make([]int, len(s.acts))
	if s.cfg.Degree > 0 {
		for i := range degrees {
			degrees[i] = s.cfg.Degree
		}
		return degrees, fmt.Sprintf("degree %d fixed by --degree", s.cfg.Degree), nil
	}
	if src := cfg.rangeSource(); src != nil {
		s.samples = src.Samples
	}
	if len(s.samples) == 0 {
		d := 1<<fallbackDepth - 1
		for i := range degrees {
			degrees[i] = d
		}
		return degrees, fmt.Sprintf("no calibration samples to measure accuracy: degree %d (%d levels) each", d, fallbackDepth), nil
	}
	ref, err := s.topClasses(true)
	if err != nil {
		return nil, "", err
	}
	s.reference = ref
	// A per-layer target whose failures add up to at most the global one.
	perLayer := 1 - (1-s.cfg.Agreement)/float64(len(s.acts))
	for i, n := range s.acts {
		d, err := s.cheapest(i, n, perLayer)
		if err != nil {
			return nil, "", err
		}
		degrees[i] = d
		s.replace(n, interpolate(n.Act, s.intervals[i], d)) // later layers see it
	}
	// The union of per-layer losses is a worst case; confirm, and deepen
	// every layer a step at a time if the whole falls short.
	for {
		agree, err := s.agreement()
		if err != nil {
			return nil, "", err
		}
		if agree >= s.cfg.Agreement {
			for _, n := range s.acts {
				s.restore(n)
			}
			return degrees, fmt.Sprintf("degrees chosen on %d calibration samples: %.2f%% top-class agreement with the exact model, target %.2f%%",
				len(s.samples), 100*agree, 100*s.cfg.Agreement), nil
		}
		raised := false
		for i, n := range s.acts {
			if bits.Len(uint(degrees[i])) < s.cfg.MaxDepth {
				degrees[i] = 1<<(bits.Len(uint(degrees[i]))+1) - 1
				s.replace(n, interpolate(n.Act, s.intervals[i], degrees[i]))
				raised = true
			}
		}
		if !raised {
			return nil, "", fmt.Errorf("no polynomial of depth ≤ %d keeps %.2f%% top-class agreement (reached %.2f%%): widen --max-depth or lower --agreement",
				s.cfg.MaxDepth, 100*s.cfg.Agreement, 100*agree)
		}
	}
}

// cheapest finds, for activation i with the earlier ones already replaced
// and the later ones exact, the smallest depth whose fullest degree meets
// target, then the smallest degree at that depth that still does.
func (s *search) cheapest(i int, n *ir.Node, target float64) (int, error) {
	meets := func(d int) (bool, error) {
		s.replace(n, interpolate(n.Act, s.intervals[i], d))
		defer s.restore(n)
		a, err := s.agreement()
		return a >= target, err
	}
	for depth := 2; depth <= s.cfg.MaxDepth; depth++ {
		ok, err := meets(1<<depth - 1)
		if err != nil {
			return 0, err
		}
		if !ok {
			continue
		}
		lo, hi := 1<<(depth-1), 1<<depth-1 // degrees with this depth
		for lo < hi {
			mid := (lo + hi) / 2
			ok, err := meets(mid)
			if err != nil {
				return 0, err
			}
			if ok {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		return hi, nil
	}
	return 1<<s.cfg.MaxDepth - 1, nil
}

func (s *search) agreement() (float64, error) {
	top, err := s.topClasses(false)
	if err != nil {
		return 0, err
	}
	same := 0
	for i, c := range top {
		if c == s.reference[i] {
			same++
		}
	}
	return float64(same) / float64(len(top)), nil
}

func (s *search) topClasses(exact bool) ([]int, error) {
	in, out := s.g.Inputs()[0], s.g.Outputs()[0]
	top := make([]int, len(s.samples))
	for i, x := range s.samples {
		o, err := ir.InterpretWith(s.g, map[string]*ir.Tensor{in.Name: x}, ir.InterpretOptions{Exact: exact})
		if err != nil {
			return nil, err
		}
		top[i] = argmax(o[out.Name].Data)
	}
	return top, nil
}

func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// insertBasisMap re-expresses polynomial n on [-1, 1] and puts the map
// t = (x − mid)/half before it; squash-affine folds that map into the
// preceding layer.
func (s *search) insertBasisMap(n *ir.Node) {
	p, in := n.Poly, n.Inputs[0]
	p.ArgScale, p.ArgShift = p.Interval.Width()/2, (p.Interval.Hi+p.Interval.Lo)/2
	p.Interval = ir.Interval{Lo: -1, Hi: 1}
	size := n.Size()
	b := ir.NewBuilder(size, size)
	bias := make([]float64, size)
	for i := range size {
		b.Add(i, i, 1/p.ArgScale)
		bias[i] = -p.ArgShift / p.ArgScale
	}
	lin, _ := b.Build(bias, "to [-1,1]") // diagonal: cannot fail
	m := &ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{in}, Shape: in.Shape, Origin: n.Origin, Linear: lin}
	for i, x := range s.g.Nodes {
		if x == n {
			s.g.Nodes = append(s.g.Nodes[:i], append([]*ir.Node{m}, s.g.Nodes[i:]...)...)
			break
		}
	}
	n.Inputs[0] = m
}
