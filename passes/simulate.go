package passes

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/hecc-dev/hecc/ir"
)

// form is how one activation is approximated: a single Chebyshev fit of
// some degree, or (comp set) x·(1 + sign(x))/2 with a composite sign.
type form struct {
	degree int
	// span is the half-width of a single fit's interval in units of the
	// calibrated one, 0 for 1 (see target.fit).
	span float64
	comp *composite
}

func single(d int) form { return form{degree: d} }

// wide is the degree-d single fit on [-r, r].
func wide(d int, r float64) form {
	if r <= 1 {
		return single(d)
	}
	return form{degree: d, span: r}
}

// width is the half-width of a single fit's interval.
func (f form) width() float64 { return max(1, f.span) }

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
		if f.span > 1 {
			return fmt.Sprintf("%d@±%g", f.degree, f.span)
		}
		return fmt.Sprint(f.degree)
	}
	return fmt.Sprintf("sign%v", f.comp.degrees)
}

// depthOf is the levels of a degree-d Chebyshev polynomial on [-1, 1], as
// ir.Polynomial.Depth counts them.
func depthOf(d int) int { return bits.Len(uint(d)) }

// simulator evaluates the graph on the held-out samples with each target's
// activation replaced by a form. The nodes fall into segments, one before
// the first target and one from each target (in node order) to the next:
// a segment's values depend only on the forms of the targets before its
// end. The values that later segments read are kept per segment and per
// forms of the targets it depends on, so that a candidate is evaluated
// from the first segment no candidate measured so far shares with it.
type simulator struct {
	s      *search
	nodes  []*ir.Node
	pos    map[*ir.Node]int
	target map[*ir.Node]int // activation node → target index
	keep   []bool           // positions whose values are kept
	owned  []bool           // positions whose values outlive a sample: kept, or the output's
	out    int              // position of the output measured
	// bounds[j] is where segment j starts, bounds[len(bounds)-1] the end;
	// segment j > 0 starts at target order[j-1].
	bounds []int
	order  []int
	kept   [][]int // the kept positions of each segment
	store  []map[string]*segmentValues
	bytes  int64 // held by store
	uses   int64 // runs so far, for the least recently used
	// committed are the forms the search continues from: their segments
	// stay in the store.
	committed []form
	// hard counts, per sample, the complete runs it missed the target in:
	// samples go from the most missed, so that a run that may stop once
	// the target is lost finds out soon.
	hard []int
}

// segmentValues are one segment's kept values under some forms, per
// sample, and the largest |t| its target's input reached.
type segmentValues struct {
	vals    [][][]float64 // [sample][kept position]
	reached float64
	bytes   int64
	used    int64
}

// simStoreBytes bounds the values the simulator keeps beyond those of the
// committed forms (a variable for the tests).
var simStoreBytes int64 = 256 << 20

func newSimulator(s *search) *simulator {
	sim := &simulator{s: s, nodes: s.g.Nodes, pos: map[*ir.Node]int{}, target: map[*ir.Node]int{}, hard: make([]int, len(s.samples))}
	for i, n := range sim.nodes {
		sim.pos[n] = i
	}
	for i, t := range s.targets {
		sim.target[t.node] = i
		sim.order = append(sim.order, i)
	}
	slices.SortFunc(sim.order, func(a, b int) int { return sim.pos[s.targets[a].node] - sim.pos[s.targets[b].node] })
	sim.bounds = []int{0}
	for _, i := range sim.order {
		sim.bounds = append(sim.bounds, sim.pos[s.targets[i].node])
	}
	sim.bounds = append(sim.bounds, len(sim.nodes))
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
	sim.keep[sim.out] = true // forms measured before need no evaluation
	sim.owned = slices.Clone(sim.keep)
	if n := sim.nodes[sim.out]; n.Op == ir.OpOutput { // it aliases its input
		sim.owned[sim.pos[n.Inputs[0]]] = true
	}
	segments := len(sim.bounds) - 1
	sim.kept = make([][]int, segments)
	sim.store = make([]map[string]*segmentValues, segments)
	for j := range segments {
		for p := sim.bounds[j]; p < sim.bounds[j+1]; p++ {
			if sim.keep[p] {
				sim.kept[j] = append(sim.kept[j], p)
			}
		}
		sim.store[j] = map[string]*segmentValues{}
	}
	return sim
}

// keys names, for each segment, the forms its values depend on.
func (sim *simulator) keys(forms []form) []string {
	keys := make([]string, len(sim.bounds)-1)
	var b strings.Builder
	for j := 1; j < len(keys); j++ {
		f := forms[sim.order[j-1]]
		if f.comp != nil {
			fmt.Fprintf(&b, "c%p,", f.comp)
		} else {
			fmt.Fprintf(&b, "%d@%g,", f.degree, f.span)
		}
		keys[j] = b.String()
	}
	return keys
}

// outcome is a candidate's measure.
type outcome struct {
	r       reach
	met     bool
	partial bool // stopped once the target was lost: r is not the whole measure
	misses  int  // samples the criterion's misses counts, when complete
	forms   []form
}

// noLimit is a run's limit that never stops it.
const noLimit = math.MaxInt

