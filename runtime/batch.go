package runtime

import (
	"context"
	"fmt"
	"math"
	"math/big"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime/internal/parallel"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// A batch circuit (plan.LayoutBatch) holds one ciphertext per tensor
// element, slot i of each belonging to input i. Its affine maps are sums of
// ciphertexts times integers, computed here limb by limb with lazy
// reduction; everything else is Lattigo's, applied to every ciphertext.

// batchAffine is an affine node of a batch circuit with its weights as
// integers at the plaintext scale, per limb of its input's level:
// weights[i][k] is entry k of the map's compressed rows modulo prime i.
// On two primes per level (a flooded circuit's scales) the integers pass
// 64 bits.
type batchAffine struct {
	weights [][]uint64
	groups  [][]int    // the map's rowGroups
	scale   rlwe.Scale // of the products, before the rescale
	// spare: every reader of the map is a product left unrelinearized, so
	// its outputs get room for a third polynomial, for the product to
	// write its result over them (unrelinearizedProduct).
	spare bool
}

// prepareBatch prepares a batch circuit: its weights as integers per limb,
// encoded once.
func (e *encoded) prepareBatch(pl *plan.Plan, scales *plan.ScalePlan) error {
	e.batch = map[*ir.Node]*batchAffine{}
	e.unrelinearized = pl.Unrelinearized
	c := e.circuit
	rq := e.params.RingQ()
	users := c.Graph.Users()
	for _, n := range c.Graph.Nodes {
		if n.Op != ir.OpAffine || n.Linear.Identity {
			continue
		}
		ptScale := rlwe.NewScale(scales.Plaintext[n])
		in, inScale := e.held(n.Inputs[0])
		ba := &batchAffine{weights: make([][]uint64, in+1), groups: rowGroups(n.Linear), scale: inScale.Mul(ptScale),
			spare: !slices.ContainsFunc(users[n], func(u *ir.Node) bool { return !pl.Unrelinearized[u] })}
		for i := range ba.weights {
			ba.weights[i] = make([]uint64, len(n.Linear.Vals))
		}
		var w, r, qi big.Int
		moduli := rq.ModuliChain()[:in+1]
		bigQ := rq.AtLevel(in).Modulus()
		for k, v := range n.Linear.Vals {
			if err := integerWeight(&w, v, &ptScale.Value, bigQ); err != nil {
				return fmt.Errorf("node %s: %w", n.Label(), err)
			}
			for i, q := range moduli {
				ba.weights[i][k] = r.Mod(&w, qi.SetUint64(q)).Uint64() // in [0, q)
			}
		}
		e.batch[n] = ba
		e.bytes += int64(len(ba.weights)) * int64(len(n.Linear.Vals)) * 8
	}
	return nil
}

// integerWeight sets w to v times the plaintext scale, rounded to an
// integer (half away from zero, as math.Round): exactly, whatever the
// scale (two primes per level pass 2^64), for an integer below half the
// modulus q of the map's level, which it must stay below to be read back.
func integerWeight(w *big.Int, v float64, scale *big.Float, q *big.Int) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("weight %g is not a number", v)
	}
	// Exact: the product of the mantissas, and the half added to an
	// integer below q.
	x := new(big.Float).SetPrec(max(scale.Prec()+53, uint(q.BitLen())+2)).Mul(big.NewFloat(v), scale)
	if x.MantExp(nil) >= q.BitLen()-1 {
		return fmt.Errorf("weight %g at scale 2^%.1f does not fit the %d-bit modulus of its level", v, math.Log2(rlwe.NewScale(scale).Float64()), q.BitLen())
	}
	half := big.NewFloat(0.5)
	if x.Sign() < 0 {
		half.Neg(half)
	}
	x.Add(x, half).Int(w) // Int truncates towards zero
	return nil
}

// held is Lattigo's level and the scale of node n's ciphertexts in a batch
// circuit: the plan's, but for a product left unrelinearized, which is
// held before its rescale, a level higher. The map reading it sums at that
// level, then relinearizes and rescales twice: the rescale's rounding of
// the product's third polynomial would otherwise be multiplied by the
// square of the secret.
func (e *encoded) held(n *ir.Node) (int, rlwe.Scale) {
	set := e.circuit.Spec.Params
	if !e.unrelinearized[n] {
		return set.RingLevel(n.Level), e.scales[n]
	}
	scale := e.scales[n]
	for i := set.RingLevel(n.Level) + 1; i <= set.RingLevel(n.Level+1); i++ {
		scale = scale.Mul(rlwe.NewScale(e.params.Q()[i]))
	}
	return set.RingLevel(n.Level + 1), scale
}

