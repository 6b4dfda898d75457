package runtime

import (
	"fmt"
	"testing"

	"github.com/hecc-dev/hecc/params"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// BenchmarkRelinearize compares Lattigo's relinearization with the one
// split over the workers, interleaved in one process, at CryptoNets' and
// LeNet-5's parameters (the sets hecc compile picks for them):
//
//	go test -run '^$' -bench Relinearize ./runtime
func BenchmarkRelinearize(b *testing.B) {
	sets := []struct {
		name string
		set  params.Set
	}{
		{"cryptonets", params.Set{LogN: 13, LogQ: []int{30, 25, 25, 25, 25, 25}, LogP: []int{31, 31}, LogScale: 25, Security: 128}},
		{"lenet5", params.Set{LogN: 15, LogQ: append([]int{38}, repeat(33, 19)...), LogP: repeat(39, 5), LogScale: 33, Security: 128}},
	}
	for _, tc := range sets {
		p, err := NewParameters(tc.set)
		if err != nil {
			b.Fatal(err)
		}
		kgen := rlwe.NewKeyGenerator(p)
		sk := kgen.GenSecretKeyNew()
		eval := hefloat.NewEvaluator(p, rlwe.NewMemEvaluationKeySet(kgen.GenRelinearizationKeyNew(sk)))
		workers := []*hefloat.Evaluator{eval, eval.ShallowCopy()}
		prng, err := sampling.NewPRNG()
		if err != nil {
			b.Fatal(err)
		}
		square := rlwe.NewCiphertextRandom(prng, p, 2, p.MaxLevel())
		out := hefloat.NewCiphertext(p, 1, p.MaxLevel())
		for _, impl := range []string{"lattigo", "split"} {
			b.Run(fmt.Sprintf("params=%s/impl=%s", tc.name, impl), func(b *testing.B) {
				for b.Loop() {
					if impl == "lattigo" {
						err = eval.Relinearize(square, out)
					} else {
						err = relinearize(workers, nil, square, out)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}
