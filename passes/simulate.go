package passes

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync/atomic"

	"github.com/hecc-dev/hecc/ir"
)

// form is how one activation is approximated: a single Chebyshev fit of
// some degree, or (comp set) x·(1 + sign(x))/2 with a composite sign.
type form struct {
	degree int
	comp   *composite
}

func single(d int) form { return form{degree: d} }

// exactForm is the activation itself, for diagnosis only: what the exact
// model puts into each activation on the held-out samples.
var exactForm = form{}

// depth is the levels the form takes.
func (f form) depth() int {
	if f.comp != nil {
		return f.comp.depth()
	}
	return depthOf(f.degree)
}

// mults is the ciphertext products the form takes.
func (f form) mults() int {
	if f.comp != nil {
		return f.comp.mults()
	}
	return polyMults(f.degree)
}

// cheaper orders forms by depth, then products.
func (f form) cheaper(g form) bool {
	return f.depth() < g.depth() || f.depth() == g.depth() && f.mults() < g.mults()
}

func (f form) String() string {
	if f == exactForm {
		return "exact"
	}
	if f.comp == nil {
		return fmt.Sprint(f.degree)
	}
	return fmt.Sprintf("sign%v", f.comp.degrees)
}

// depthOf is the levels of a degree-d Chebyshev polynomial on [-1, 1], as
// ir.Polynomial.Depth counts them.
func depthOf(d int) int { return bits.Len(uint(d)) }

// simulator evaluates the graph on the held-out samples with each target's
// activation replaced by a form. Under the committed forms it keeps, per
// sample, the values that the nodes from each target on read from before
// it, so that a candidate is evaluated from the first target it changes.
type simulator struct {
	s         *search
	nodes     []*ir.Node
	pos       map[*ir.Node]int
	target    map[*ir.Node]int // activation node → target index
	keep      []bool           // positions whose values are cached
	owned     []bool           // positions whose values outlive a sample: cached, or the output's
	out       int              // position of the output measured
	committed []form
	cache     [][][]float64 // [sample][position]
	reached   []float64     // under the committed forms
}

func newSimulator(s *search) *simulator {
	sim := &simulator{s: s, nodes: s.g.Nodes, pos: map[*ir.Node]int{}, target: map[*ir.Node]int{}}
	for i, n := range sim.nodes {
		sim.pos[n] = i
	}
	for i, t := range s.targets {
		sim.target[t.node] = i
	}
	sim.out = sim.pos[s.g.Outputs()[0]]
	// A position is kept when a node at or after some target reads it
	// from before that target.
	sim.keep = make([]bool, len(sim.nodes))
	for _, t := range s.targets {
		start := sim.pos[t.node]
		for _, n := range sim.nodes[start:] {
			for _, in := range n.Inputs {
				if p := sim.pos[in]; p < start {
					sim.keep[p] = true
				}
			}
		}
	}
	sim.keep[sim.out] = true // forms as committed need no evaluation
	sim.owned = slices.Clone(sim.keep)
	if n := sim.nodes[sim.out]; n.Op == ir.OpOutput { // it aliases its input
		sim.owned[sim.pos[n.Inputs[0]]] = true
	}
	sim.cache = make([][][]float64, len(s.samples))
	return sim
}

// outcome is a candidate's measure and, when complete, the values the
// simulator keeps to continue from it.
type outcome struct {
	r       reach
	met     bool
	partial bool // stopped once the target was lost: r is not the whole measure
	forms   []form
	cache   [][][]float64
}

