package runtime

import (
	"context"
	"fmt"
	"math"
	"math/big"
	goruntime "runtime"
	"time"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime/internal/lattigox"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/utils/bignum"
)

// scalePrec is the precision of the constants the polynomials' argument is
// mapped with: Lattigo's, for scales.
const scalePrec = 128

// Prepared is a circuit ready to evaluate with any key set of its spec:
// its plan checked, every diagonal, bias and integer weight encoded once,
// and the buffers evaluations borrow. WithKeys attaches a key set; the
// servers of every key set share it, read-only but for its pools (safe for
// concurrent use), so a key set costs its keys and nothing of the circuit.
type Prepared struct{ encoded }

// encoded is what a prepared circuit holds, embedded by its servers.
type encoded struct {
	circuit *Circuit
	plan    *plan.Plan
	params  hefloat.Parameters
	affine  map[*ir.Node]*preparedAffine
	scales  map[*ir.Node]rlwe.Scale // of every node's result
	buf     *buffers
	// batch, for a batch circuit, holds its affine maps' weights, and
	// unrelinearized the products it leaves for their readers to
	// relinearize (plan.Plan.Unrelinearized).
	batch          map[*ir.Node]*batchAffine
	unrelinearized map[*ir.Node]bool
	// bytes is what the encoded weights take; values what the values of
	// those encoded on demand take, and encoders lends the evaluations
	// their encoders.
	bytes, values int64
	encoders      *encoders
}

// Server evaluates a prepared circuit with one client's evaluation keys.
// Run may be called from many goroutines: each call borrows its own
// evaluators, bound to the keys.
type Server struct {
	*encoded
	eval     *hefloat.Evaluator // keyed; its own buffers are never used
	keys     KeySetID           // of the evaluation keys
	public   *rlwe.PublicKey    // the flood is encrypted under it
	keyBytes int64

	// Workers is how many goroutines a linear transformation uses, each
	// with its own evaluator (default: GOMAXPROCS).
	Workers int

	// beforeNode, when set (tests), runs before each node is evaluated,
	// after the check for cancellation.
	beforeNode func(*ir.Node)
}

// preparedAffine is an Affine node with its diagonals encoded.
type preparedAffine struct {
	parts *partsTransform  // for a map reading an input in parts
	lt    *linearTransform // nil for an identity or parts
	plan  *plan.Linear     // nil for an identity
	bias  *rlwe.Plaintext  // nil for none or on demand
	// biasValues, of a bias encoded on demand, are its values, which
	// each evaluation encodes as Prepare would have.
	biasValues []float64
}

// NewServer prepares c and attaches ek: for one evaluation or one key set.
func NewServer(c *Circuit, ek *EvalKeys, opts ...PrepareOption) (*Server, error) {
	p, err := Prepare(c, opts...)
	if err != nil {
		return nil, err
	}
	return p.WithKeys(ek)
}

// Prepare prepares a circuit for evaluation as its plan says: every linear
// transformation is encoded once here, not per request nor per key set,
// unless an option bounds what it keeps (MaxWeightBytes). A circuit whose
// spec is not what the plan makes of its graph is refused.
func Prepare(c *Circuit, opts ...PrepareOption) (*Prepared, error) {
	o := prepareOptions{maxWeightBytes: -1}
	for _, opt := range opts {
		opt(&o)
	}
	p, err := newParameters(c.Spec.Params)
	if err != nil {
		return nil, err
	}
	pl, err := plan.Rebuild(c.Spec, c.Graph)
	if err != nil {
		return nil, fmt.Errorf("cannot plan the circuit: %w", err)
	}
	if err := pl.Check(c.Spec); err != nil {
		return nil, err
	}
	scales, err := plan.SetScales(c.Graph, c.Spec.Params, p.Q())
	if err != nil {
		return nil, err
	}
	e := encoded{
		circuit: c,
		plan:    pl,
		params:  p,
		scales:  make(map[*ir.Node]rlwe.Scale, len(scales.Out)),
		buf:     newBuffers(p),
	}
	for n, v := range scales.Out {
		e.scales[n] = rlwe.NewScale(v)
	}
	if c.Spec.Batched() {
		err = e.prepareBatch(pl, scales)
	} else {
		err = e.prepareAffine(scales, o.kept(pl))
	}
	if err != nil {
		return nil, err
	}
	return &Prepared{e}, nil
}