// runBatch evaluates a batch circuit: every node on each of its
// ciphertexts, the ciphertexts shared among the workers. With consume, the
// input's ciphertexts are the evaluation's to overwrite (see RunConsuming).
func (s *Server) runBatch(ctx context.Context, input *Ciphertext, consume bool) (*Ciphertext, *Stats, error) {
	spec, g := s.circuit.Spec, s.circuit.Graph
	if want := spec.InputCiphertexts(); len(input.cts) != want {
		return nil, nil, fmt.Errorf("%d input ciphertexts, the circuit reads %d", len(input.cts), want)
	}
	for i, ct := range input.cts {
		if ct == nil || ct.Degree() != 1 || !ct.IsNTT || ct.Level() != spec.Params.RingLevel(spec.Input.Level) {
			return nil, nil, fmt.Errorf("input ciphertext %d is not a fresh ciphertext at level %d", i+1, spec.Input.Level)
		}
	}
	workers := max(1, s.Workers)
	evals := s.buf.evaluators(s.eval, workers)
	defer s.buf.releaseEvaluators(evals)
	count := &opCounter{perLevel: spec.Params.PrimesPerLevel()}
	counted := make([]countingEvaluator, workers)
	polyEvals := make([]*hefloat.PolynomialEvaluator, workers)
	for w := range counted {
		counted[w] = countingEvaluator{evals[w], count, evals[w : w+1], s.buf}
		polyEvals[w] = hefloat.NewPolynomialEvaluator(s.params, counted[w])
	}
	// A value is dropped once its last reader has run: a layer of a batch
	// circuit holds hundreds of ciphertexts.
	readers := map[*ir.Node]int{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			readers[in]++
		}
	}
	vals := make(map[*ir.Node][]*rlwe.Ciphertext, len(g.Nodes))
	st := &Stats{}
	start := time.Now()
	var result []*rlwe.Ciphertext
	for _, n := range g.Nodes {
		if err := s.stopped(ctx, n); err != nil {
			return nil, nil, err
		}
		t0 := time.Now()
		var out []*rlwe.Ciphertext
		var err error
		all := func(f func(w, i int) (*rlwe.Ciphertext, error)) {
			out, err = each(workers, n.Size(), func(w, i int) (*rlwe.Ciphertext, error) {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				return f(w, i)
			})
		}
		switch n.Op {
		case ir.OpInput:
			out = input.cts
		case ir.OpAffine:
			in := n.Inputs[0]
			owned := (in.Op == ir.OpInput && consume) || (in.Op == ir.OpAffine && !in.Linear.Identity) || s.unrelinearized[in]
			out, err = s.affineBatch(ctx, counted, n, vals[in], owned && readers[in] == 1)
		case ir.OpPoly:
			in := vals[n.Inputs[0]]
			if s.unrelinearized[n] {
				last := readers[n.Inputs[0]] == 1
				all(func(w, i int) (*rlwe.Ciphertext, error) { return unrelinearizedProduct(counted[w], in[i], in[i], last) })
				break
			}
			all(func(w, i int) (*rlwe.Ciphertext, error) { return s.polyNode(counted[w], polyEvals[w], n, in[i]) })
		case ir.OpMul:
			a, b := vals[n.Inputs[0]], vals[n.Inputs[1]]
			if s.unrelinearized[n] {
				reads := 1 // readers counts a square's operand twice
				if n.Inputs[0] == n.Inputs[1] {
					reads = 2
				}
				last := readers[n.Inputs[0]] == reads
				all(func(w, i int) (*rlwe.Ciphertext, error) { return unrelinearizedProduct(counted[w], a[i], b[i], last) })
				break
			}
			all(func(w, i int) (*rlwe.Ciphertext, error) {
				ct, err := counted[w].MulRelinNew(a[i], b[i])
				if err == nil {
					err = counted[w].Rescale(ct, ct)
				}
				return ct, err
			})
		case ir.OpAdd:
			a, b := vals[n.Inputs[0]], vals[n.Inputs[1]]
			all(func(w, i int) (*rlwe.Ciphertext, error) { return counted[w].AddNew(a[i], b[i]) })
		case ir.OpOutput:
			out = vals[n.Inputs[0]]
			result = out
		default:
			err = fmt.Errorf("op %s cannot be evaluated under encryption", n.Op)
		}
		if err != nil && ctx.Err() != nil {
			err = ctx.Err() // every worker's error is this one
		}
		if err != nil {
			return nil, nil, fmt.Errorf("cannot evaluate node %s: %w", n.Label(), err)
		}
		level, scale := s.held(n)
		for _, ct := range out {
			if ct.Level() != level {
				return nil, nil, fmt.Errorf("node %s produced level %d, the circuit planned %d", n.Label(), spec.Params.Level(ct.Level()), spec.Params.Level(level))
			}
			if want := scale; !plan.CloseScales(&ct.Scale.Value, &want.Value) {
				return nil, nil, fmt.Errorf("node %s produced scale 2^%.4f, the plan expected 2^%.4f", n.Label(), math.Log2(ct.Scale.Float64()), math.Log2(want.Float64()))
			}
		}
		vals[n] = out
		for _, in := range n.Inputs {
			if readers[in]--; readers[in] == 0 {
				delete(vals, in)
			}
		}
		st.Nodes = append(st.Nodes, NodeStat{Node: n.Label(), Op: n.Op.String(), Level: n.Level, Seconds: time.Since(t0).Seconds()})
	}
	if spec.CircuitPrivacyBits > 0 {
		var err error
		if result, err = each(workers, len(result), func(_, i int) (*rlwe.Ciphertext, error) { return s.flood(result[i]) }); err != nil {
			return nil, nil, err
		}
	}
	st.EvalSeconds = time.Since(start).Seconds()
	st.Ops = count.list()
	st.KeySwitches = count.total(PrimRelinearize)
	st.Rescales = count.total(PrimRescale)
	st.PtMuls = count.total(PrimMulPlain, PrimMulConst)
	st.CtMuls = count.total(PrimMul)
	return &Ciphertext{kind: KindOutputCt, id: s.keys, cts: result}, st, nil
}