// run simulates forms from the first target where they differ from the
// committed ones. With stopEarly, it stops as soon as more samples miss
// the target than it allows: the outcome then only says it is not met.
func (sim *simulator) run(forms []form, stopEarly bool) (*outcome, error) {
	start := 0
	if sim.committed != nil {
		start = len(sim.nodes)
		for i, f := range forms {
			if f != sim.committed[i] {
				start = min(start, sim.pos[sim.s.targets[i].node])
			}
		}
	}
	polys := make([]*ir.Polynomial, len(forms))
	for i, f := range forms {
		if f.comp == nil && f != exactForm {
			polys[i] = sim.s.targets[i].fitted(f.degree)
		}
	}
	samples := sim.s.samples
	crit, ex := &sim.s.crit, sim.s.exact
	allowed := int64(crit.allowed(len(samples)))
	var missed atomic.Int64
	o := &outcome{forms: slices.Clone(forms), cache: make([][][]float64, len(samples))}
	outs := make([][]float64, len(samples))
	errs := make([]error, len(samples))
	workers := batchWorkers(len(samples))
	reached := make([][]float64, workers)
	bufs := make([]*simBuffers, workers)
	for w := range workers {
		reached[w] = make([]float64, len(forms))
		bufs[w] = sim.newBuffers()
	}
	forBatches(len(samples), func(w, lo, hi int) {
		if stopEarly && missed.Load() > allowed {
			return
		}
		b := bufs[w]
		vals := b.vals[:hi-lo]
		if start > 0 {
			for k := range vals {
				copy(vals[k], sim.cache[lo+k])
			}
		}
		if errs[lo] = sim.evaluate(vals, b, start, samples[lo:hi], forms, polys, reached[w]); errs[lo] != nil {
			return
		}
		for k, v := range vals {
			outs[lo+k] = v[sim.out]
			if stopEarly && crit.misses(outs[lo+k], lo+k, ex) {
				missed.Add(1)
			}
			kept := make([][]float64, len(sim.nodes))
			for p, x := range v {
				if sim.keep[p] {
					kept[p] = x
				}
			}
			o.cache[lo+k] = kept
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if missed.Load() > allowed {
		o.partial = true
		return o, nil
	}
	// Targets whose input comes before start saw what the committed forms
	// gave them.
	all := make([]float64, len(forms))
	for i, t := range sim.s.targets {
		if sim.pos[t.node.Inputs[0]] < start {
			all[i] = sim.reached[i]
		}
		for _, r := range reached {
			all[i] = math.Max(all[i], r[i])
		}
	}
	o.r = crit.measure(outs, ex)
	o.r.reached = all
	o.met = crit.met(o.r) && sim.s.outOfDomain(forms, all) < 0
	return o, nil
}

// adopt makes a complete outcome's forms the committed ones.
func (sim *simulator) adopt(o *outcome) {
	sim.committed, sim.cache, sim.reached = o.forms, o.cache, o.r.reached
}

// simBuffers are one worker's: the values of a batch's samples by
// position, a scratch buffer per sample and position for values that do
// not outlive the sample, and the slices a batched map reads and writes.
type simBuffers struct {
	vals, scratch [][][]float64 // [sample in batch][position]
	xs, ys        [][]float64
}

func (sim *simulator) newBuffers() *simBuffers {
	b := &simBuffers{vals: make([][][]float64, batchSize), scratch: make([][][]float64, batchSize),
		xs: make([][]float64, batchSize), ys: make([][]float64, batchSize)}
	for k := range batchSize {
		b.vals[k] = make([][]float64, len(sim.nodes))
		b.scratch[k] = make([][]float64, len(sim.nodes))
	}
	return b
}

// evaluate computes the nodes from position start on into vals, for each
// sample of a batch (vals[k] for xs[k]). Values that outlive the sample
// (cached, or the output) are allocated; the others reuse the worker's
// scratch, one buffer per sample and position.
func (sim *simulator) evaluate(vals [][][]float64, b *simBuffers, start int, xs []*ir.Tensor, forms []form, polys []*ir.Polynomial, reached []float64) error {
	for p := start; p < len(sim.nodes); p++ {
		n := sim.nodes[p]
		buf := func(k, size int) []float64 {
			if sim.owned[p] {
				return make([]float64, size)
			}
			if len(b.scratch[k][p]) != size {
				b.scratch[k][p] = make([]float64, size)
			}
			return b.scratch[k][p]
		}
		// in is sample k's values of n's i-th input.
		in := func(k, i int) []float64 { return vals[k][sim.pos[n.Inputs[i]]] }
		if n.Op == ir.OpAffine {
			xs, ys := b.xs[:len(vals)], b.ys[:len(vals)]
			for k := range vals {
				xs[k], ys[k] = in(k, 0), buf(k, n.Linear.Rows)
			}
			n.Linear.ApplyBatch(ys, xs)
			for k, y := range ys {
				vals[k][p] = y
			}
			continue
		}
		for k := range vals {
			var v []float64
			switch n.Op {
			case ir.OpInput:
				x := xs[k]
				if want := ir.NumElements(n.InputShape()); x.Size() != want {
					return fmt.Errorf("a held-out sample has %d values, the model expects %d", x.Size(), want)
				}
				v = x.Data
				if n.Gather != nil {
					v = n.Gather.Apply(v)
				}
			case ir.OpConst:
				v = n.Const.Data
			case ir.OpPoly:
				x := in(k, 0)
				v = buf(k, len(x))
				n.Poly.EvalSlice(v, x)
			case ir.OpActivation:
				x := in(k, 0)
				v = buf(k, len(x))
				i, ok := sim.target[n]
				if !ok {
					n.Act.EvalSlice(v, x)
					break
				}
				for _, y := range x {
					reached[i] = max(reached[i], math.Abs(y)) // as math.Max, NaN included
				}
				switch {
				case polys[i] != nil:
					// On [-1, 1] the basis needs no change of variable.
					ir.Clenshaw(v, polys[i].Coeffs, x)
				case forms[i] == exactForm:
					t := sim.s.targets[i]
					for j, y := range x {
						v[j] = t.fn(y)
					}
				default:
					sim.s.targets[i].compositeSlice(forms[i].comp, v, x)
				}
			case ir.OpAdd, ir.OpMul:
				a, c := in(k, 0), in(k, 1)
				v = buf(k, len(a))
				for j := range a {
					if n.Op == ir.OpAdd {
						v[j] = a[j] + c[j]
					} else {
						v[j] = a[j] * c[j]
					}
				}
			case ir.OpOutput:
				v = in(k, 0)
			default:
				return fmt.Errorf("node %s: cannot simulate op %s", n.Label(), n.Op)
			}
			vals[k][p] = v
		}
	}
	return nil
}