// prepareAffine encodes the affine maps of a circuit in slots, but for
// the weights beyond what k keeps.
func (e *encoded) prepareAffine(scales *plan.ScalePlan, k kept) error {
	c, p := e.circuit, e.params
	set := c.Spec.Params
	e.affine = make(map[*ir.Node]*preparedAffine)
	ecd := newWeightEncoder(p, set)
	e.encoders = newEncoders(p, ecd)
	n := 1 << c.Graph.LogSlots
	for _, node := range c.Graph.Nodes {
		if node.Op != ir.OpAffine {
			continue
		}
		pa := &preparedAffine{plan: e.plan.Linear[node]}
		var bias []float64
		if b := node.Linear.Bias; b != nil {
			bias = make([]float64, n)
			copy(bias, b)
		}
		if pa.plan != nil {
			var err error
			ptScale := rlwe.NewScale(scales.Plaintext[node])
			switch pa.plan.Form {
			case plan.Parts:
				pa.parts, err = encodeParts(p, ecd, node, pa.plan, set.RingLevel(node.Inputs[0].Level), c.Graph.LogSlots, ptScale, k.plaintexts[node])
				if err == nil {
					pa.parts.encoders = e.encoders
				}
			case plan.Hybrid:
				// The bias goes into every block, so each copy the block sum
				// leaves is a copy of the whole result.
				for i := range bias {
					bias[i] = bias[i%pa.plan.Block]
				}
				fallthrough
			default:
				if pa.plan.Repeats && bias != nil {
					for i := range bias {
						bias[i] = bias[i%pa.plan.Period]
					}
				}
				pa.lt, err = encodeLinearTransform(p, ecd, pa.plan.DiagonalValues(node.Linear, n), pa.plan.Split, set.RingLevel(node.Inputs[0].Level), c.Graph.LogSlots, ptScale, goruntime.GOMAXPROCS(0), k.plaintexts[node])
				if err == nil {
					pa.lt.encoders = e.encoders
				}
			}
			if err != nil {
				return fmt.Errorf("cannot encode node %s: %w", node.Label(), err)
			}
		}
		switch {
		case bias == nil:
		case k.bias[node]:
			// Encoded once, at the level and scale the node's output has.
			var err error
			if pa.bias, err = encodeBias(p, ecd, bias, set.RingLevel(node.Level), e.scales[node], c.Graph.LogSlots); err != nil {
				return fmt.Errorf("cannot encode the bias of node %s: %w", node.Label(), err)
			}
		default:
			pa.biasValues = bias
		}
		e.affine[node] = pa
		encoded, values := pa.bytes(p)
		e.bytes += encoded
		e.values += values
	}
	return nil
}

// bytes is what the encoded weights of pa take, and what the values of
// those it encodes on demand take.
func (pa *preparedAffine) bytes(p hefloat.Parameters) (encoded, values int64) {
	floats := func(v []float64) int64 { return int64(len(v)) * 8 }
	if pa.bias != nil {
		encoded += polyBytes(p, pa.bias.Level()+1)
	}
	values += floats(pa.biasValues)
	if pa.parts != nil {
		for j, w := range pa.parts.weights {
			if w != nil {
				encoded += polyBytes(p, pa.parts.level+1)
			}
			values += floats(pa.parts.values[j])
		}
	}
	if pa.lt != nil {
		for _, terms := range pa.lt.blocks {
			for _, t := range terms {
				if t.Values == nil {
					encoded += polyBytes(p, pa.lt.level+1+p.PCount())
				}
				values += floats(t.Values)
			}
		}
	}
	return encoded, values
}

// Circuit is the circuit p evaluates.
func (p *Prepared) Circuit() *Circuit { return p.circuit }

