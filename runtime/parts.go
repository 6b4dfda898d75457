package runtime

import (
	"fmt"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime/internal/parallel"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// partsTransform is an affine map that reads an input the client
// encrypted in several parts, slot by slot (ir.Gather): Σ_j w_j ⊙ part_j,
// one plaintext product per part and no rotation.
type partsTransform struct {
	weights []*rlwe.Plaintext // per part, NTT and Montgomery form
	level   int
	// values, of a part whose weights are encoded on demand (nil in
	// weights), are its weights, which each evaluation encodes as
	// encodeParts does, with a weight encoder from encoders.
	values   [][]float64
	scale    rlwe.Scale
	logSlots int
	encoders *encoders
}

// encodeParts encodes each part's weights w_j[r] = W[r, j·partSlots + r],
// as the plan weighs them: the first keep parts' here, the others' by each
// evaluation.
func encodeParts(p hefloat.Parameters, ecd *hefloat.Encoder, n *ir.Node, pl *plan.Linear, level, logSlots int, scale rlwe.Scale, keep int) (*partsTransform, error) {
	g := n.Inputs[0].Gather
	part, slots := g.PartSlots(), 1<<logSlots
	w := make([][]float64, g.Parts)
	for j := range w {
		w[j] = make([]float64, slots)
	}
	for r := range n.Linear.Rows {
		n.Linear.Row(r, func(c int, v float64) { w[c/part][r] += pl.Weight(c, v) })
	}
	pt := &partsTransform{level: level, scale: scale, logSlots: logSlots, weights: make([]*rlwe.Plaintext, len(w)), values: make([][]float64, len(w))}
	for j := range w {
		if j >= keep {
			pt.values[j] = w[j]
			continue
		}
		var err error
		if pt.weights[j], err = pt.encode(p, ecd, w[j]); err != nil {
			return nil, fmt.Errorf("part %d: %w", j, err)
		}
	}
	return pt, nil
}

// encode encodes one part's weights, in NTT and Montgomery form.
func (pt *partsTransform) encode(p hefloat.Parameters, ecd *hefloat.Encoder, w []float64) (*rlwe.Plaintext, error) {
	x := hefloat.NewPlaintext(p, pt.level)
	x.Scale = pt.scale
	x.LogDimensions = ring.Dimensions{Rows: 0, Cols: pt.logSlots}
	if err := ecd.Encode(w, x); err != nil {
		return nil, err
	}
	p.RingQ().AtLevel(pt.level).MForm(x.Value, x.Value)
	return x, nil
}

// evaluate returns Σ_j w_j ⊙ in_j, not rescaled: each worker accumulates
// the parts it takes, then the workers' sums are added.
func (pt *partsTransform) evaluate(evals []*hefloat.Evaluator, in []*rlwe.Ciphertext) (*rlwe.Ciphertext, error) {
	if len(in) != len(pt.weights) {
		return nil, fmt.Errorf("%d input ciphertexts, the map reads %d", len(in), len(pt.weights))
	}
	p := evals[0].GetParameters()
	ringQ := p.RingQ().AtLevel(pt.level)
	workers := min(len(evals), len(in))
	acc := make([]*rlwe.Ciphertext, workers)
	for w := range acc {
		acc[w] = hefloat.NewCiphertext(*p, 1, pt.level)
	}
	// Server.Run checked every part's level, degree and NTT form.
	if err := parallel.ForEach(workers, len(in), func(w, j int) error {
		weights := pt.weights[j]
		if weights == nil {
			ecd := pt.encoders.encoder()
			defer pt.encoders.releaseEncoder(ecd)
			var err error
			if weights, err = pt.encode(*p, ecd, pt.values[j]); err != nil {
				return fmt.Errorf("part %d: %w", j, err)
			}
		}
		for i := range 2 {
			ringQ.MulCoeffsMontgomeryThenAdd(in[j].Value[i], weights.Value, acc[w].Value[i])
		}
		return nil
	}); err != nil {
		return nil, err
	}
	for _, a := range acc[1:] {
		for i := range 2 {
			ringQ.Add(acc[0].Value[i], a.Value[i], acc[0].Value[i])
		}
	}
	out := acc[0]
	out.MetaData = in[0].MetaData.CopyNew()
	out.Scale = in[0].Scale.Mul(pt.scale)
	return out, nil
}

func (pt *partsTransform) count(c *opCounter) {
	c.add(PrimMulPlain, pt.level, len(pt.weights))
	c.add(PrimAdd, pt.level, len(pt.weights)-1)
}
