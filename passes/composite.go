package passes

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"

	"github.com/hecc-dev/hecc/ir"
	"gonum.org/v1/gonum/mat"
)

// Composite form of ReLU-like activations.
//
// ReLU(x) = x·(1 + sign(x))/2, and leaky ReLU is x·((1+α) + (1−α)·sign(x))/2.
// sign is approximated by a composition of low-degree odd polynomials
// (Lee, Lee, Lee, Kim, No, "Minimax approximation of sign function by
// composite polynomial for homomorphic comparison"): each stage is the
// minimax odd polynomial approximating 1 on [a, 1], a being where the
// previous stage left the smallest inputs it was to separate from 0, and
// is scaled so that it never exceeds 1, which keeps the next stage's input
// in [-1, 1]. Each stage multiplies the smallest inputs' distance from 0 by
// about its degree, so the depth grows with log(1/ε) instead of 1/ε.
//
// Beyond its interval a stage flips sign and then explodes within a few
// percent, and an input past the calibrated scale is common (a held-out
// sample, or an earlier polynomial's error): the chain is therefore built
// on u = x/compositeDomain, so that its first stage is bounded by 1, and
// every later stage's input stays in [-1, 1], for all |x| up to
// compositeDomain times the calibrated scale. The search refuses a
// candidate whose inputs go further.
//
// Precision b bits means |s(x) − sign(x)| ≤ 2^-b wherever |x| ≥ 2^-b: the
// ReLU is then within 2^-b·|x|/2 of x ↦ max(x, 0) there, and within |x|
// closer to 0, where |s| ≤ 1. The error is relative to each value rather
// than to the interval, which is what a single fit cannot give the many
// values that sit near 0 when a few reach the interval's ends.

// stageDegrees are the stage degrees considered: each the largest of its
// depth, the most a level buys.
var stageDegrees = []int{3, 7, 15, 31, 63}

// Bounds of the precision the search tries.
const (
	minCompositeBits = 2
	maxCompositeBits = 16
	// maxCompositeDepth bounds the sign's depth.
	maxCompositeDepth = 60
	// remezGrid is the number of points the minimax error is measured on.
	remezGrid = 2000
	// stageSlack is how far beyond 1 each stage stays accurate: its input
	// may exceed 1 by CKKS noise, or by a calibrated range exceeded.
	stageSlack = 1.0 / 1024
	// compositeDomain is how far, in units of the calibrated scale, a
	// composite's input may go with the composite still bounded: it costs
	// the first stage one bit of the precision asked for.
	compositeDomain = 2.0
)

// composite is a sign approximation on [-compositeDomain,
// compositeDomain] by a chain of odd Chebyshev polynomials on [-1, 1], the
// first one read at x/compositeDomain.
type composite struct {
	bits    int         // precision asked for
	degrees []int       // of the stages
	stages  [][]float64 // Chebyshev coefficients
	err     float64     // measured max |s − sign| for 2^-bits ≤ |x| ≤ compositeDomain
	peak    float64     // measured max |s| on [-compositeDomain, compositeDomain]
}

// signSlice sets y[i] to sign(x[i]) for every i (y may be x), a stage
// over the whole slice at a time.
func (c *composite) signSlice(y, x []float64) {
	for i, v := range x {
		y[i] = v / compositeDomain
	}
	for _, s := range c.stages {
		ir.Clenshaw(y, s, y)
	}
}

// depth is the levels of the sign and of the product by x.
func (c *composite) depth() int {
	d := 1
	for _, k := range c.degrees {
		d += bits.Len(uint(k))
	}
	return d
}

// mults counts the ciphertext products: each stage's and the one by x.
func (c *composite) mults() int {
	m := 1
	for _, k := range c.degrees {
		m += polyMults(k)
	}
	return m
}

func (c *composite) String() string {
	ds := make([]string, len(c.degrees))
	for i, d := range c.degrees {
		ds[i] = fmt.Sprint(d)
	}
	return fmt.Sprintf("composite sign [%s] (precision %d bits: |sign error| ≤ %.3g where |x| ≥ 2^-%d × the scale)",
		strings.Join(ds, ","), c.bits, c.err, c.bits)
}