// unrelinearizedProduct is a·b left of degree 2 and not rescaled, for an
// affine map to relinearize and rescale after summing (see held). If a is
// read by nothing else (last) and has room for a third polynomial
// (batchAffine.spare), the product is written over a's polynomials instead
// of new ones: a layer's worth of ciphertexts less to allocate, clear and
// fault in. Lattigo's product reads a's polynomials before it writes them
// (it copies them into its buffers, in Montgomery form, first), and
// writes each coefficient of the others after reading that coefficient.
func unrelinearizedProduct(eval countingEvaluator, a, b *rlwe.Ciphertext, last bool) (*rlwe.Ciphertext, error) {
	if !last || cap(a.Value) < 3 {
		return eval.MulNew(a, b)
	}
	polys := a.Value[:3]
	polys[2].Resize(a.Level())
	meta := *a.MetaData
	out := &rlwe.Ciphertext{Element: rlwe.Element[ring.Poly]{Value: polys, MetaData: &meta}}
	return out, eval.Mul(a, b, out)
}

// each computes f(worker, i) for i in [0, n) on the workers, worker w
// calling f with its own evaluator's index.
func each(workers, n int, f func(w, i int) (*rlwe.Ciphertext, error)) ([]*rlwe.Ciphertext, error) {
	out := make([]*rlwe.Ciphertext, n)
	err := parallel.ForEach(min(workers, max(n, 1)), n, func(w, i int) (err error) {
		out[i], err = f(w, i)
		return err
	})
	return out, err
}