// Memory is what a prepared circuit or a server holds, in bytes.
type Memory struct {
	// Encoded is a prepared circuit's weights, encoded once; OnDemand the
	// values of those its evaluations encode (MaxWeightBytes).
	Encoded  int64 `json:"encoded_bytes"`
	OnDemand int64 `json:"on_demand_values_bytes,omitempty"`
	// Buffers is what a prepared circuit's evaluations borrow and give
	// back: as much as the most evaluations that ran at once took.
	Buffers int64 `json:"buffers_bytes"`
	// Keys is a server's evaluation keys, with the automorphism tables
	// of its rotations.
	Keys int64 `json:"keys_bytes"`
}

// Memory is what p holds: its weights and its buffers, shared by the
// servers of every key set.
func (p *Prepared) Memory() Memory {
	return Memory{Encoded: p.bytes, OnDemand: p.values, Buffers: p.buf.bytes.Load()}
}

// WithKeys attaches a key set to p: the server evaluates p with ek. Keys
// that sit below a level the plan uses them at are refused.
func (p *Prepared) WithKeys(ek *EvalKeys) (*Server, error) {
	if err := checkKeyLevels(p.plan, ek); err != nil {
		return nil, err
	}
	if b := p.circuit.Spec.CircuitPrivacyBits; b > 0 && ek.public == nil {
		return nil, fmt.Errorf("%w (%d bits): give it with the evaluation keys (hecc run --public-key)", ErrNoPublicKey, b)
	}
	eval := p.buf.base.WithKey(ek.keySet())
	return &Server{
		encoded:  &p.encoded,
		eval:     eval,
		keys:     ek.id,
		public:   ek.public,
		keyBytes: ek.memoryBytes(p.params),
		Workers:  goruntime.GOMAXPROCS(0),
	}, nil
}

// KeySet is the key set of the server's evaluation keys: inputs must
// carry it, and results are written with it.
func (s *Server) KeySet() KeySetID { return s.keys }

// Memory is what s holds of its own: its keys. The prepared circuit it
// evaluates is shared (Prepared.Memory).
func (s *Server) Memory() Memory { return Memory{Keys: s.keyBytes} }

// checkKeyLevels refuses keys that sit below a level the circuit uses them
// at: Lattigo would key-switch with them and return a wrong result without
// any error.
func checkKeyLevels(pl *plan.Plan, ek *EvalKeys) error {
	set := pl.Spec.Params
	have := map[uint64]int{}
	for _, k := range ek.galois {
		have[k.GaloisElement] = k.LevelQ()
	}
	logN := set.LogN
	for _, n := range pl.Graph.Nodes {
		switch n.Op {
		case ir.OpAffine:
			if n.Linear.Identity {
				continue
			}
			for _, k := range pl.Linear[n].Keys(n, logN) {
				l, ok := have[k.Galois]
				if !ok {
					return fmt.Errorf("node %s needs the rotation key for Galois element %d, which the evaluation keys lack", n.Label(), k.Galois)
				}
				if l < set.RingLevel(k.Level) {
					return fmt.Errorf("node %s rotates at level %d with a key made for level %d: regenerate the keys from this circuit's spec", n.Label(), k.Level, set.Level(l))
				}
			}
		case ir.OpMul, ir.OpPoly:
			if n.Op == ir.OpPoly && n.Poly.Degree() < 2 {
				continue
			}
			level := n.Inputs[0].Level
			if n.Op == ir.OpMul {
				level = max(level, n.Inputs[1].Level)
			}
			if ek.relin == nil {
				return fmt.Errorf("node %s multiplies ciphertexts, but the evaluation keys have no relinearization key", n.Label())
			}
			if l := ek.relin.LevelQ(); l < set.RingLevel(level) {
				return fmt.Errorf("node %s multiplies at level %d with a relinearization key made for level %d: regenerate the keys from this circuit's spec", n.Label(), level, set.Level(l))
			}
		}
	}
	return nil
}

// Stats counts what one evaluation did: totals, and every primitive at the
// level it ran at (what a floor Σ count × cost needs).
type Stats struct {
	EvalSeconds float64    `json:"eval_seconds"`
	KeySwitches int        `json:"key_switches"`
	Rescales    int        `json:"rescales"`
	PtMuls      int        `json:"plaintext_multiplications"`
	CtMuls      int        `json:"ciphertext_multiplications"`
	Ops         []OpCount  `json:"ops"`
	Nodes       []NodeStat `json:"nodes"`
}