// polyMults is the ciphertext products of a degree-d polynomial evaluated
// by baby-step giant-step: about 2√d + log2 d.
func polyMults(d int) int {
	if d < 2 {
		return 0
	}
	return int(math.Ceil(2*math.Sqrt(float64(d)))) + bits.Len(uint(d))
}

type compositeKey struct{ bits, maxStageDepth int }

var composites sync.Map // compositeKey → *composite (nil: unreachable)

// compositeSign returns the cheapest composite (fewest levels, then
// products) of stages of depth at most maxStageDepth with the given
// precision, or nil when none within maxCompositeDepth has it.
func compositeSign(b, maxStageDepth int) *composite {
	key := compositeKey{b, maxStageDepth}
	if c, ok := composites.Load(key); ok {
		return c.(*composite)
	}
	c := buildComposite(b, maxStageDepth)
	composites.Store(key, c)
	return c
}

// buildComposite searches the stage sequences by depth: for each depth the
// state is the best lower end a of the inputs still to separate (they lie
// in [a, 1]); a larger a at no more depth dominates.
func buildComposite(b, maxStageDepth int) *composite {
	eps := math.Ldexp(1, -b)
	type state struct {
		a       float64
		mults   int
		degrees []int
		stages  [][]float64
	}
	best := map[int]*state{0: {a: eps / compositeDomain}}
	var sol *state
	solDepth, solMults := math.MaxInt, math.MaxInt
	bestA := 0.0 // the largest a at any depth so far: a deeper state must beat it
	for depth := 0; depth <= maxCompositeDepth; depth++ {
		st := best[depth]
		if st == nil || st.a <= bestA && depth > 0 {
			continue
		}
		bestA = st.a
		for _, d := range stageDegrees {
			sd := bits.Len(uint(d))
			if sd > maxStageDepth || depth+sd+1 > solDepth {
				continue
			}
			coeffs, tau := signStage(st.a, 1+stageSlack, d)
			next := &state{mults: st.mults + polyMults(d), degrees: append(slices.Clone(st.degrees), d)}
			if tau <= eps {
				next.stages = append(slices.Clone(st.stages), coeffs)
				total := depth + sd + 1
				if total < solDepth || total == solDepth && next.mults < solMults {
					sol, solDepth, solMults = next, total, next.mults
				}
				continue
			}
			for k := range coeffs {
				coeffs[k] /= 1 + tau
			}
			next.stages = append(slices.Clone(st.stages), coeffs)
			next.a = (1 - tau) / (1 + tau)
			if old := best[depth+sd]; old == nil || next.a > old.a || next.a == old.a && next.mults < old.mults {
				best[depth+sd] = next
			}
		}
	}
	if sol == nil {
		return nil
	}
	c := &composite{bits: b, degrees: sol.degrees, stages: sol.stages}
	c.err, c.peak = c.measure(eps)
	return c
}

// measure finds the largest |s − 1| on [eps, compositeDomain] and the
// largest |s| on [0, compositeDomain] (s is odd), on a grid dense near 0,
// where s rises fastest, and uniform elsewhere. The grid goes through the
// stages a slice at a time (signSlice rounds as sign does).
func (c *composite) measure(eps float64) (errMax, peak float64) {
	const n = 1 << 17
	const top = compositeDomain * (1 + stageSlack)
	xs := make([]float64, 0, 3*(n+1))
	for i := 0; i <= n; i++ {
		u := float64(i) / n
		xs = append(xs, eps*math.Pow(top/eps, u), top*u, eps*u)
	}
	s := make([]float64, len(xs))
	c.signSlice(s, xs)
	for k, x := range xs {
		peak = math.Max(peak, math.Abs(s[k]))
		if x >= eps {
			errMax = math.Max(errMax, math.Abs(s[k]-1))
		}
	}
	return errMax, peak
}

