package runtime

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime/internal/lattigox"
	"github.com/hecc-dev/hecc/runtime/internal/parallel"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// linearTransform is an encoded transformation: for each giant step, the
// baby steps and the pre-rotated diagonals they multiply. The diagonals are
// encoded in the extended basis QP (NTT and Montgomery form) because the
// products are accumulated there, as in Lattigo's own BSGS evaluator: baby
// steps stay in QP (no ModDown each), every giant step brings down only the
// c1 it key-switches, and the result comes down once at the end.
type linearTransform struct {
	split  plan.Split
	level  int
	slots  int
	scale  rlwe.Scale                  // of the encoded diagonals
	meta   *rlwe.MetaData              // of the encoded diagonals
	blocks map[int][]lattigox.BabyTerm // giant step → terms
	// onDemand counts the terms encoded by each evaluation, which
	// borrows their embedders from encoders.
	onDemand int
	encoders *encoders
}

// newEmbedder embeds at level with ecd's precision, one per goroutine:
// float64's, or beyond it double-double's (ddEmbedder).
func newEmbedder(p hefloat.Parameters, ecd *hefloat.Encoder, level int) lattigox.TermEmbedder {
	if ecd.Prec() > encodingPrecision {
		return newDDEmbedder(p, level)
	}
	return lattigox.NewEmbedder(p, ecd, level, p.MaxLevelP())
}

// encodeLinearTransform encodes the diagonals at level with scale, on
// workers goroutines with an encoder each: the first keep of them in the
// order of their indices; the others keep their rotated values, which each
// evaluation encodes the same way (lattigox.OnDemand).
func encodeLinearTransform(p hefloat.Parameters, ecd *hefloat.Encoder, diags map[int][]float64, sp plan.Split, level, logSlots int, scale rlwe.Scale, workers, keep int) (*linearTransform, error) {
	slots := 1 << logSlots
	lt := &linearTransform{split: sp, level: level, slots: slots, scale: scale, blocks: map[int][]lattigox.BabyTerm{}}
	if len(diags) == 0 {
		// An all-zero map still multiplies by a plaintext, so the result
		// carries the scale the following rescale expects.
		diags = map[int][]float64{0: make([]float64, slots)}
	}
	keys := make([]int, 0, len(diags))
	for k := range diags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	lt.meta = &rlwe.MetaData{
		PlaintextMetaData:  rlwe.PlaintextMetaData{Scale: scale, LogDimensions: ring.Dimensions{Rows: 0, Cols: logSlots}, IsBatched: true},
		CiphertextMetaData: rlwe.CiphertextMetaData{IsNTT: true, IsMontgomery: true},
	}
	ringQP := p.RingQP().AtLevel(level, p.MaxLevelP())
	terms := make([]lattigox.BabyTerm, len(keys))
	workers = max(1, workers)
	embedders := make([]lattigox.TermEmbedder, workers)
	for w := range embedders {
		embedders[w] = newEmbedder(p, ecd, level)
	}
	if err := parallel.ForEach(workers, len(keys), func(w, i int) error {
		d, g := diags[keys[i]], sp.Steps[keys[i]][0]
		rotated := make([]float64, slots)
		for j := range rotated { // rot_{−g}(D_k)[j] = D_k[j − g]
			rotated[j] = d[((j-g)%slots+slots)%slots]
		}
		terms[i].Baby = sp.Steps[keys[i]][1]
		if i >= keep {
			terms[i].Values = rotated
			return nil
		}
		terms[i].Pt = ringQP.NewPoly()
		return embedders[w].Embed(rotated, lt.meta, terms[i].Pt)
	}); err != nil {
		return nil, err
	}
	for i, k := range keys {
		g := sp.Steps[k][0]
		lt.blocks[g] = append(lt.blocks[g], terms[i])
		if terms[i].Values != nil {
			lt.onDemand++
		}
	}
	for g := range lt.blocks {
		slices.SortFunc(lt.blocks[g], func(a, b lattigox.BabyTerm) int { return a.Baby - b.Baby })
	}
	return lt, nil
}

// count records the primitives one evaluation performs: a baby step per
// non-zero baby rotation, a product per diagonal, a giant step per
// non-zero giant rotation, and the final ModDown.
func (lt *linearTransform) count(c *opCounter) {
	c.add(PrimBabyStep, lt.level, lt.split.Babies())
	diags := 0
	for g, terms := range lt.blocks {
		diags += len(terms)
		if g != 0 {
			c.add(PrimGiantStep, lt.level, 1)
		}
	}
	c.add(PrimMulDiagonal, lt.level, diags)
	c.add(PrimModDown, lt.level, 1)
}

// evaluate computes the transformation of ct (not rescaled): the baby
// steps and then the giant steps split over the workers, each with its own
// evaluator and accumulator, in elements borrowed from their pool.
func (lt *linearTransform) evaluate(w lattigox.Workers, ct *rlwe.Ciphertext) (*rlwe.Ciphertext, error) {
	if ct.Level() != lt.level {
		return nil, fmt.Errorf("input at level %d, the transformation is encoded for level %d", ct.Level(), lt.level)
	}
	if ct.Degree() != 1 || !ct.IsNTT {
		return nil, fmt.Errorf("input of degree %d (NTT %v): a relinearized ciphertext in the NTT domain is expected", ct.Degree(), ct.IsNTT)
	}
	// The costliest giant steps first, so that the workers finish together:
	// those with a rotation before the one without, then by their terms.
	giants := make([]int, 0, len(lt.blocks))
	for g := range lt.blocks {
		giants = append(giants, g)
	}
	slices.SortFunc(giants, func(a, b int) int {
		if (a == 0) != (b == 0) {
			return map[bool]int{true: 1, false: -1}[a == 0]
		}
		if c := cmp.Compare(len(lt.blocks[b]), len(lt.blocks[a])); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	var od *lattigox.OnDemand
	if lt.onDemand > 0 {
		od = &lattigox.OnDemand{Embedders: lt.encoders.embedders(lt.level, len(w.Evals)), Meta: lt.meta}
		defer lt.encoders.releaseEmbedders(lt.level, od.Embedders)
	}
	return lattigox.MultiplyByDiagMatrixBSGS(w, ct, giants, lt.blocks, lt.scale, od)
}