// NodeStat is the cost of one IR node.
type NodeStat struct {
	Node    string  `json:"node"`
	Op      string  `json:"op"`
	Level   int     `json:"level"`
	Seconds float64 `json:"seconds"`
}

// Run evaluates the circuit on an encrypted input, in as many ciphertexts
// as the spec's InputParts, and returns the encrypted result. The input
// must be of the evaluation keys' key set (ErrKeySet), the result is.
// Cancelling ctx stops the evaluation between nodes and between the
// rotations and giant steps of a linear transformation: Run then returns
// an error wrapping ctx.Err().
func (s *Server) Run(ctx context.Context, input *Ciphertext) (*Ciphertext, *Stats, error) {
	return s.run(ctx, input, false)
}

// RunConsuming is Run for a caller that does not use input afterwards: a
// batch circuit may then write its first layer's results over the input's
// ciphertexts instead of memory the system has yet to map.
func (s *Server) RunConsuming(ctx context.Context, input *Ciphertext) (*Ciphertext, *Stats, error) {
	return s.run(ctx, input, true)
}

func (s *Server) run(ctx context.Context, input *Ciphertext, consume bool) (*Ciphertext, *Stats, error) {
	if input.kind != KindInputCt {
		return nil, nil, fmt.Errorf("%w: expected %s, got %s", ErrFormat, KindInputCt.withArticle(), input.kind.withArticle())
	}
	if err := checkKeySet(input.kind, input.id, s.keys); err != nil {
		return nil, nil, err
	}
	if s.batch != nil {
		return s.runBatch(ctx, input, consume)
	}
	g, in, set := s.circuit.Graph, input.cts, s.circuit.Spec.Params
	if want := s.circuit.Spec.InputCiphertexts(); len(in) != want {
		return nil, nil, fmt.Errorf("%d input ciphertexts, the circuit reads %d", len(in), want)
	}
	for i, ct := range in {
		if ct == nil || ct.Degree() != 1 || !ct.IsNTT || ct.Level() != set.RingLevel(s.circuit.Spec.Input.Level) {
			return nil, nil, fmt.Errorf("input ciphertext %d is not a fresh ciphertext at level %d", i+1, s.circuit.Spec.Input.Level)
		}
	}
	evals := s.buf.evaluators(s.eval, max(1, s.Workers))
	defer s.buf.releaseEvaluators(evals)
	eval := evals[0]
	count := &opCounter{perLevel: set.PrimesPerLevel()}
	counted := countingEvaluator{eval, count, evals, s.buf}
	polyEval := hefloat.NewPolynomialEvaluator(s.params, counted)
	st := &Stats{}
	start := time.Now()
	vals := make(map[*ir.Node]*rlwe.Ciphertext, len(g.Nodes))
	var result *rlwe.Ciphertext
	for _, n := range g.Nodes {
		if err := s.stopped(ctx, n); err != nil {
			return nil, nil, err
		}
		t0 := time.Now()
		var out *rlwe.Ciphertext
		var err error
		switch n.Op {
		case ir.OpInput:
			out = in[0] // a map reading the parts takes them all from in
		case ir.OpAffine:
			if n.Inputs[0].InParts() {
				out, err = s.partsNode(evals, n, in, count)
			} else {
				out, err = s.affineNode(ctx, evals, n, vals[n.Inputs[0]], count)
			}
		case ir.OpPoly:
			out, err = s.polyNode(counted, polyEval, n, vals[n.Inputs[0]])
		case ir.OpMul:
			if out, err = counted.MulRelinNew(vals[n.Inputs[0]], vals[n.Inputs[1]]); err == nil {
				err = counted.Rescale(out, out)
			}
		case ir.OpAdd:
			out, err = counted.AddNew(vals[n.Inputs[0]], vals[n.Inputs[1]])
		case ir.OpOutput:
			out = vals[n.Inputs[0]]
			result = out
		default:
			err = fmt.Errorf("op %s cannot be evaluated under encryption", n.Op)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("cannot evaluate node %s: %w", n.Label(), err)
		}
		if out.Level() != set.RingLevel(n.Level) {
			return nil, nil, fmt.Errorf("node %s produced level %d, the circuit planned %d", n.Label(), set.Level(out.Level()), n.Level)
		}
		if want := s.scales[n]; !plan.CloseScales(&out.Scale.Value, &want.Value) {
			return nil, nil, fmt.Errorf("node %s produced scale 2^%.4f, the plan expected 2^%.4f", n.Label(), math.Log2(out.Scale.Float64()), math.Log2(want.Float64()))
		}
		vals[n] = out
		st.Nodes = append(st.Nodes, NodeStat{Node: n.Label(), Op: n.Op.String(), Level: n.Level, Seconds: time.Since(t0).Seconds()})
	}
	if s.circuit.Spec.CircuitPrivacyBits > 0 {
		var err error
		if result, err = s.flood(result); err != nil {
			return nil, nil, err
		}
	}
	st.EvalSeconds = time.Since(start).Seconds()
	st.Ops = count.list()
	st.KeySwitches = count.total(PrimBabyStep, PrimGiantStep, PrimRelinearize)
	st.Rescales = count.total(PrimRescale)
	st.PtMuls = count.total(PrimMulPlain, PrimMulDiagonal)
	st.CtMuls = count.total(PrimMul)
	return &Ciphertext{kind: KindOutputCt, id: s.keys, cts: []*rlwe.Ciphertext{result}}, st, nil
}

