package runtime

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tuneinsight/lattigo/v5/ring"
	"golang.org/x/sys/cpu"
)

// Every vector kernel this machine runs for primes above 2^32, chosen or
// not, equals the Go kernel TestBatchAccumulateLazy checks against big
// integers: the AVX2 split kernel where AVX-512 IFMA is chosen instead,
// and IFMA's, one row and four at a time, on inputs and weights whose
// halves are all ones, past their 2^12-term flushes.
func TestBatchAccumulateVectorKernels(t *testing.T) {
	if !cpu.X86.HasAVX2 {
		t.Skip("no AVX2")
	}
	kernels := map[string]func([]uint64, []uint64, [][]uint64, []int, []uint64, uint64, []uint64, uint, int){
		"avx2": accumulateSplitAVX2,
	}
	if cpu.X86.HasAVX512IFMA {
		kernels["ifma"] = accumulateSplitIFMA
	}
	const inputs, block = 9000, 27
	rng := rand.New(rand.NewPCG(3, 4))
	cols := rng.Perm(inputs)
	for _, bitSize := range []uint64{33, 34, 38, 40} {
		gen := ring.NewNTTFriendlyPrimesGenerator(bitSize, 64)
		q, err := gen.NextAlternatingPrime()
		if err != nil {
			t.Fatal(err)
		}
		bred := ring.BRedConstant(q)
		sh, lazy := splitTerms(q)
		x := make([][]uint64, inputs)
		for c := range x {
			x[c] = make([]uint64, block)
			for i := range x[c] {
				x[c][i] = q - 1 - rng.Uint64N(4)
				if i%2 == 1 {
					x[c][i] = ((q-1)>>32-1)<<32 | (1<<32 - 1)
				}
			}
		}
		w := make([]uint64, inputs)
		for k := range w {
			w[k] = []uint64{rng.Uint64N(q), q - 1, ((q-1)>>sh-1)<<sh | (1<<sh - 1)}[k%3]
		}
		want := make([]uint64, block)
		accumulateSplit(want, make([]uint64, 4*block), x, cols, w, q, bred, sh, lazy)
		for name, kernel := range kernels {
			got := make([]uint64, block)
			kernel(got, make([]uint64, 4*block), x, cols, w, q, bred, sh, lazy)
			if !slices.Equal(got, want) {
				t.Errorf("%s kernel, %d-bit prime: %v, want %v", name, bitSize, got, want)
			}
		}
		if !cpu.X86.HasAVX512IFMA {
			continue
		}
		// Four rows, the first with the weights above, the others rotated.
		var acc, ws [rowBlock][]uint64
		for r := range rowBlock {
			acc[r], ws[r] = make([]uint64, block), append(slices.Clone(w[r:]), w[:r]...)
		}
		accumulateSplitRowsIFMA(&acc, make([]uint64, 4*block), x, cols, &ws, q, bred)
		for r := range rowBlock {
			want := make([]uint64, block)
			accumulateSplit(want, make([]uint64, 4*block), x, cols, ws[r], q, bred, sh, lazy)
			if !slices.Equal(acc[r], want) {
				t.Errorf("ifma rows kernel, %d-bit prime, row %d: %v, want %v", bitSize, r, acc[r], want)
			}
		}
	}
}

// TestCombine52: combine52 is (lo + hi·2^52) mod q for the extremes of lo
// and hi and random ones, on primes from 33 to 43 bits.
func TestCombine52(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for bitSize := uint64(33); bitSize <= 43; bitSize++ {
		gen := ring.NewNTTFriendlyPrimesGenerator(bitSize, 64)
		q, err := gen.NextAlternatingPrime()
		if err != nil {
			t.Fatal(err)
		}
		bred := ring.BRedConstant(q)
		c, cs := shoup52(q, bred)
		values := []uint64{0, 1, q - 1, q, 1<<52 - 1, math.MaxUint64 - 1, math.MaxUint64}
		for range 2000 {
			values = append(values, rng.Uint64(), rng.Uint64N(q), math.MaxUint64-rng.Uint64N(1<<20))
		}
		bq := new(big.Int).SetUint64(q)
		for i, lo := range values {
			for _, hi := range append(slices.Clone(values[:7]), values[len(values)-1-i]) {
				want := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 52)
				want.Add(want, new(big.Int).SetUint64(lo)).Mod(want, bq)
				if got := combine52(lo, hi, q, c, cs, bred); got != want.Uint64() {
					t.Fatalf("%d-bit q=%d: combine52(%d, %d) = %d, want %d", bitSize, q, lo, hi, got, want)
				}
			}
		}
	}
}