// run simulates forms from the first segment whose values under them are
// not kept. It stops once more than limit samples miss the target (as the
// criterion's misses counts them): the outcome is then partial, and only
// says that they did.
func (sim *simulator) run(forms []form, limit int) (*outcome, error) {
	sim.uses++
	keys := sim.keys(forms)
	have := 0 // segments whose values are kept
	for have < len(keys) && sim.store[have][keys[have]] != nil {
		sim.store[have][keys[have]].used = sim.uses
		have++
	}
	start := sim.bounds[have]
	polys := make([]*ir.Polynomial, len(forms))
	for i, f := range forms {
		if f.comp == nil && f != exactForm {
			polys[i] = sim.s.targets[i].fitted(f)
		}
	}
	samples := sim.s.samples
	crit, ex := &sim.s.crit, sim.s.exact
	order := make([]int, len(samples))
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int { return sim.hard[b] - sim.hard[a] })
	var missed atomic.Int64
	outs := make([][]float64, len(samples))
	missedAt := make([]bool, len(samples))
	vals := make([][][]float64, len(samples)) // [sample][position], kept positions only
	errs := make([]error, len(samples))
	workers := batchWorkers(len(samples))
	reached := make([][]float64, workers)
	bufs := make([]*simBuffers, workers)
	for w := range workers {
		reached[w] = make([]float64, len(forms))
		bufs[w] = sim.newBuffers()
	}
	forBatches(len(samples), func(w, lo, hi int) {
		if missed.Load() > int64(limit) {
			return
		}
		b := bufs[w]
		batch := b.vals[:hi-lo]
		xs := b.samples[:hi-lo]
		for k := range batch {
			i := order[lo+k]
			xs[k] = samples[i]
			for j := range have {
				for q, p := range sim.kept[j] {
					batch[k][p] = sim.store[j][keys[j]].vals[i][q]
				}
			}
		}
		if errs[lo] = sim.evaluate(batch, b, start, xs, forms, polys, reached[w]); errs[lo] != nil {
			return
		}
		for k, v := range batch {
			i := order[lo+k]
			outs[i] = v[sim.out]
			if crit.misses(outs[i], i, ex) {
				missedAt[i] = true
				missed.Add(1)
			}
			kept := make([][]float64, len(sim.nodes))
			for p := start; p < len(v); p++ {
				if sim.keep[p] {
					kept[p] = v[p]
				}
			}
			vals[i] = kept
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	o := &outcome{forms: slices.Clone(forms), misses: int(missed.Load())}
	if o.misses > limit {
		o.partial = true
		return o, nil
	}
	for i, m := range missedAt {
		if m {
			sim.hard[i]++
		}
	}
	// The targets of the kept segments saw what they saw then.
	all := make([]float64, len(forms))
	for j := 1; j < have; j++ {
		all[sim.order[j-1]] = sim.store[j][keys[j]].reached
	}
	for i := range all {
		for _, r := range reached {
			all[i] = math.Max(all[i], r[i])
		}
	}
	for j := have; j < len(keys); j++ {
		seg := &segmentValues{vals: make([][][]float64, len(samples)), used: sim.uses}
		if j > 0 {
			seg.reached = all[sim.order[j-1]]
		}
		for i, v := range vals {
			seg.vals[i] = make([][]float64, len(sim.kept[j]))
			for q, p := range sim.kept[j] {
				seg.vals[i][q] = v[p]
				seg.bytes += int64(8 * len(v[p]))
			}
		}
		sim.keepSegment(j, keys[j], seg)
	}
	o.r = crit.measure(outs, ex)
	o.r.reached = all
	o.met = crit.met(o.r) && sim.s.outOfDomain(forms, all) < 0
	return o, nil
}

// keepSegment stores a segment's values, then drops the least recently
// used ones beyond simStoreBytes, but for the committed forms'.
func (sim *simulator) keepSegment(j int, key string, seg *segmentValues) {
	if old := sim.store[j][key]; old != nil {
		sim.bytes -= old.bytes
	}
	sim.store[j][key] = seg
	sim.bytes += seg.bytes
	var pinned []string
	if sim.committed != nil {
		pinned = sim.keys(sim.committed)
	}
	for sim.bytes > simStoreBytes {
		var oldest *segmentValues
		var oj int
		var ok string
		for j, m := range sim.store {
			for k, v := range m {
				if pinned != nil && k == pinned[j] {
					continue
				}
				// One segment of each depth per run: (used, j) is unique.
				if oldest == nil || v.used < oldest.used || v.used == oldest.used && j < oj {
					oldest, oj, ok = v, j, k
				}
			}
		}
		if oldest == nil {
			return
		}
		sim.bytes -= oldest.bytes
		delete(sim.store[oj], ok)
	}
}

// adopt makes a complete outcome's forms the committed ones.
func (sim *simulator) adopt(o *outcome) { sim.committed = o.forms }

// simBuffers are one worker's: the values of a batch's samples by
// position, a scratch buffer per sample and position for values that do
// not outlive the sample, and the slices a batched map reads and writes.
type simBuffers struct {
	vals, scratch [][][]float64 // [sample in batch][position]
	xs, ys        [][]float64
	samples       []*ir.Tensor
}

func (sim *simulator) newBuffers() *simBuffers {
	b := &simBuffers{vals: make([][][]float64, batchSize), scratch: make([][][]float64, batchSize),
		xs: make([][]float64, batchSize), ys: make([][]float64, batchSize), samples: make([]*ir.Tensor, batchSize)}
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
					// On [-1, 1] the basis needs no change of variable;
					// a fit on a wider span reads x/span.
					if r := forms[i].width(); r != 1 {
						u := make([]float64, len(x))
						for j, y := range x {
							u[j] = y / r
						}
						x = u
					}
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