// stopped returns an error wrapping ctx.Err() once ctx is done; otherwise
// it runs the test hook before node n.
func (s *Server) stopped(ctx context.Context, n *ir.Node) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("evaluation stopped before node %s: %w", n.Label(), err)
	}
	if s.beforeNode != nil {
		s.beforeNode(n)
	}
	return nil
}

// partsNode evaluates affine node n reading the input's parts.
func (s *Server) partsNode(evals []*hefloat.Evaluator, n *ir.Node, in []*rlwe.Ciphertext, count *opCounter) (*rlwe.Ciphertext, error) {
	pa := s.affine[n]
	out, err := pa.parts.evaluate(evals, in)
	if err != nil {
		return nil, err
	}
	if out, err = s.project(evals, pa.plan.Projection, pa.parts.level, out, count); err != nil {
		return nil, err
	}
	if err := lattigox.Rescale(lattigox.Workers{Evals: evals}, out, out); err != nil {
		return nil, err
	}
	pa.parts.count(count)
	count.add(PrimRescale, pa.parts.level, 1)
	return s.addBias(evals[0], pa, n, out, count)
}

// addBias adds the bias of affine node n, if it has one, to out.
func (s *Server) addBias(eval *hefloat.Evaluator, pa *preparedAffine, n *ir.Node, out *rlwe.Ciphertext, count *opCounter) (*rlwe.Ciphertext, error) {
	pt := pa.bias
	if pt == nil && pa.biasValues != nil {
		ecd := s.encoders.encoder()
		var err error
		pt, err = encodeBias(s.params, ecd, pa.biasValues, s.circuit.Spec.Params.RingLevel(n.Level), s.scales[n], s.circuit.Graph.LogSlots)
		s.encoders.releaseEncoder(ecd)
		if err != nil {
			return nil, fmt.Errorf("cannot encode the bias: %w", err)
		}
	}
	if pt == nil {
		return out, nil
	}
	// The plan's scale is the output's to within plan.CloseScales; the output's
	// own keeps Lattigo from scaling the plaintext to match.
	bias := *pt
	meta := *bias.MetaData
	meta.Scale = out.Scale
	bias.MetaData = &meta
	biased, err := eval.AddNew(out, &bias)
	if err != nil {
		return nil, err
	}
	count.add(PrimAdd, out.Level(), 1)
	return biased, nil
}