// affineBatch evaluates affine node n on its input's ciphertexts: for every
// output r, Σ_c W[r][c]·in[c] at the product scale, rescaled, plus b[r].
// The sums are spread over the workers by limb, polynomial and block of
// coefficients; the rescales and biases by output. Inputs of degree 2 (a
// product left unrelinearized, see held) are summed over their three
// polynomials, and each output relinearized and rescaled twice. With
// last (nothing reads in afterwards, and its ciphertexts are the
// evaluation's own), outputs take over the inputs' polynomials
// (reuseInputs).
func (s *Server) affineBatch(ctx context.Context, counted []countingEvaluator, n *ir.Node, in []*rlwe.Ciphertext, last bool) ([]*rlwe.Ciphertext, error) {
	lin, rows, workers := n.Linear, n.Size(), len(counted)
	bias := func(r int) float64 {
		if lin.Bias == nil {
			return 0
		}
		return lin.Bias[r]
	}
	if lin.Identity {
		return each(workers, rows, func(w, r int) (*rlwe.Ciphertext, error) {
			if bias(r) == 0 {
				return in[r], nil
			}
			return counted[w].AddNew(in[r], bias(r))
		})
	}
	ba := s.batch[n]
	level, degree := len(ba.weights)-1, in[0].Degree()
	rq := s.params.RingQ()
	reuse := last && distinctCiphertexts(in)
	out := make([]*rlwe.Ciphertext, rows)
	for r := range out {
		var from *rlwe.Ciphertext
		if reuse && r < len(in) {
			from = in[r]
		}
		out[r] = newBatchOutput(rq, from, degree, level, ba.spare)
		out[r].MetaData = in[0].MetaData.CopyNew()
		out[r].Scale = ba.scale
	}
	block := min(coefficientBlock, rq.N()) // both powers of two
	blocks := rq.N() / block
	polys := degree + 1
	// An output block may be written over an input block of the same task
	// that a later row still reads: with reuse, each task reads its input
	// blocks from a copy.
	var copies [][]uint64
	if reuse {
		copies = make([][]uint64, workers)
		for w := range copies {
			copies[w] = make([]uint64, len(in)*block)
		}
	}
	err := parallel.ForEach(workers, (level+1)*polys*blocks, func(w, task int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		i, j, lo := task/(polys*blocks), task/blocks%polys, task%blocks*block
		x, y := make([][]uint64, len(in)), make([][]uint64, rows)
		for c, ct := range in {
			x[c] = ct.Value[j].Coeffs[i][lo : lo+block]
			if reuse {
				x[c] = copies[w][c*block : (c+1)*block : (c+1)*block]
				copy(x[c], ct.Value[j].Coeffs[i][lo:lo+block])
			}
		}
		for r, ct := range out {
			y[r] = ct.Value[j].Coeffs[i][lo : lo+block]
		}
		accumulateBlock(y, x, lin, ba.groups, ba.weights[i], rq.SubRings[i], make([]uint64, 4*block))
		return nil
	})
	if err != nil {
		return nil, err
	}
	counted[0].c.add(PrimMulConst, level, len(lin.Vals))
	return each(workers, rows, func(w, r int) (*rlwe.Ciphertext, error) {
		if degree == 2 {
			if err := counted[w].Relinearize(out[r], out[r]); err != nil {
				return nil, err
			}
			if err := counted[w].Rescale(out[r], out[r]); err != nil {
				return nil, err
			}
		}
		if err := counted[w].Rescale(out[r], out[r]); err != nil {
			return nil, err
		}
		if b := bias(r); b != 0 {
			if err := counted[w].Add(out[r], b, out[r]); err != nil {
				return nil, err
			}
		}
		return out[r], nil
	})
}

// newBatchOutput is an affine map's output ciphertext of the given degree
// at level: its polynomials are from's if given (an input nothing reads
// afterwards: its pages are already faulted in, a fresh layer's are not),
// else new. With spare, a third polynomial waits beyond its length
// (batchAffine.spare).
func newBatchOutput(rq *ring.Ring, from *rlwe.Ciphertext, degree, level int, spare bool) *rlwe.Ciphertext {
	capacity := degree
	if spare {
		capacity = 2
	}
	polys := make([]ring.Poly, capacity+1)
	for j := range polys {
		if from != nil && j <= degree {
			polys[j] = ring.Poly{Coeffs: from.Value[j].Coeffs[:level+1]}
			continue
		}
		polys[j] = rq.AtLevel(level).NewPoly()
	}
	return &rlwe.Ciphertext{Element: rlwe.Element[ring.Poly]{Value: polys[:degree+1]}}
}

// distinctCiphertexts reports whether no two of cts share a polynomial, so
// that outputs may take over one each.
func distinctCiphertexts(cts []*rlwe.Ciphertext) bool {
	seen := make(map[*uint64]bool, len(cts))
	for _, ct := range cts {
		p := &ct.Value[0].Coeffs[0][0]
		if seen[p] {
			return false
		}
		seen[p] = true
	}
	return true
}

// batchInputShape is the shape of one input of a batch circuit, without
// the model's leading batch axis of 1.
func batchInputShape(info plan.TensorInfo) []int {
	if len(info.Shape) > 1 && info.Shape[0] == 1 {
		return info.Shape[1:]
	}
	return info.Shape
}

// checkBatchShape accepts a tensor of up to spec.Batch inputs along its
// first axis, each of the model input's shape (with or without its batch
// axis of 1), and returns how many inputs it holds.
func checkBatchShape(spec *plan.Spec, shape []int) (int, error) {
	one := batchInputShape(spec.Input)
	if len(shape) < 1 || shape[0] < 1 || shape[0] > spec.Batch || !(slices.Equal(shape[1:], one) || slices.Equal(shape[1:], spec.Input.Shape)) {
		return 0, fmt.Errorf("%w: input has shape %v; a batch circuit reads [B %s] with 1 ≤ B ≤ %d", ErrShape, shape, strings.Trim(fmt.Sprint(one), "[]"), spec.Batch)
	}
	return shape[0], nil
}