// signStage returns the minimax odd polynomial of degree d (odd)
// approximating 1 on [a, b], as Chebyshev coefficients on [-1, 1], and
// its largest error there, by Remez's exchange algorithm.
func signStage(a, b float64, d int) ([]float64, float64) {
	n := (d + 1) / 2 // odd terms T_1, T_3, …, T_d
	// T_{2j+1}(cos θ) = cos((2j+1)θ): points evenly spread in θ keep the
	// system well conditioned at any degree. The grid adds points
	// geometric from a, where the extrema crowd when a is small, and
	// evenly spread beyond 1 when b > 1.
	grid := stageGrid(a, b, remezGrid)
	basis := make([]float64, len(grid)*n)
	for i, x := range grid {
		oddChebyshev(x, basis[i*n:(i+1)*n])
	}
	ref := make([]int, n+1)
	for k := range ref {
		ref[k] = k * (len(grid) - 1) / n
	}
	coeffs := make([]float64, n)
	errs := make([]float64, len(grid))
	worst := math.Inf(1)
	var best []float64
	A := mat.NewDense(n+1, n+1, nil)
	rhs := mat.NewVecDense(n+1, nil)
	var sol mat.VecDense
	for range 40 {
		for k, i := range ref {
			for j := range n {
				A.Set(k, j, basis[i*n+j])
			}
			A.Set(k, n, float64(1-2*(k%2)))
			rhs.SetVec(k, 1)
		}
		if err := sol.SolveVec(A, rhs); err != nil {
			if _, ill := err.(mat.Condition); !ill {
				break
			}
		}
		for j := range n {
			coeffs[j] = sol.AtVec(j)
		}
		level := math.Abs(sol.AtVec(n))
		maxErr := 0.0
		for i := range grid {
			var p float64
			for j, v := range basis[i*n : (i+1)*n] {
				p += coeffs[j] * v
			}
			errs[i] = p - 1
			maxErr = math.Max(maxErr, math.Abs(errs[i]))
		}
		if maxErr < worst {
			worst, best = maxErr, slices.Clone(coeffs)
		}
		if maxErr-level <= 1e-6*maxErr {
			break
		}
		next := alternatingExtrema(errs, n+1)
		if next == nil {
			break
		}
		ref = next
	}
	out := make([]float64, d+1)
	for j, c := range best {
		out[2*j+1] = c
	}
	// The error between grid points, on a grid eight times finer.
	t := make([]float64, n)
	for _, x := range stageGrid(a, b, 8*remezGrid) {
		oddChebyshev(x, t)
		var p float64
		for j, v := range t {
			p += best[j] * v
		}
		worst = math.Max(worst, math.Abs(p-1))
	}
	return out, worst
}

// stageGrid spreads about m points over [a, b]: evenly in θ = acos x up to
// 1, geometrically from a, and evenly over [1, b].
func stageGrid(a, b float64, m int) []float64 {
	top := math.Acos(a)
	grid := make([]float64, 0, m+m/8)
	for i := range m / 2 {
		u := float64(i) / float64(m/2-1)
		grid = append(grid, math.Cos(top*u), a*math.Pow(1/a, u))
	}
	if b > 1 {
		for i := range m / 8 {
			grid = append(grid, 1+(b-1)*float64(i+1)/float64(m/8))
		}
	}
	slices.Sort(grid)
	return slices.Compact(grid)
}

// oddChebyshev fills t with T_1(x), T_3(x), …, T_{2len(t)−1}(x).
func oddChebyshev(x float64, t []float64) {
	t0, t1 := 1.0, x
	for k := 1; k <= 2*len(t)-1; k++ {
		if k > 1 {
			t0, t1 = t1, 2*x*t1-t0
		}
		if k%2 == 1 {
			t[k/2] = t1
		}
	}
}

// alternatingExtrema picks m grid indices where the error alternates in
// sign with the largest magnitudes: one extremum per run of equal sign,
// then the smaller end dropped until m remain. It returns nil when fewer
// than m alternations exist.
func alternatingExtrema(errs []float64, m int) []int {
	var ext []int
	for i, e := range errs {
		if len(ext) > 0 && (e >= 0) == (errs[ext[len(ext)-1]] >= 0) {
			if math.Abs(e) > math.Abs(errs[ext[len(ext)-1]]) {
				ext[len(ext)-1] = i
			}
			continue
		}
		ext = append(ext, i)
	}
	for len(ext) > m {
		if math.Abs(errs[ext[0]]) < math.Abs(errs[ext[len(ext)-1]]) {
			ext = ext[1:]
		} else {
			ext = ext[:len(ext)-1]
		}
	}
	if len(ext) < m {
		return nil
	}
	return ext
}

