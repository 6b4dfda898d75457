package ntt

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// primes are NTT-friendly primes of the sizes hecc's parameters use below
// 2^31 at degree n: Lattigo's alternating generator, as its parameters
// pick them, gives 30-bit primes on both sides of 2^30; the largest prime
// below 2^31 and a small one bound the range.
func primes(t testing.TB, n int) []uint64 {
	t.Helper()
	var qs []uint64
	for _, bits := range []uint64{20, 29, 30} {
		gen := ring.NewNTTFriendlyPrimesGenerator(bits, uint64(2*n))
		for range 2 {
			q, err := gen.NextAlternatingPrime()
			if err != nil {
				t.Fatal(err)
			}
			qs = append(qs, q)
		}
	}
	top := ring.NewNTTFriendlyPrimesGenerator(31, uint64(2*n))
	q, err := top.NextDownstreamPrime()
	if err != nil {
		t.Fatal(err)
	}
	return append(qs, q)
}

// widePrimes are NTT-friendly primes between 2^31 and 2^50 at degree n:
// the first above 2^31, Lattigo's alternating ones near 2^32, 2^36, 2^40
// and 2^45 (hecc's flooded circuits' primes are of 35 to 50 bits), and the
// largest below 2^50.
func widePrimes(t testing.TB, n int) []uint64 {
	t.Helper()
	next := func(bits uint64, f func(*ring.NTTFriendlyPrimesGenerator) (uint64, error)) uint64 {
		gen := ring.NewNTTFriendlyPrimesGenerator(bits, uint64(2*n))
		q, err := f(&gen)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	qs := []uint64{next(31, (*ring.NTTFriendlyPrimesGenerator).NextUpstreamPrime)}
	for _, bits := range []uint64{32, 36, 40, 45} {
		qs = append(qs, next(bits, (*ring.NTTFriendlyPrimesGenerator).NextAlternatingPrime))
	}
	return append(qs, next(50, (*ring.NTTFriendlyPrimesGenerator).NextDownstreamPrime))
}

// testKernels and testWideKernels are the kernel sets this machine runs,
// chosen or not.
var (
	testKernels     = map[string]*kernelSet[uint32]{}
	testWideKernels = map[string]*kernelSet[uint64]{}
)

// eachKernelSet runs f with each of testKernels as the package's kernels.
func eachKernelSet(t *testing.T, f func(t *testing.T)) { eachSet(t, testKernels, &kernels, f) }

// eachWideKernelSet runs f with each of testWideKernels as the package's
// wide kernels.
func eachWideKernelSet(t *testing.T, f func(t *testing.T)) {
	eachSet(t, testWideKernels, &wideKernels, f)
}

func eachSet[W uint32 | uint64](t *testing.T, sets map[string]*kernelSet[W], k **kernelSet[W], f func(t *testing.T)) {
	if len(sets) == 0 {
		t.Skip("no vector kernels for these primes on this machine")
	}
	chosen := *k
	defer func() { *k = chosen }()
	for name, ks := range sets {
		*k = ks
		t.Run(name, f)
	}
}

func subRing(t testing.TB, n int, q uint64) *ring.SubRing {
	t.Helper()
	r, err := ring.NewRing(n, []uint64{q})
	if err != nil {
		t.Fatal(err)
	}
	return r.SubRings[0]
}

// The transforms equal Lattigo's bit for bit, forward and backward, out of
// place and in place, on random inputs in [0, q) and on the extremes.
func TestTransformsMatchLattigo(t *testing.T) {
	eachKernelSet(t, transformsMatchLattigo(primes, []int{4, 5, 10, 13, 15}))
}

// The wide transforms too, at the degrees of hecc's flooded circuits.
func TestWideTransformsMatchLattigo(t *testing.T) {
	eachWideKernelSet(t, transformsMatchLattigo(widePrimes, []int{4, 5, 12, 13, 14, 15, 16}))
}

func transformsMatchLattigo(primes func(testing.TB, int) []uint64, logNs []int) func(*testing.T) {
	return func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, logN := range logNs {
			n := 1 << logN
			for _, q := range primes(t, n) {
				t.Run(fmt.Sprintf("logN=%d/q=%d", logN, q), func(t *testing.T) {
					sub := subRing(t, n, q)
					tab := For(sub)
					if tab == nil {
						t.Fatal("no table")
					}
					for trial := range 5 {
						in := make([]uint64, n)
						for k := range in {
							switch trial {
							case 0:
								in[k] = q - 1
							case 1:
								in[k] = uint64(k % 2)
							case 2:
								in[k] = (q - 1) * uint64(k%2)
							default:
								in[k] = rng.Uint64N(q)
							}
						}
						want, got := make([]uint64, n), make([]uint64, n)
						sub.NTT(in, want)
						tab.Forward(in, got)
						if i := firstDiff(got, want); i >= 0 {
							t.Fatalf("trial %d: NTT coefficient %d is %d, Lattigo's %d", trial, i, got[i], want[i])
						}
						sub.INTT(in, want)
						tab.Inverse(in, got)
						if i := firstDiff(got, want); i >= 0 {
							t.Fatalf("trial %d: INTT coefficient %d is %d, Lattigo's %d", trial, i, got[i], want[i])
						}
						inPlace := slices.Clone(in)
						tab.Inverse(inPlace, inPlace)
						tab.Forward(inPlace, inPlace)
						if i := firstDiff(inPlace, in); i >= 0 {
							t.Fatalf("trial %d: NTT(INTT(a)) in place differs from a at %d", trial, i)
						}
					}
				})
			}
		}
	}
}

