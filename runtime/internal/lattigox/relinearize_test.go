package lattigox

import (
	"fmt"
	"testing"

	"github.com/hecc-dev/hecc/params"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// TestRelinearizeMatchesLattigo: Relinearize gives Evaluator.Relinearize's
// ciphertext bit for bit, on every worker count, at the top and at lower
// levels, into another ciphertext and in place, and gives back every
// element it borrows.
func TestRelinearizeMatchesLattigo(t *testing.T) {
	for name, p := range nttParameters(t) {
		kgen := hefloat.NewKeyGenerator(p)
		eval := hefloat.NewEvaluator(p, rlwe.NewMemEvaluationKeySet(kgen.GenRelinearizationKeyNew(kgen.GenSecretKeyNew())))
		prng := keyedPRNG(t, name)
		for _, level := range []int{p.MaxLevel(), p.MaxLevel() - 1, 1} {
			square := rlwe.NewCiphertextRandom(prng, p, 2, level)
			square.IsNTT = true
			want := hefloat.NewCiphertext(p, 1, level)
			if err := eval.Relinearize(square, want); err != nil {
				t.Fatal(err)
			}
			for _, n := range workerCounts {
				for _, inPlace := range []bool{false, true} {
					tc := fmt.Sprintf("%s/level=%d/workers=%d/in place=%v", name, level, n, inPlace)
					w, pool := newWorkers(t, eval, n)
					in, out := square.CopyNew(), hefloat.NewCiphertext(p, 1, level)
					if inPlace {
						out = in
					}
					if err := Relinearize(w, in, out); err != nil {
						t.Fatalf("%s: %v", tc, err)
					}
					if !equalCiphertexts(want, out) {
						t.Errorf("%s: the ciphertext differs from Lattigo's", tc)
					}
					if pool.out != 0 {
						t.Errorf("%s: %d elements not given back", tc, pool.out)
					}
				}
			}
		}
	}
}

// TestRescaleMatchesLattigo: Rescale gives Evaluator.Rescale's ciphertext
// bit for bit, scale included, on every worker count, for degrees 1 and 2,
// into another ciphertext and in place.
func TestRescaleMatchesLattigo(t *testing.T) {
	for name, p := range nttParameters(t) {
		eval := hefloat.NewEvaluator(p, nil)
		prng := keyedPRNG(t, name)
		primes := p.LevelsConsumedPerRescaling()
		for _, level := range []int{p.MaxLevel(), primes} {
			for _, degree := range []int{1, 2} {
				ct := rlwe.NewCiphertextRandom(prng, p, degree, level)
				ct.IsNTT, ct.Scale = true, p.DefaultScale().Mul(p.DefaultScale())
				want := hefloat.NewCiphertext(p, degree, level-primes)
				if err := eval.Rescale(ct, want); err != nil {
					t.Fatal(err)
				}
				for _, n := range workerCounts {
					for _, inPlace := range []bool{false, true} {
						tc := fmt.Sprintf("%s/level=%d/degree=%d/workers=%d/in place=%v", name, level, degree, n, inPlace)
						w, _ := newWorkers(t, eval, n)
						in, out := ct.CopyNew(), hefloat.NewCiphertext(p, degree, level)
						if inPlace {
							out = in
						}
						if err := Rescale(w, in, out); err != nil {
							t.Fatalf("%s: %v", tc, err)
						}
						if !equalCiphertexts(want, out) {
							t.Errorf("%s: the ciphertext differs from Lattigo's", tc)
						}
					}
				}
			}
		}
	}
}

// TestRescaleZeroResidues: Rescale gives Evaluator.Rescale's ciphertext
// where the residues of the coefficients modulo the primes it divides by
// are 0 (which Lattigo's lazy inverse NTT gives as q) and q - 1, which
// random ciphertexts almost never hold: on one prime per level and on two,
// below ntt.MaxModulus and above.
func TestRescaleZeroResidues(t *testing.T) {
	for _, name := range []string{"thirty-bit", "two-prime", "small", "flooded", "wide-last", "two-onto-narrow", "two-above-2^50"} {
		p := nttParameters(t)[name]
		eval := hefloat.NewEvaluator(p, nil)
		level, primes := p.MaxLevel(), p.LevelsConsumedPerRescaling()
		ct := rlwe.NewCiphertextRandom(keyedPRNG(t, "zero residues"), p, 1, level)
		ct.IsNTT, ct.Scale = true, p.DefaultScale().Mul(p.DefaultScale())
		for l := level - primes + 1; l <= level; l++ {
			s := p.RingQ().SubRings[l]
			for _, poly := range ct.Value {
				c := poly.Coeffs[l]
				for k := range c {
					c[k] = []uint64{0, s.Modulus - 1, c[k]}[k%3]
				}
				s.NTT(c, c)
			}
		}
		want := hefloat.NewCiphertext(p, 1, level-primes)
		if err := eval.Rescale(ct, want); err != nil {
			t.Fatal(err)
		}
		for _, n := range workerCounts {
			w, _ := newWorkers(t, eval, n)
			out := hefloat.NewCiphertext(p, 1, level)
			if err := Rescale(w, ct.CopyNew(), out); err != nil {
				t.Fatal(err)
			}
			if !equalCiphertexts(want, out) {
				t.Errorf("%s/workers=%d: the ciphertext differs from Lattigo's", name, n)
			}
		}
	}
}

// BenchmarkRelinearize compares Lattigo's relinearization with hecc's
// (split over the workers, or with package ntt's transforms for one P
// prime), interleaved in one process, at CryptoNets' and LeNet-5's
// parameters and CryptoNets' batch parameters (the sets hecc compile picks
// for them):
//
//	go test -run '^$' -bench Relinearize ./runtime/internal/lattigox
func BenchmarkRelinearize(b *testing.B) {
	sets := []struct {
		name string
		set  params.Set
	}{
		{"cryptonets", params.Set{LogN: 13, LogQ: append([]int{33}, repeat(28, 5)...), LogP: []int{34}, LogScale: 28, Security: 128}},
		{"lenet5", params.Set{LogN: 15, LogQ: append([]int{36}, repeat(31, 18)...), LogP: repeat(37, 7), LogScale: 31, Security: 128}},
		{"cryptonets-batch", params.Set{LogN: 13, LogQ: repeat(30, 6), LogP: []int{31}, LogScale: 30, Security: 128}},
	}
	for _, tc := range sets {
		b.Run("params="+tc.name, func(b *testing.B) { // keys made only for the sets run
			p, err := hefloat.NewParametersFromLiteral(hefloat.ParametersLiteral{LogN: tc.set.LogN, LogQ: tc.set.LogQ, LogP: tc.set.LogP, LogDefaultScale: tc.set.LogScale})
			if err != nil {
				b.Fatal(err)
			}
			kgen := rlwe.NewKeyGenerator(p)
			sk := kgen.GenSecretKeyNew()
			eval := hefloat.NewEvaluator(p, rlwe.NewMemEvaluationKeySet(kgen.GenRelinearizationKeyNew(sk)))
			workers := Workers{Evals: []*hefloat.Evaluator{eval, eval.ShallowCopy()}}
			prng, err := sampling.NewPRNG()
			if err != nil {
				b.Fatal(err)
			}
			square := rlwe.NewCiphertextRandom(prng, p, 2, p.MaxLevel())
			out := hefloat.NewCiphertext(p, 1, p.MaxLevel())
			for _, impl := range []string{"lattigo", "hecc"} {
				b.Run("impl="+impl, func(b *testing.B) {
					for b.Loop() {
						if impl == "lattigo" {
							err = eval.Relinearize(square, out)
						} else {
							err = Relinearize(workers, square, out)
						}
						if err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// BenchmarkRescale compares Lattigo's rescale of a degree-1 ciphertext
// with Rescale's on one worker (as the batch layout calls it, each worker
// rescaling its own ciphertexts), at the parameters hecc compile --batch
// picks for CryptoNets, unflooded and flooded at λ = 40 (two primes per
// level), from the top level:
//
//	go test -run '^$' -bench Rescale ./runtime/internal/lattigox
func BenchmarkRescale(b *testing.B) {
	sets := []struct {
		name string
		set  params.Set
	}{
		{"cryptonets-batch", params.Set{LogN: 13, LogQ: repeat(30, 6), LogP: []int{31}, LogScale: 30}},
		{"cryptonets-batch-flooded", params.Set{LogN: 15, LogQ: []int{39, 39, 37, 36, 37, 36, 37, 36, 37, 36, 37, 36}, LogP: repeat(40, 5), LogScale: 73}},
	}
	for _, tc := range sets {
		p, err := hefloat.NewParametersFromLiteral(hefloat.ParametersLiteral{LogN: tc.set.LogN, LogQ: tc.set.LogQ, LogP: tc.set.LogP, LogDefaultScale: tc.set.LogScale})
		if err != nil {
			b.Fatal(err)
		}
		eval := hefloat.NewEvaluator(p, nil)
		workers := Workers{Evals: []*hefloat.Evaluator{eval}}
		prng, err := sampling.NewPRNG()
		if err != nil {
			b.Fatal(err)
		}
		ct := rlwe.NewCiphertextRandom(prng, p, 1, p.MaxLevel())
		ct.IsNTT = true
		out := hefloat.NewCiphertext(p, 1, p.MaxLevel())
		for _, impl := range []string{"lattigo", "hecc"} {
			b.Run("params="+tc.name+"/impl="+impl, func(b *testing.B) {
				for b.Loop() {
					if impl == "lattigo" {
						err = eval.Rescale(ct, out)
					} else {
						err = Rescale(workers, ct, out)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
