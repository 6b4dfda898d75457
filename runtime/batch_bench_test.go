package runtime

import (
	"math/rand/v2"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// BenchmarkBatchAccumulate times one limb of a dense 845 → 100 map (CryptoNets'
// fc1 in the batch layout) at logN 13 and a 25-bit prime.
func BenchmarkBatchAccumulate(b *testing.B) {
	const n, cols, rows = 1 << 13, 845, 100
	gen := ring.NewNTTFriendlyPrimesGenerator(25, 2*n)
	q, err := gen.NextAlternatingPrime()
	if err != nil {
		b.Fatal(err)
	}
	sub, err := ring.NewSubRing(n, q)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	in := make([]*rlwe.Ciphertext, cols)
	for c := range in {
		poly := ring.Poly{Coeffs: [][]uint64{make([]uint64, n)}}
		for i := range poly.Coeffs[0] {
			poly.Coeffs[0][i] = rng.Uint64N(q)
		}
		in[c] = &rlwe.Ciphertext{Element: rlwe.Element[ring.Poly]{Value: []ring.Poly{poly}}}
	}
	idx, w := make([]int, cols), make([]uint64, cols)
	for c := range idx {
		idx[c], w[c] = c, rng.Uint64N(q)
	}
	out := make([][]uint64, rows)
	for r := range out {
		out[r] = make([]uint64, n)
	}
	b.ResetTimer()
	for range b.N {
		for lo := 0; lo < n; lo += coefficientBlock {
			for r := range rows {
				accumulate(out[r][lo:lo+coefficientBlock], in, 0, 0, lo, idx, w, sub)
			}
		}
	}
}