// The forward transform takes any input below 2^32 (2^52 for the wide
// kernels) and adds a constant first (the rescale's sums of a residue
// modulo another prime and a constant), and the backward one takes inputs
// below 2q, as Lattigo's lazy values.
func TestTransformsTakeLazyInputs(t *testing.T) {
	eachKernelSet(t, transformsTakeLazyInputs(primes, 1<<32))
}

func TestWideTransformsTakeLazyInputs(t *testing.T) {
	eachWideKernelSet(t, transformsTakeLazyInputs(widePrimes, 1<<52))
}

func transformsTakeLazyInputs(primes func(testing.TB, int) []uint64, bound uint64) func(*testing.T) {
	return func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		const n = 1 << 13
		for _, q := range primes(t, n) {
			sub := subRing(t, n, q)
			tab := For(sub)
			in, reduced := make([]uint64, n), make([]uint64, n)
			for k := range in {
				in[k] = rng.Uint64N(bound)
				reduced[k] = in[k] % q
			}
			in[0], reduced[0] = bound-1, (bound-1)%q
			want, got := make([]uint64, n), make([]uint64, n)
			sub.NTT(reduced, want)
			tab.Forward(in, got)
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("q=%d: NTT of inputs below 2^32: coefficient %d is %d, want %d", q, i, got[i], want[i])
			}
			a := rng.Uint64N(bound - q)
			for k := range in {
				in[k] = rng.Uint64N(q)
				reduced[k] = (in[k] + a) % q
			}
			sub.NTT(reduced, want)
			tab.ForwardPlus(in, a, got)
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("q=%d: NTT of inputs plus %d: coefficient %d is %d, want %d", q, a, i, got[i], want[i])
			}
			for k := range in {
				in[k] = rng.Uint64N(2 * q)
				reduced[k] = in[k] % q
			}
			sub.INTT(reduced, want)
			tab.Inverse(in, got)
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("q=%d: INTT of inputs below 2q: coefficient %d is %d, want %d", q, i, got[i], want[i])
			}
		}
	}
}

// ForwardMulAdd is Lattigo's NTT of the reduced a + off + b·w, for a + off
// and b up to 2^52 - 1, w up to q - 1.
func TestWideForwardMulAdd(t *testing.T) { eachWideKernelSet(t, forwardMulAdd) }

func forwardMulAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const n = 1 << 12
	for _, q := range widePrimes(t, n) {
		sub := subRing(t, n, q)
		tab := For(sub)
		if !tab.Wide() {
			t.Fatalf("q=%d: a narrow table", q)
		}
		for _, w := range []uint64{rng.Uint64N(q), q - 1, 0} {
			off := rng.Uint64N(2 * q)
			a, b, want := make([]uint64, n), make([]uint64, n), make([]uint64, n)
			for k := range a {
				a[k], b[k] = rng.Uint64N(1<<52-off), rng.Uint64N(1<<52)
			}
			a[0], b[0], a[1], b[1] = 1<<52-1-off, 1<<52-1, 0, 0
			for k := range want {
				want[k] = ((a[k]+off)%q + ring.BRed(b[k]%q, w, q, sub.BRedConstant)) % q
			}
			// The combination alone, below 2q, as the transform's stages
			// take it.
			lazy := make([]uint64, n)
			wideKernels.mulAdd(&lazy[0], &a[0], &b[0], n, off, &[2]uint64{w, wideQuotient(w, q)}, &tab.c)
			for k, v := range lazy {
				if v >= 2*q || v%q != want[k] {
					t.Fatalf("q=%d, w=%d: combination %d is %d, want %d below 2q", q, w, k, v, want[k])
				}
			}
			sub.NTT(want, want)
			got := slices.Clone(b)
			tab.ForwardMulAdd(a, off, got, w, got)
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("q=%d, w=%d: coefficient %d is %d, want %d", q, w, i, got[i], want[i])
			}
		}
	}
}

// SubMul is Lattigo's SubThenMulScalarMontgomeryTwoModulus, on inputs
// below 2q, the extremes included.
func TestSubMul(t *testing.T) { eachKernelSet(t, subMul(primes)) }

func TestWideSubMul(t *testing.T) { eachWideKernelSet(t, subMul(widePrimes)) }

