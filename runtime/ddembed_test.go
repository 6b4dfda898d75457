package runtime

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/hecc-dev/hecc/params"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// TestDDEmbedMatchesLattigo: the double-double embedding's coefficients
// are those of Lattigo's big-float Embed at 128 bits to within a few units
// of the last integer, over Q and P, at scales of two primes per level up
// to params.MaxLogScale, on full and sparse slots, with zeros and values of
// several magnitudes (float64's embedding is off by more than the primes
// at these scales). In the NTT and Montgomery forms too, the two agree
// once mapped back.
func TestDDEmbedMatchesLattigo(t *testing.T) {
	set := params.InsecureTestSet(12, 3, 70)
	p, err := newParameters(set)
	if err != nil {
		t.Fatal(err)
	}
	exact := hefloat.NewEncoder(p, 128)
	rng := rand.New(rand.NewPCG(5, 6))
	level := p.MaxLevel()
	for _, tc := range []struct {
		logSlots int
		logScale float64
		spread   float64
		ntt      bool
	}{
		{p.LogMaxSlots(), 70, 1, false},
		{p.LogMaxSlots(), params.MaxLogScale, 1, false},
		{p.LogMaxSlots() - 3, 96.3, 1e3, false},
		{5, 80, 1e-3, false},
		{p.LogMaxSlots(), 90, 1, true},
	} {
		values := make([]float64, 1<<tc.logSlots)
		for i := range values {
			if i%5 != 2 {
				values[i] = tc.spread * rng.NormFloat64()
			}
		}
		meta := &rlwe.MetaData{
			PlaintextMetaData:  rlwe.PlaintextMetaData{Scale: rlwe.NewScale(new(big.Float).SetMantExp(big.NewFloat(math.Exp2(tc.logScale-math.Floor(tc.logScale))), int(tc.logScale))), LogDimensions: ring.Dimensions{Cols: tc.logSlots}, IsBatched: true},
			CiphertextMetaData: rlwe.CiphertextMetaData{IsNTT: tc.ntt, IsMontgomery: tc.ntt},
		}
		rqp := p.RingQP().AtLevel(level, p.MaxLevelP())
		want, got, rough := rqp.NewPoly(), rqp.NewPoly(), rqp.NewPoly()
		if err := exact.Embed(values, meta, want); err != nil {
			t.Fatal(err)
		}
		if err := newDDEmbedder(p, level).Embed(values, meta, got); err != nil {
			t.Fatal(err)
		}
		if err := newEmbedder(p, newEncoder(p), level).Embed(values, meta, rough); err != nil {
			t.Fatal(err)
		}
		if tc.ntt {
			for _, x := range []ring.Poly{want.Q, got.Q} {
				rqp.RingQ.IMForm(x, x)
				rqp.RingQ.INTT(x, x)
			}
		}
		worst, roughest := 0.0, 0.0
		for j, q := range rqp.RingQ.ModuliChain()[:level+1] {
			for i := range want.Q.Coeffs[j] {
				worst = max(worst, centred(got.Q.Coeffs[j][i], want.Q.Coeffs[j][i], q))
				if !tc.ntt {
					roughest = max(roughest, centred(rough.Q.Coeffs[j][i], want.Q.Coeffs[j][i], q))
				}
			}
		}
		if !tc.ntt {
			for j, q := range rqp.RingP.ModuliChain()[:p.MaxLevelP()+1] {
				for i := range want.P.Coeffs[j] {
					worst = max(worst, centred(got.P.Coeffs[j][i], want.P.Coeffs[j][i], q))
				}
			}
		}
		t.Logf("%+v: double-double %g units off, float64 %g", tc, worst, roughest)
		if worst > 8 {
			t.Errorf("%+v: a coefficient %g units from Lattigo's 128-bit embedding", tc, worst)
		}
		if !tc.ntt && roughest < 1<<10 {
			t.Errorf("%+v: float64's embedding is only %g units off: the test does not tell the precisions apart", tc, roughest)
		}
	}
}

// centred is |a − b| mod q, taken in (−q/2, q/2]. Lattigo's big-float
// quantisation may leave a residue in [q, 2q).
func centred(a, b, q uint64) float64 {
	d := (a%q + q - b%q) % q
	if d > q/2 {
		return float64(q - d)
	}
	return float64(d)
}
