package lattigox

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// ltLevel is the level the linear transformations are tested at: low,
// so that the Galois keys stay small on the wide set.
const ltLevel = 3

// galoisEvaluator is an evaluator with Galois keys for galEls at ltLevel.
func galoisEvaluator(p hefloat.Parameters, galEls []uint64) *hefloat.Evaluator {
	kgen := hefloat.NewKeyGenerator(p)
	level := ltLevel
	keys := kgen.GenGaloisKeysNew(galEls, kgen.GenSecretKeyNew(), rlwe.EvaluationKeyParameters{LevelQ: &level})
	return hefloat.NewEvaluator(p, rlwe.NewMemEvaluationKeySet(nil, keys...))
}

// randomCiphertext is a ciphertext of degree 1 at ltLevel with uniform
// residues, in the NTT domain: every residue of the result depends on
// every one of it.
func randomCiphertext(t testing.TB, p hefloat.Parameters, key string) *rlwe.Ciphertext {
	ct := rlwe.NewCiphertextRandom(keyedPRNG(t, key), p, 1, ltLevel)
	ct.IsNTT, ct.Scale = true, p.DefaultScale()
	ct.LogDimensions = ring.Dimensions{Cols: p.LogMaxSlots()}
	return ct
}

// TestMultiplyByDiagMatrixBSGSMatchesLattigo: on the split Lattigo's
// LinearTransformationEvaluator chooses, with its encoded diagonals,
// MultiplyByDiagMatrixBSGS (and so RotateHoistedQP and the giant-step
// accumulators) gives Lattigo's ciphertext bit for bit on every worker
// count, in either order of the giant steps, and gives back every element
// it borrows. The diagonals are many enough that inner sums and workers'
// accumulators exceed the wide set's lazy margin.
func TestMultiplyByDiagMatrixBSGSMatchesLattigo(t *testing.T) {
	for name, p := range testParameters(t) {
		slots := p.MaxSlots()
		rng := rand.New(rand.NewPCG(5, 6))
		diags := hefloat.Diagonals[float64]{}
		for len(diags) < 120 {
			k := rng.IntN(slots)
			if len(diags) < 10 {
				k = len(diags) // a giant step 0 with several baby steps
			}
			d := make([]float64, slots)
			for i := range d {
				d[i] = rng.NormFloat64()
			}
			diags[k] = d
		}
		ltp := hefloat.LinearTransformationParameters{
			DiagonalsIndexList:       diags.DiagonalsIndexList(),
			Level:                    ltLevel,
			Scale:                    rlwe.NewScale(p.Q()[ltLevel]),
			LogDimensions:            ring.Dimensions{Cols: p.LogMaxSlots()},
			LogBabyStepGianStepRatio: 1,
		}
		lt := hefloat.NewLinearTransformation(p, ltp)
		if err := hefloat.EncodeLinearTransformation(hefloat.NewEncoder(p), diags, lt); err != nil {
			t.Fatal(err)
		}
		eval := galoisEvaluator(p, hefloat.GaloisElementsForLinearTransformation(p, ltp))
		ct := randomCiphertext(t, p, name)
		want := hefloat.NewCiphertext(p, 1, ltLevel)
		if err := hefloat.NewLinearTransformationEvaluator(eval).Evaluate(ct, lt, want); err != nil {
			t.Fatal(err)
		}

		index, _, _ := he.LinearTransformation(lt).BSGSIndex()
		blocks := map[int][]BabyTerm{}
		var giants []int
		for g, babies := range index {
			giants = append(giants, g)
			for _, b := range babies {
				blocks[g] = append(blocks[g], BabyTerm{Baby: b, Pt: lt.Vec[g+b]})
			}
		}
		if len(blocks[0]) < 5 || len(giants) < 15 {
			t.Fatalf("%s: %d giant steps, %d terms at giant step 0: too few to pass the lazy margins", name, len(giants), len(blocks[0]))
		}
		for _, n := range workerCounts {
			for _, order := range []string{"ascending", "descending"} {
				tc := fmt.Sprintf("%s/workers=%d/giants %s", name, n, order)
				slices.Sort(giants)
				if order == "descending" {
					slices.Reverse(giants)
				}
				w, pool := newWorkers(t, eval, n)
				got, err := MultiplyByDiagMatrixBSGS(w, ct, giants, blocks, lt.Scale, nil)
				if err != nil {
					t.Fatalf("%s: %v", tc, err)
				}
				if !equalCiphertexts(want, got) {
					t.Errorf("%s: the ciphertext differs from Lattigo's", tc)
				}
				if pool.out != 0 {
					t.Errorf("%s: %d elements not given back", tc, pool.out)
				}
			}
		}
	}
}
