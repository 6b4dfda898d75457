package runtime

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/hecc-dev/hecc/ir"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// denseLinear is a rows × cols map with every entry.
func denseLinear(rows, cols int) *ir.Linear {
	lin := &ir.Linear{Rows: rows, Cols: cols, RowPtr: make([]int, rows+1), ColIdx: make([]int, rows*cols), Vals: make([]float64, rows*cols)}
	for r := range rows {
		lin.RowPtr[r+1] = (r + 1) * cols
		for c := range cols {
			lin.ColIdx[r*cols+c] = c
		}
	}
	return lin
}

// BenchmarkBatchAccumulate times one limb of a dense 845 → 100 map (CryptoNets'
// fc1 in the batch layout) at logN 13, for primes below 2^32 and above
// (CryptoNets' first at scale 2^29; a flooded circuit's, split in two
// products up to 42 bits, in 128 bits above), and of a dense 25 → 845 map
// (as many terms per row as CryptoNets' convolution, whose rows are too
// short to amortise the final reductions) on a flooded circuit's 37-bit
// prime, in wall and in CPU time (the process's user time: the machine may
// be shared).
func BenchmarkBatchAccumulate(b *testing.B) {
	const n = 1 << 13
	for _, tc := range []struct {
		bitSize    uint64
		rows, cols int
	}{{29, 100, 845}, {30, 100, 845}, {34, 100, 845}, {37, 100, 845}, {41, 100, 845}, {50, 100, 845}, {37, 845, 25}} {
		bitSize, rows, cols := tc.bitSize, tc.rows, tc.cols
		b.Run(fmt.Sprintf("%d-bit/%dx%d", bitSize, rows, cols), func(b *testing.B) {
			gen := ring.NewNTTFriendlyPrimesGenerator(bitSize, 2*n)
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
			lin := denseLinear(rows, cols)
			w := make([]uint64, rows*cols)
			for k := range w {
				w[k] = rng.Uint64N(q)
			}
			groups := rowGroups(lin)
			out := make([][]uint64, rows)
			for r := range out {
				out[r] = make([]uint64, n)
			}
			x, y, scratch := make([][]uint64, cols), make([][]uint64, rows), make([]uint64, 4*coefficientBlock)
			b.ResetTimer()
			var r0, r1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
			for range b.N {
				for lo := 0; lo < n; lo += coefficientBlock {
					for c := range x {
						x[c] = in[c].Value[0].Coeffs[0][lo : lo+coefficientBlock]
					}
					for r := range y {
						y[r] = out[r][lo : lo+coefficientBlock]
					}
					accumulateBlock(y, x, lin, groups, w, sub, scratch)
				}
			}
			syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n*cols*rows), "ns/MAC")
			cpu := time.Duration(r1.Utime.Nano() - r0.Utime.Nano())
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(n*cols*rows), "cpu-ns/MAC")
		})
	}
}
