package runtime

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hecc-dev/hecc/runtime/internal/lattigox"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// minSample is the least time one timed sample lasts: fast primitives (an
// addition takes tens of microseconds) repeat within a sample so that the
// clock's resolution and scheduling jitter stay negligible.
const minSample = 2 * time.Millisecond

// hoistedBatch is how many baby steps a hoisted-rotation sample shares one
// decomposition between, as a linear transformation's baby steps do.
const hoistedBatch = 8

// PrimitiveSeconds times one primitive (see Primitives) on ciphertexts at
// level with the server's parameters and keys: the median over reps
// samples after a warm-up, in seconds per operation. Operands are random:
// no primitive's cost depends on what it encrypts. With Stats.Ops it gives
// a circuit's floor, Σ count × cost, against which the runtime's own
// overhead shows (hecc bench --floor).
func (s *Server) PrimitiveSeconds(op string, level, reps int) (float64, error) {
	if max := s.circuit.Spec.Params.MaxLevel(); level < 0 || level > max {
		return 0, fmt.Errorf("level %d is outside the chain [0, %d]", level, max)
	}
	if reps < 1 {
		return 0, fmt.Errorf("%d repetitions: at least one is needed", reps)
	}
	run, perRun, err := s.primitive(op, level)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := run(); err != nil {
		return 0, fmt.Errorf("%s at level %d: %w", op, level, err)
	}
	per := max(1, int(minSample/max(time.Since(start), time.Nanosecond)))
	samples := make([]float64, reps)
	for i := range samples {
		start := time.Now()
		for range per {
			if err := run(); err != nil {
				return 0, fmt.Errorf("%s at level %d: %w", op, level, err)
			}
		}
		samples[i] = time.Since(start).Seconds() / float64(per*perRun)
	}
	slices.Sort(samples)
	return samples[reps/2], nil
}

// primitive prepares op's operands at level and returns one run of it and
// how many operations a run performs.
func (s *Server) primitive(op string, level int) (func() error, int, error) {
	p, spec := s.params, s.circuit.Spec
	ringLevel := spec.Params.RingLevel(level)
	eval := s.eval.ShallowCopy()
	prng, err := sampling.NewPRNG()
	if err != nil {
		return nil, 0, err
	}
	random := func(degree int) *rlwe.Ciphertext {
		ct := rlwe.NewCiphertextRandom(prng, p, degree, ringLevel)
		ct.Scale = p.DefaultScale()
		ct.LogDimensions = ring.Dimensions{Rows: 0, Cols: spec.LogSlots}
		ct.IsBatched = true
		return ct
	}
	a, b, out := random(1), random(1), random(1)
	// Rotations by the circuit's own keys that reach this level.
	rotations := func(n int) ([]int, error) {
		var out []int
		for _, r := range spec.Rotations {
			if r.Level >= level && len(out) < n {
				out = append(out, p.SolveDiscreteLogGaloisElement(r.Galois))
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no rotation key of the circuit reaches level %d", level)
		}
		return out, nil
	}
	switch op {
	case PrimBabyStep:
		rots, err := rotations(hoistedBatch)
		if err != nil {
			return nil, 0, err
		}
		evals := []*hefloat.Evaluator{eval}
		// In the server's own buffers, as an evaluation rotates.
		return func() error {
			w := lattigox.Workers{Evals: evals, Pool: s.buf}
			rotated, err := lattigox.RotateHoistedQP(w, a, rots)
			w.ReleaseAll(rotated)
			return err
		}, len(rots), nil
	case PrimGiantStep:
		rots, err := rotations(1)
		if err != nil {
			return nil, 0, err
		}
		acc := lattigox.NewGiantAccumulator(&p, nil, ringLevel, p.MaxLevelP())
		return func() error { return acc.Add(eval, rots[0], nil, nil) }, 1, nil
	case PrimMulDiagonal:
		ringQP := p.RingQP().AtLevel(ringLevel, p.MaxLevelP())
		x, pt, sum := rlwe.NewElementExtended(p, 1, ringLevel, p.MaxLevelP()), ringQP.NewPoly(), ringQP.NewPoly()
		x.Value[0].Q.Copy(a.Value[0])
		x.Value[1].Q.Copy(a.Value[1])
		pt.Q.Copy(b.Value[0])
		return func() error {
			ringQP.MulCoeffsMontgomeryLazyThenAddLazy(pt, x.Value[0], sum)
			ringQP.MulCoeffsMontgomeryLazyThenAddLazy(pt, x.Value[1], sum)
			ringQP.Reduce(sum, sum)
			return nil
		}, 1, nil
	case PrimModDown:
		x := rlwe.NewElementExtended(p, 1, ringLevel, p.MaxLevelP())
		return func() error {
			for i := range out.Value {
				eval.ModDownQPtoQNTT(ringLevel, p.MaxLevelP(), x.Value[i].Q, x.Value[i].P, out.Value[i])
			}
			return nil
		}, 1, nil
	case PrimRelinearize:
		if !spec.Relin || spec.RelinLevel < level {
			return nil, 0, fmt.Errorf("the circuit has no relinearization key for level %d", level)
		}
		square := random(2)
		return func() error { return eval.Relinearize(square, out) }, 1, nil
	case PrimRescale:
		if level == 0 {
			return nil, 0, fmt.Errorf("a ciphertext at level 0 cannot be rescaled")
		}
		return func() error { return eval.Rescale(a, out) }, 1, nil
	case PrimMulPlain:
		values := make([]float64, 1<<spec.LogSlots)
		for i := range values {
			values[i] = 2*rand.Float64() - 1
		}
		pt := hefloat.NewPlaintext(p, ringLevel)
		pt.LogDimensions = ring.Dimensions{Rows: 0, Cols: spec.LogSlots}
		if err := newEncoder(p).Encode(values, pt); err != nil {
			return nil, 0, err
		}
		return func() error { return eval.Mul(a, pt, out) }, 1, nil
	case PrimMulConst:
		return func() error { return eval.Mul(a, 0.731, out) }, 1, nil
	case PrimAdd:
		return func() error { return eval.Add(a, b, out) }, 1, nil
	case PrimMul:
		product := random(2)
		return func() error { return eval.Mul(a, b, product) }, 1, nil
	}
	return nil, 0, fmt.Errorf("unknown primitive %q (want one of %v)", op, Primitives)
}