// encryptBatch encrypts element k of every input in ciphertext k, input i
// in slot i; with a seed (secret key only), ciphertext k's c1 is stream k
// of the seed.
func encryptBatch(spec *plan.Spec, key rlwe.EncryptionKey, t *ir.Tensor, seed *[seedSize]byte) ([]*rlwe.Ciphertext, error) {
	var cts []*rlwe.Ciphertext
	err := encryptBatchEach(spec, key, t, seed, func(ct *rlwe.Ciphertext) error {
		cts = append(cts, ct)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cts, nil
}

// encryptWindow is how many ciphertexts of a batch each worker encrypts
// before they are handed on.
const encryptWindow = 4

// encryptBatchEach is encryptBatch handing each ciphertext to emit, in
// order, as soon as it and those before it are encrypted: the workers
// encrypt a window of them at a time.
func encryptBatchEach(spec *plan.Spec, key rlwe.EncryptionKey, t *ir.Tensor, seed *[seedSize]byte, emit func(*rlwe.Ciphertext) error) error {
	images, err := checkBatchShape(spec, t.Shape)
	if err != nil {
		return err
	}
	if len(t.Data) != images*ir.NumElements(spec.Input.Shape) {
		return fmt.Errorf("%w: %d values for shape %v", ErrShape, len(t.Data), t.Shape)
	}
	for _, v := range t.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("input holds %v", v)
		}
	}
	p, err := newParameters(spec.Params)
	if err != nil {
		return err
	}
	size := ir.NumElements(spec.Input.Shape)
	workers := goruntime.GOMAXPROCS(0)
	ecds, encs := make([]*hefloat.Encoder, workers), make([]*rlwe.Encryptor, workers)
	for w := range workers {
		ecds[w], encs[w] = newEncoder(p), rlwe.NewEncryptor(p, key)
	}
	encryptOne := func(w, k int) (*rlwe.Ciphertext, error) {
		ecd, enc := ecds[w], encs[w]
		slots := make([]float64, 1<<spec.LogSlots)
		for i := range images {
			slots[i] = t.Data[i*size+k]
		}
		pt := hefloat.NewPlaintext(p, spec.Params.RingLevel(spec.Input.Level))
		pt.LogDimensions = ring.Dimensions{Rows: 0, Cols: spec.LogSlots}
		if err := ecd.Encode(slots, pt); err != nil {
			return nil, fmt.Errorf("cannot encode the input: %w", err)
		}
		if seed != nil {
			enc = enc.WithPRNG(uniformStream(*seed, k))
		}
		ct, err := enc.EncryptNew(pt)
		if err != nil {
			return nil, fmt.Errorf("cannot encrypt the input: %w", err)
		}
		return ct, nil
	}
	window := encryptWindow * workers
	for lo := 0; lo < size; lo += window {
		cts, err := each(workers, min(window, size-lo), func(w, i int) (*rlwe.Ciphertext, error) { return encryptOne(w, lo+i) })
		if err != nil {
			return err
		}
		for _, ct := range cts {
			if err := emit(ct); err != nil {
				return err
			}
		}
	}
	return nil
}

// decryptBatch decrypts a batch circuit's result into [spec.Batch, output
// shape] (without the output's batch axis of 1): row i is input i's
// result, padding included.
func decryptBatch(spec *plan.Spec, sk *SecretKey, ct *Ciphertext) (*ir.Tensor, error) {
	if len(ct.cts) != spec.OutputCiphertexts() {
		return nil, fmt.Errorf("%w: a result in %d ciphertexts, the circuit writes %d", ErrFormat, len(ct.cts), spec.OutputCiphertexts())
	}
	p, err := newParameters(spec.Params)
	if err != nil {
		return nil, err
	}
	size := len(ct.cts)
	out := ir.NewTensor(append([]int{spec.Batch}, batchInputShape(spec.Output)...)...)
	dec, ecd := rlwe.NewDecryptor(p, sk.sk), newEncoder(p)
	slots := make([]float64, 1<<spec.LogSlots)
	for k, c := range ct.cts {
		if err := ecd.Decode(dec.DecryptNew(c), slots); err != nil {
			return nil, fmt.Errorf("cannot decode the result: %w", err)
		}
		for i := range spec.Batch {
			out.Data[i*size+k] = slots[i]
		}
	}
	return out, nil
}