func (s *Server) affineNode(ctx context.Context, evals []*hefloat.Evaluator, n *ir.Node, in *rlwe.Ciphertext, count *opCounter) (*rlwe.Ciphertext, error) {
	pa, eval := s.affine[n], evals[0]
	workers := lattigox.Workers{Evals: evals, Pool: s.buf, Ctx: ctx}
	if set := s.circuit.Spec.Params; in.Level() != set.RingLevel(n.Inputs[0].Level) {
		return nil, fmt.Errorf("input at level %d, expected %d", set.Level(in.Level()), n.Inputs[0].Level)
	}
	out := in
	if pa.lt != nil {
		var err error
		if out, err = pa.lt.evaluate(workers, in); err != nil {
			return nil, err
		}
		if out, err = s.project(evals, pa.plan.Projection, in.Level(), out, count); err != nil {
			return nil, err
		}
		if err := lattigox.Rescale(lattigox.Workers{Evals: evals}, out, out); err != nil {
			return nil, err
		}
		if pa.plan.Form == plan.Hybrid {
			if out, err = lattigox.SumRotations(workers, pa.plan.BlockSum, out); err != nil {
				return nil, err
			}
			countBlockSum(count, pa.plan.BlockSum, out.Level())
		}
		pa.lt.count(count)
		count.add(PrimRescale, in.Level(), 1)
	}
	return s.addBias(eval, pa, n, out, count)
}

func (s *Server) polyNode(eval countingEvaluator, polyEval *hefloat.PolynomialEvaluator, n *ir.Node, in *rlwe.Ciphertext) (*rlwe.Ciphertext, error) {
	p := n.Poly
	if p.IsSquare() {
		out, err := eval.MulRelinNew(in, in)
		if err != nil {
			return nil, err
		}
		return out, eval.Rescale(out, out)
	}
	x := in
	basis := bignum.Monomial
	if p.Basis == ir.Chebyshev {
		basis = bignum.Chebyshev
		if p.Interval != (ir.Interval{Lo: -1, Hi: 1}) {
			// Map [Lo, Hi] onto [-1, 1]: one constant multiplication and a
			// rescale. The constants are exact to the parameters' encoding
			// precision, which two primes per level take beyond float64's.
			a, b := big.NewFloat(p.Interval.Lo).SetPrec(scalePrec), big.NewFloat(p.Interval.Hi).SetPrec(scalePrec)
			width := new(big.Float).Sub(b, a)
			mapped, err := eval.MulNew(in, new(big.Float).Quo(big.NewFloat(2), width))
			if err != nil {
				return nil, err
			}
			shift := new(big.Float).Add(a, b)
			if err := eval.Add(mapped, shift.Neg(shift).Quo(shift, width), mapped); err != nil {
				return nil, err
			}
			if err := eval.Rescale(mapped, mapped); err != nil {
				return nil, err
			}
			x = mapped
		}
	}
	// Lattigo splits the polynomial in the precision of its coefficients:
	// the weights'.
	coeffs := make([]*big.Float, len(p.Coeffs))
	for i, c := range p.Coeffs {
		coeffs[i] = big.NewFloat(c).SetPrec(weightPrecision(s.circuit.Spec.Params))
	}
	poly := bignum.NewPolynomial(basis, coeffs, [2]float64{-1, 1})
	return polyEval.Evaluate(x, poly, s.scales[n])
}

// project completes the projection of the client's input onto its layout
// on the result of the first affine map (see plan.Projection), whose
// weights already gave undefined slots weight 0: it keeps the real part
// of the sum of the slots' copies, y + conj(y) summed over the copies. It
// runs before the map's rescale, at the input's level: the rounding of the
// rescale then falls on the whole result, not on the 1/(2·copies) of it
// each term carries, which would cost log2(2·copies) bits of precision.
func (s *Server) project(evals []*hefloat.Evaluator, pj *plan.Projection, level int, y *rlwe.Ciphertext, count *opCounter) (*rlwe.Ciphertext, error) {
	if pj == nil {
		return y, nil
	}
	conj, err := evals[0].ConjugateNew(y)
	if err != nil {
		return nil, fmt.Errorf("input projection: %w", err)
	}
	if err := evals[0].Add(y, conj, conj); err != nil {
		return nil, fmt.Errorf("input projection: %w", err)
	}
	count.add(PrimGiantStep, level, 1)
	count.add(PrimAdd, level, 1)
	if pj.Trace == nil {
		return conj, nil
	}
	countBlockSum(count, pj.Trace, level)
	return lattigox.SumRotations(lattigox.Workers{Evals: evals, Pool: s.buf}, pj.Trace, conj)
}
