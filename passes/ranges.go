package passes

import (
	"errors"
	"fmt"
	"math"

	"github.com/hecc-dev/hecc/ir"
)

// ErrNoRange reports that value ranges are needed but neither calibration
// data nor an input range was given.
var ErrNoRange = errors.New("value ranges unknown")

// RangeSource says where value ranges come from.
type RangeSource struct {
	// Samples are calibration inputs, each with the input's shape.
	Samples []*ir.Tensor
	// Input is a declared range of every input value; interval arithmetic
	// propagates it soundly through the graph.
	Input *ir.Interval
	// Margin widens calibrated ranges by this fraction of their width on
	// each side, for inputs a little outside the calibration set.
	Margin float64
}

// Known reports whether any source is set.
func (s *RangeSource) Known() bool { return s != nil && (len(s.Samples) > 0 || s.Input != nil) }

// Ranges records on every node the range of values it produces: observed on
// the calibration samples (widened by the margin), or bounded by interval
// arithmetic from the input range. Without either it clears them.
func Ranges(g *ir.Graph, cfg *Config) error {
	for _, n := range g.Nodes {
		n.Range = ir.Interval{}
	}
	src := cfg.rangeSource()
	switch {
	case src == nil || !src.Known():
		return nil
	case len(src.Samples) > 0:
		return calibrate(g, src)
	default:
		return intervals(g, *src.Input)
	}
}

func (c *Config) rangeSource() *RangeSource {
	if c == nil {
		return nil
	}
	return c.Ranges
}

func calibrate(g *ir.Graph, src *RangeSource) error {
	ins := g.Inputs()
	if len(ins) != 1 {
		return fmt.Errorf("calibration needs a graph with one input, this one has %d", len(ins))
	}
	// Samples run on every core in batches (interpretation only reads the
	// graph), each worker keeping its own extremes.
	workers := batchWorkers(len(src.Samples))
	los, his := make([]map[*ir.Node]float64, workers), make([]map[*ir.Node]float64, workers)
	for w := range workers {
		los[w], his[w] = map[*ir.Node]float64{}, map[*ir.Node]float64{}
	}
	errs := make([]error, len(src.Samples))
	forBatches(len(src.Samples), func(w, lo, hi int) {
		interpretBatch(g, src.Samples, lo, hi, errs, func(n *ir.Node, vs [][]float64) {
			l, h := math.Inf(1), math.Inf(-1)
			if old, ok := los[w][n]; ok {
				l, h = old, his[w][n]
			}
			for _, v := range vs {
				l, h = extremes(v, l, h)
			}
			los[w][n], his[w][n] = l, h
		})
	})
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("calibration sample %d: %w", i, err)
		}
	}
	lo, hi := los[0], his[0]
	for w := 1; w < workers; w++ {
		for n, l := range los[w] {
			h := his[w][n]
			if old, ok := lo[n]; ok { // math.Min and Max keep a NaN
				l, h = math.Min(l, old), math.Max(h, hi[n])
			}
			lo[n], hi[n] = l, h
		}
	}
	for _, n := range g.Nodes {
		l, h := lo[n], hi[n]
		if math.IsNaN(l) || math.IsNaN(h) || math.IsInf(l, 0) || math.IsInf(h, 0) {
			return fmt.Errorf("node %s: calibration produced non-finite values", n.Label())
		}
		w := (h - l) * src.Margin
		n.Range = ir.Interval{Lo: l - w, Hi: h + w}
	}
	return nil
}

// extremes returns the least and the largest of lo, hi and v's values,
// as math.Min and Max take them (NaN included, −0 below +0): they do not
// depend on the order, so four chains take a quarter of v each and keep
// the processor busy where one would wait on each comparison.
func extremes(v []float64, lo, hi float64) (float64, float64) {
	l0, l1, l2, l3 := lo, lo, lo, lo
	h0, h1, h2, h3 := hi, hi, hi, hi
	i := 0
	for ; i+4 <= len(v); i += 4 {
		x0, x1, x2, x3 := v[i], v[i+1], v[i+2], v[i+3]
		l0, l1, l2, l3 = min(l0, x0), min(l1, x1), min(l2, x2), min(l3, x3)
		h0, h1, h2, h3 = max(h0, x0), max(h1, x1), max(h2, x2), max(h3, x3)
	}
	for ; i < len(v); i++ {
		l0, h0 = min(l0, v[i]), max(h0, v[i])
	}
	return min(l0, l1, l2, l3), max(h0, h1, h2, h3)
}

// intervals records the hull of elementIntervals on every node.
func intervals(g *ir.Graph, input ir.Interval) error {
	per, err := elementIntervals(g, input)
	if err != nil {
		return err
	}
	for _, n := range g.Nodes {
		n.Range = hull(per[n])
	}
	return nil
}