func subMul(primes func(testing.TB, int) []uint64) func(*testing.T) {
	return func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		const n = 1 << 12
		for _, q := range primes(t, n) {
			sub := subRing(t, n, q)
			tab := For(sub)
			x, y := make([]uint64, n), make([]uint64, n)
			for k := range x {
				x[k], y[k] = rng.Uint64N(2*q), rng.Uint64N(2*q)
			}
			x[0], y[0], x[1], y[1] = 2*q-1, 0, 0, 2*q-1
			for _, c := range []uint64{rng.Uint64N(q), q - 1, 1} {
				want, got := make([]uint64, n), make([]uint64, n)
				sub.SubThenMulScalarMontgomeryTwoModulus(x, y, ring.MForm(c, q, sub.BRedConstant), want)
				tab.SubMul(x, y, c, got)
				if i := firstDiff(got, want); i >= 0 {
					t.Fatalf("q=%d, c=%d: coefficient %d is %d, want %d", q, c, i, got[i], want[i])
				}
			}
		}
	}
}

// For leaves to Lattigo the rings the kernels do not cover: those of a
// prime whose size has no kernel set on the machine, of a prime of 2^50
// or more, of degree 8, and conjugate-invariant ones.
func TestForDeclines(t *testing.T) {
	narrow, wide := primes(t, 1<<13)[2], widePrimes(t, 1<<13)[2]
	chosen, chosenWide := kernels, wideKernels
	defer func() { kernels, wideKernels = chosen, chosenWide }()
	kernels, wideKernels = nil, nil
	for name, q := range map[string]uint64{"narrow": narrow, "wide": wide} {
		if For(subRing(t, 1<<13, q)) != nil {
			t.Errorf("%s prime: a table without kernels", name)
		}
	}
	kernels, wideKernels = chosen, chosenWide
	if kernels == nil || wideKernels == nil {
		t.Skip("no vector kernels for some primes on this machine")
	}
	gen := ring.NewNTTFriendlyPrimesGenerator(51, 1<<14)
	big, err := gen.NextDownstreamPrime()
	if err != nil {
		t.Fatal(err)
	}
	ci, err := ring.NewRingConjugateInvariant(1<<12, []uint64{narrow, wide})
	if err != nil {
		t.Fatal(err)
	}
	for name, sub := range map[string]*ring.SubRing{
		"prime above 2^50":         subRing(t, 1<<13, big),
		"degree 8":                 subRing(t, 8, primes(t, 8)[2]),
		"degree 8, wide prime":     subRing(t, 8, widePrimes(t, 8)[2]),
		"conjugate-invariant":      ci.SubRings[0],
		"conjugate-invariant wide": ci.SubRings[1],
	} {
		if For(sub) != nil {
			t.Errorf("%s: a table", name)
		}
	}
}

func firstDiff(a, b []uint64) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// BenchmarkNTT compares Lattigo's transforms with each kernel set's at
// logN 13, on a 30-bit prime below 2^30 and one above:
//
//	go test -run '^$' -bench NTT ./runtime/internal/ntt
func BenchmarkNTT(b *testing.B) {
	const n = 1 << 13
	for _, q := range primes(b, n)[4:6] {
		benchmarkNTT(b, n, q, testKernels, &kernels)
	}
}

// BenchmarkWideNTT compares Lattigo's transforms with the wide kernel
// sets' at logN 13 to 16, on primes near 2^36 and 2^45 and below 2^50:
//
//	go test -run '^$' -bench WideNTT ./runtime/internal/ntt
func BenchmarkWideNTT(b *testing.B) {
	for logN := 13; logN <= 16; logN++ {
		n := 1 << logN
		qs := widePrimes(b, n)
		for _, q := range []uint64{qs[2], qs[4], qs[5]} {
			benchmarkNTT(b, n, q, testWideKernels, &wideKernels)
		}
	}
}

func benchmarkNTT[W uint32 | uint64](b *testing.B, n int, q uint64, sets map[string]*kernelSet[W], k **kernelSet[W]) {
	sub := subRing(b, n, q)
	tab := For(sub)
	rng := rand.New(rand.NewPCG(7, 8))
	p := make([]uint64, n)
	for i := range p {
		p[i] = rng.Uint64N(q)
	}
	name := fmt.Sprintf("logN=%d/q=%d", bits.Len(uint(n))-1, q)
	b.Run(name+"/lattigo/forward", func(b *testing.B) {
		for b.Loop() {
			sub.NTT(p, p)
		}
	})
	b.Run(name+"/lattigo/inverse", func(b *testing.B) {
		for b.Loop() {
			sub.INTT(p, p)
		}
	})
	chosen := *k
	defer func() { *k = chosen }()
	for ks, set := range sets {
		*k = set
		b.Run(name+"/"+ks+"/forward", func(b *testing.B) {
			for b.Loop() {
				tab.Forward(p, p)
			}
		})
		b.Run(name+"/"+ks+"/inverse", func(b *testing.B) {
			for b.Loop() {
				tab.Inverse(p, p)
			}
		})
	}
}