// compositePoly is stage i of c as a polynomial node's payload: it
// approximates sign, exactly so on the exact signs the stage before gives.
func compositePoly(c *composite, i int) *ir.Polynomial {
	p := &ir.Polynomial{Basis: ir.Chebyshev, Coeffs: slices.Clone(c.stages[i]), Interval: ir.Interval{Lo: -1, Hi: 1},
		Func: "sign", Replaces: &ir.Activation{Func: "sign"}, ArgScale: 1}
	// |p − sign| on [-1, 1] is largest next to 0, where p is near 0.
	for k := 0; k <= 1<<12; k++ {
		x := math.Ldexp(float64(k), -12)
		p.MaxErr = math.Max(p.MaxErr, math.Abs(p.Eval(x)-1))
	}
	return p
}

// reluBound bounds |x·(1 + s(x))/2 − max(x, 0)| on [-1, 1]: |x|·|s − sign|/2
// is at most err/2 where |x| ≥ 2^-bits, and 2^-bits·(1 + peak)/2 closer
// to 0.
func (c *composite) reluBound() float64 {
	return math.Max(c.err, math.Ldexp(1+c.peak, -c.bits)) / 2
}

// composable reports whether t's activation has a composite form: a
// homogeneous one whose two slopes differ, or clip.
func (t *target) composable() bool {
	return homogeneous[t.act.Func] && t.act.Alpha != 1 || t.act.Func == "clip"
}

// compositeError bounds the error of t's composite form with sign c on
// [-1, 1]: relative to the scale for a homogeneous activation, absolute for
// clip, whose two ReLUs' arguments span up to (1 + |hinge|) each.
func (t *target) compositeError(c *composite) float64 {
	if t.act.Func != "clip" {
		return c.reluBound() * math.Abs(1-t.act.Alpha)
	}
	_, width := t.hinges()
	return t.scale * (width[0] + width[1]) * c.reluBound()
}

// hinges are where a clip target's bounds fall on [-1, 1], and the largest
// distance from each over [-1, 1], which scales its ReLU's argument.
//
// clip(x, a, b) = a + ReLU(x − a) − ReLU(x − b) = (a + b)/2 + (|x − a| −
// |x − b|)/2, and |y| = y·sign(y): the two ReLUs are one composite sign on
// their arguments stacked side by side, so the same depth as one.
func (t *target) hinges() (hinge, width [2]float64) {
	for k, b := range []float64{t.act.Lo, t.act.Hi} {
		hinge[k] = (b - t.shift) / t.scale
		width[k] = 1 + math.Abs(hinge[k])
	}
	return hinge, width
}

// clipSlice is clip on t with sign approximated by c, at every x[i]
// into y[i] (y must not be x).
func (t *target) clipSlice(c *composite, y, x []float64) {
	hinge, width := t.hinges()
	mid := (t.act.Lo + t.act.Hi) / 2
	s1 := make([]float64, len(x))
	for i, v := range x {
		y[i], s1[i] = (v-hinge[0])/width[0], (v-hinge[1])/width[1]
	}
	c.signSlice(y, y)
	c.signSlice(s1, s1)
	for i, v := range x {
		y0, y1 := v-hinge[0], v-hinge[1]
		y[i] = mid + t.scale/2*(y0*y[i]-y1*s1[i])
	}
}

// stacking is the shape holding two tensors of shape side by side (on the
// channel axis, else the only one) and where element i of copy k sits.
func stacking(shape []int) ([]int, func(k, i int) int) {
	if len(shape) < 2 {
		n := ir.NumElements(shape)
		return []int{2 * n}, func(k, i int) int { return k*n + i }
	}
	block := ir.NumElements(shape[1:])
	out := slices.Clone(shape)
	out[1] *= 2
	return out, func(k, i int) int { return (i/block*2+k)*block + i%block }
}