// elementIntervals propagates a sound enclosure of every element's values.
func elementIntervals(g *ir.Graph, input ir.Interval) (map[*ir.Node][]ir.Interval, error) {
	per := map[*ir.Node][]ir.Interval{}
	for _, n := range g.Nodes {
		var b []ir.Interval
		switch n.Op {
		case ir.OpInput:
			b = fill(n.Size(), input)
			if n.Gather != nil {
				for s, k := range n.Gather.Slots {
					if k < 0 {
						b[s] = ir.Interval{} // the client encrypts a zero there
					}
				}
			}
		case ir.OpConst:
			b = make([]ir.Interval, n.Size())
			for i, v := range n.Const.Data {
				b[i] = ir.Interval{Lo: v, Hi: v}
			}
		case ir.OpAffine:
			x := per[n.Inputs[0]]
			l := n.Linear
			b = make([]ir.Interval, l.Rows)
			for r := range l.Rows {
				var lo, hi float64
				l.Row(r, func(c int, w float64) {
					if w >= 0 {
						lo, hi = lo+w*x[c].Lo, hi+w*x[c].Hi
					} else {
						lo, hi = lo+w*x[c].Hi, hi+w*x[c].Lo
					}
				})
				if l.Bias != nil {
					lo, hi = lo+l.Bias[r], hi+l.Bias[r]
				}
				b[r] = ir.Interval{Lo: lo, Hi: hi}
			}
		case ir.OpPoly:
			b = mapIntervals(per[n.Inputs[0]], func(x ir.Interval) ir.Interval { return polyBound(n.Poly, x) })
		case ir.OpActivation:
			// Every supported activation is monotone non-decreasing.
			b = mapIntervals(per[n.Inputs[0]], func(x ir.Interval) ir.Interval {
				return ir.Interval{Lo: n.Act.Eval(x.Lo), Hi: n.Act.Eval(x.Hi)}
			})
		case ir.OpAdd:
			x, y := per[n.Inputs[0]], per[n.Inputs[1]]
			b = make([]ir.Interval, len(x))
			for i := range x {
				b[i] = ir.Interval{Lo: x[i].Lo + y[i].Lo, Hi: x[i].Hi + y[i].Hi}
			}
		case ir.OpMul:
			x, y := per[n.Inputs[0]], per[n.Inputs[1]]
			b = make([]ir.Interval, len(x))
			for i := range x {
				if n.Inputs[0] == n.Inputs[1] {
					b[i] = square(x[i])
					continue
				}
				p := []float64{x[i].Lo * y[i].Lo, x[i].Lo * y[i].Hi, x[i].Hi * y[i].Lo, x[i].Hi * y[i].Hi}
				b[i] = ir.Interval{Lo: min(p[0], p[1], p[2], p[3]), Hi: max(p[0], p[1], p[2], p[3])}
			}
		case ir.OpOutput:
			b = per[n.Inputs[0]]
		}
		per[n] = b
		if h := hull(b); math.IsInf(h.Lo, 0) || math.IsInf(h.Hi, 0) || math.IsNaN(h.Lo) || math.IsNaN(h.Hi) {
			return nil, fmt.Errorf("node %s: interval arithmetic from the input range diverged", n.Label())
		}
	}
	return per, nil
}

func fill(n int, v ir.Interval) []ir.Interval {
	b := make([]ir.Interval, n)
	for i := range b {
		b[i] = v
	}
	return b
}

func mapIntervals(x []ir.Interval, f func(ir.Interval) ir.Interval) []ir.Interval {
	b := make([]ir.Interval, len(x))
	for i, v := range x {
		b[i] = f(v)
	}
	return b
}

func hull(b []ir.Interval) ir.Interval {
	if len(b) == 0 {
		return ir.Interval{}
	}
	h := b[0]
	for _, v := range b[1:] {
		h.Lo, h.Hi = math.Min(h.Lo, v.Lo), math.Max(h.Hi, v.Hi)
	}
	return h
}

func square(x ir.Interval) ir.Interval {
	a, b := x.Lo*x.Lo, x.Hi*x.Hi
	if x.Lo <= 0 && x.Hi >= 0 {
		return ir.Interval{Lo: 0, Hi: max(a, b)}
	}
	return ir.Interval{Lo: min(a, b), Hi: max(a, b)}
}

// polyBound encloses p on x: exactly for x², and by Σ|c_k|·max|basis_k|
// otherwise (|T_k| ≤ 1 on the Chebyshev interval, |x^k| ≤ M^k).
func polyBound(p *ir.Polynomial, x ir.Interval) ir.Interval {
	if p.IsSquare() {
		return square(x)
	}
	var m float64
	if p.Basis == ir.Chebyshev {
		lo, hi := p.Interval.Lo, p.Interval.Hi
		t := math.Max(math.Abs((2*x.Lo-lo-hi)/(hi-lo)), math.Abs((2*x.Hi-lo-hi)/(hi-lo)))
		for k, c := range p.Coeffs {
			// |T_k(t)| ≤ 1 on [-1,1] and ≤ cosh(k·acosh|t|) beyond.
			tk := 1.0
			if t > 1 {
				tk = math.Cosh(float64(k) * math.Acosh(t))
			}
			m += math.Abs(c) * tk
		}
	} else {
		M := x.MaxAbs()
		for k, c := range p.Coeffs {
			m += math.Abs(c) * math.Pow(M, float64(k))
		}
	}
	return ir.Interval{Lo: -m, Hi: m}
}
