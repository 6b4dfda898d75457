package lattigox

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
)

// TestEmbedMatchesLattigo: the Embedder's polynomials are Lattigo's
// Encoder.Embed's in QP and Encoder.Encode's into a plaintext, residue for
// residue, on full and sparse slots, in and out of the NTT and Montgomery
// forms, at several levels and scales, with zeros, negative values and
// values beyond 2^64 once scaled (Lattigo's big-integer path), as a
// scale of two primes per level makes them all. The encoder is float64's,
// as the runtime's, whatever the scale.
func TestEmbedMatchesLattigo(t *testing.T) {
	for name, p := range testParameters(t) {
		ecd := hefloat.NewEncoder(p, 53)
		rng := rand.New(rand.NewPCG(3, 4))
		logSlots := p.LogMaxSlots()
		for _, tc := range []struct {
			logSlots, level int
			scale, spread   float64
			coefficients    bool // neither NTT nor Montgomery form
		}{
			{logSlots, 4, math.Exp2(35), 1, false},
			{logSlots, 2, math.Exp2(35), 1e6, false},
			{logSlots - 4, 4, math.Exp2(40), 10, false},
			{logSlots - 4, 4, math.Exp2(40), 10, true},
			{3, 0, 1, 3, false},
			{logSlots, 4, math.Exp2(50), 1e9, false}, // some coefficients above 2^64
			{logSlots, 4, math.Exp2(50), 1e9, true},
			{logSlots, 4, math.Exp2(70), 10, false},
		} {
			values := make([]float64, 1<<tc.logSlots)
			for i := range values {
				if i%7 != 3 { // and some zeros
					values[i] = tc.spread * rng.NormFloat64()
				}
			}
			meta := &rlwe.MetaData{
				PlaintextMetaData:  rlwe.PlaintextMetaData{Scale: rlwe.NewScale(tc.scale), LogDimensions: ring.Dimensions{Cols: tc.logSlots}, IsBatched: true},
				CiphertextMetaData: rlwe.CiphertextMetaData{IsNTT: !tc.coefficients, IsMontgomery: !tc.coefficients},
			}
			rqp := p.RingQP().AtLevel(tc.level, p.MaxLevelP())
			want, got := rqp.NewPoly(), rqp.NewPoly()
			if err := ecd.Embed(values, meta, want); err != nil {
				t.Fatal(err)
			}
			// Leftovers in the output must not matter.
			for _, c := range append(got.Q.Coeffs, got.P.Coeffs...) {
				for i := range c {
					c[i] = 12345
				}
			}
			if err := NewEmbedder(p, ecd, tc.level, p.MaxLevelP()).Embed(values, meta, got); err != nil {
				t.Fatal(err)
			}
			if !want.Equal(&got) {
				t.Errorf("%s: %+v: the embedding differs from Lattigo's Embed", name, tc)
			}

			pt := hefloat.NewPlaintext(p, tc.level)
			pt.Scale, pt.LogDimensions, pt.IsNTT = meta.Scale, meta.LogDimensions, !tc.coefficients
			for _, c := range pt.Value.Coeffs {
				for i := range c {
					c[i] = 12345
				}
			}
			if err := ecd.Encode(values, pt); err != nil {
				t.Fatal(err)
			}
			q := p.RingQ().AtLevel(tc.level).NewPoly()
			for _, c := range q.Coeffs {
				for i := range c {
					c[i] = 54321
				}
			}
			if err := NewEmbedder(p, ecd, tc.level, -1).Embed(values, pt.MetaData, ringqp.Poly{Q: q}); err != nil {
				t.Fatal(err)
			}
			if !pt.Value.Equal(&q) {
				t.Errorf("%s: %+v: the embedding differs from Lattigo's Encode", name, tc)
			}
		}
	}
}