// composeClip replaces clip target t by its composite form with sign c:
// the map onto [-1, 1] becomes the map onto both ReLUs' arguments, stacked
// and divided by their widths and compositeDomain (u), then the chain on
// u, u·s(u) ≈ |u|, and one map back that weighs and subtracts the halves
// and adds (a + b)/2, which composes into the next layer.
func (s *search) composeClip(t *target, c *composite) {
	n, x := t.node, t.node.Inputs[0]
	shape := n.Shape
	wide, at := stacking(shape)
	var geo *ir.Geometry
	if len(shape) >= 3 { // element-wise: keep the layout of convolutions
		geo = ir.SameGeometry(len(shape) - 2)
	}
	hinge, width := t.hinges()
	size := n.Size()
	to, bias := ir.NewBuilder(2*size, x.Linear.Cols), make([]float64, 2*size)
	back := ir.NewBuilder(size, 2*size)
	mid := make([]float64, size)
	for k := range 2 {
		f := 1 / (width[k] * compositeDomain)
		for r := range size {
			x.Linear.Row(r, func(col int, w float64) { to.Add(at(k, r), col, w*f) })
			var b float64
			if x.Linear.Bias != nil {
				b = x.Linear.Bias[r]
			}
			bias[at(k, r)] = (b - hinge[k]) * f
			back.Add(r, at(k, r), float64(1-2*k)*t.scale*width[k]*compositeDomain/2)
			mid[r] = (t.act.Lo + t.act.Hi) / 2
		}
	}
	lin, _ := to.Build(bias, "composite clip: both hinges") // in range by construction
	lin.Geometry = geo
	x.Linear, x.Shape = lin, wide
	s.replace(t, compositePoly(c, 0))
	n.Shape = wide
	var added []*ir.Node
	last := n
	for i := 1; i < len(c.stages); i++ {
		p := &ir.Node{Op: ir.OpPoly, Inputs: []*ir.Node{last}, Shape: wide, Origin: n.Origin, Poly: compositePoly(c, i)}
		added = append(added, p)
		last = p
	}
	mul := &ir.Node{Op: ir.OpMul, Inputs: []*ir.Node{x, last}, Shape: wide, Origin: n.Origin}
	out, _ := back.Build(mid, "composite clip: halves") // in range by construction
	out.Geometry = geo
	res := &ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{mul}, Shape: shape, Origin: n.Origin, Linear: out}
	added = append(added, mul, res)
	// The new nodes are not in the graph yet: only n's readers move to res.
	s.g.Replace(n, res)
	i := slices.Index(s.g.Nodes, n)
	s.g.Nodes = slices.Insert(s.g.Nodes, i+1, added...)
}

// compose replaces t's activation by its composite form: the stages of c
// in a chain from u = x/compositeDomain, then x·s·(1−α)/2 + x·(1+α)/2 as
// (a·u + u·s)·compositeDomain·(1−α)/2 with a = (1+α)/(1−α). The map onto
// u is the one onto [-1, 1] divided by compositeDomain, at no cost; the
// maps by a and by compositeDomain·(1−α)/2 are diagonal: the first costs a
// level beside the chain, the second is composed into the map back from
// [-1, 1].
func (s *search) compose(t *target, c *composite) {
	n, x := t.node, t.node.Inputs[0]
	divideInputMap(n, compositeDomain)
	node := func(op ir.Op, ins ...*ir.Node) *ir.Node {
		return &ir.Node{Op: op, Inputs: ins, Shape: n.Shape, Origin: n.Origin}
	}
	scaled := func(in *ir.Node, v float64, desc string) *ir.Node {
		d := make([]float64, n.Size())
		for i := range d {
			d[i] = v
		}
		m := node(ir.OpAffine, in)
		m.Linear = diagonal(d, nil, desc)
		if len(n.Shape) >= 3 { // element-wise: keep the layout of convolutions
			m.Linear.Geometry = ir.SameGeometry(len(n.Shape) - 2)
		}
		return m
	}
	alpha := t.act.Alpha
	s.replace(t, compositePoly(c, 0))
	var added []*ir.Node
	last := n
	for i := 1; i < len(c.stages); i++ {
		p := node(ir.OpPoly, last)
		p.Poly = compositePoly(c, i)
		added = append(added, p)
		last = p
	}
	ax := scaled(x, (1+alpha)/(1-alpha), "composite: linear term")
	mul := node(ir.OpMul, x, last)
	sum := node(ir.OpAdd, ax, mul)
	res := scaled(sum, compositeDomain*(1-alpha)/2, "composite: halve")
	added = append(added, ax, mul, sum, res)
	// The new nodes are not in the graph yet: only n's readers move to res.
	s.g.Replace(n, res)
	i := slices.Index(s.g.Nodes, n)
	s.g.Nodes = slices.Insert(s.g.Nodes, i+1, added...)
}
