package runtime

import (
	"sync"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime/internal/lattigox"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// PrepareOption tunes what Prepare keeps.
type PrepareOption func(*prepareOptions)

type prepareOptions struct {
	maxWeightBytes int64 // negative: no bound
}

// MaxWeightBytes bounds the encoded weights a prepared circuit keeps: the
// ones beyond are encoded by each evaluation that uses them, on the worker
// that multiplies them, one plaintext at a time, exactly as Prepare would
// have (the results are the same, byte for byte), which costs the
// evaluation their encoding time (plan.Kept.Seconds) and holds their
// values instead (plan.Kept.Values). Which ones are kept is plan.Weights'
// choice: the costliest to encode per byte. A negative bound keeps them
// all, as Prepare does without the option. A batch circuit's weights,
// integers never encoded, are all kept.
func MaxWeightBytes(n int64) PrepareOption {
	return func(o *prepareOptions) { o.maxWeightBytes = n }
}

// kept is what Prepare keeps of the plan's weights under o: for each
// affine node, how many of its plaintexts (in the order they are encoded)
// and whether its bias.
type kept struct {
	plaintexts map[*ir.Node]int
	bias       map[*ir.Node]bool
}

func (o prepareOptions) kept(pl *plan.Plan) kept {
	w := pl.Weights()
	within := w.Within(o.maxWeightBytes)
	k := kept{plaintexts: map[*ir.Node]int{}, bias: map[*ir.Node]bool{}}
	for i, g := range w {
		if g.Bias {
			k.bias[g.Node] = within.Count[i] == 1
		} else {
			k.plaintexts[g.Node] = within.Count[i]
		}
	}
	return k
}

// encoders lends the weight encoders and embedders of evaluations that
// encode weights on demand, one per goroutine (Lattigo's are not safe for
// concurrent use), and keeps them for the next evaluation. Safe for
// concurrent use.
type encoders struct {
	params hefloat.Parameters
	base   *hefloat.Encoder // never used to encode: copied
	mu     sync.Mutex
	encs   []*hefloat.Encoder
	free   map[int][]lattigox.TermEmbedder // embedders, by level
}

func newEncoders(p hefloat.Parameters, base *hefloat.Encoder) *encoders {
	return &encoders{params: p, base: base, free: map[int][]lattigox.TermEmbedder{}}
}

func (e *encoders) encoder() *hefloat.Encoder {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n := len(e.encs); n > 0 {
		ecd := e.encs[n-1]
		e.encs = e.encs[:n-1]
		return ecd
	}
	return e.base.ShallowCopy()
}

func (e *encoders) releaseEncoder(ecd *hefloat.Encoder) {
	e.mu.Lock()
	e.encs = append(e.encs, ecd)
	e.mu.Unlock()
}

// embedders returns n embedders at level, as lattigox.TermEmbedders.
func (e *encoders) embedders(level, n int) []lattigox.TermEmbedder {
	out := make([]lattigox.TermEmbedder, n)
	e.mu.Lock()
	free := e.free[level]
	for i := range out {
		if k := len(free); k > 0 {
			out[i], free = free[k-1], free[:k-1]
		}
	}
	e.free[level] = free
	e.mu.Unlock()
	for i := range out {
		if out[i] == nil {
			out[i] = newEmbedder(e.params, e.base, level)
		}
	}
	return out
}

func (e *encoders) releaseEmbedders(level int, es []lattigox.TermEmbedder) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.free[level] = append(e.free[level], es...)
}

// encodeBias encodes values at level with scale and logSlots, as Prepare
// encodes a bias.
func encodeBias(p hefloat.Parameters, ecd *hefloat.Encoder, values []float64, level int, scale rlwe.Scale, logSlots int) (*rlwe.Plaintext, error) {
	pt := hefloat.NewPlaintext(p, level)
	pt.Scale = scale
	pt.LogDimensions = ring.Dimensions{Rows: 0, Cols: logSlots}
	if err := ecd.Encode(values, pt); err != nil {
		return nil, err
	}
	return pt, nil
}
