package lattigox

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// uniformParameters has primes of three bit lengths (three masks, and
// rejection rates from near 0 to near 1/2) at ring degree 2^logN.
func uniformParameters(t testing.TB, logN int) hefloat.Parameters {
	t.Helper()
	p, err := hefloat.NewParametersFromLiteral(hefloat.ParametersLiteral{
		LogN: logN, LogQ: []int{45, 30, 30, 60}, LogP: []int{61, 40}, LogDefaultScale: 30,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sameRest reports whether two PRNGs are at the same point of one stream:
// what is left of it must match, or a sampler read more or less of it.
func sameRest(a, b sampling.PRNG) bool {
	x, y := make([]byte, 64), make([]byte, 64)
	_, errA := a.Read(x)
	_, errB := b.Read(y)
	return errA == nil && errB == nil && bytes.Equal(x, y)
}

// TestReadUniformMatchesLattigo: readUniform draws what a fresh
// ring.UniformSampler draws, Q then P as ringqp's sampler reads them, and
// leaves the stream where Lattigo leaves it, at every ring degree
// params.Set.Validate allows and at a lower level. Below 2^10 the buffer
// (1024 bytes) is longer than the N bytes Lattigo uses of it between two
// reads.
func TestReadUniformMatchesLattigo(t *testing.T) {
	for logN := 4; logN <= 17; logN++ {
		p := uniformParameters(t, logN)
		for _, level := range []int{p.MaxLevel(), 1} {
			name := fmt.Sprintf("logN=%d/level=%d", logN, level)
			rq, rp := p.RingQ().AtLevel(level), p.RingP()
			key := name
			lattigo, mine := keyedPRNG(t, key), keyedPRNG(t, key)
			want := ringqp.Poly{Q: rq.NewPoly(), P: rp.NewPoly()}
			ringqp.NewUniformSampler(lattigo, *p.RingQP()).AtLevel(level, p.MaxLevelP()).Read(want)
			got := ringqp.Poly{Q: rq.NewPoly(), P: rp.NewPoly()}
			buf := uniformBuffer(rq)
			readUniform(mine, buf, rq, got.Q)
			readUniform(mine, buf, rp, got.P)
			if !want.Equal(&got) {
				t.Errorf("%s: the sample differs from Lattigo's", name)
			}
			if !sameRest(lattigo, mine) {
				t.Errorf("%s: the stream is not where Lattigo's sampler leaves it", name)
			}
		}
	}
}

// TestExpandUniformMatchesKeyGenerator: the halves a ExpandUniform draws
// are those of the keys Lattigo's key generator makes from the same
// stream, relinearization and Galois keys, at every ring degree the
// security table has (those of key files, 2^10 to 2^15, and of the test
// sets) and the smaller ones, at the top and at a lower level.
func TestExpandUniformMatchesKeyGenerator(t *testing.T) {
	for logN := 4; logN <= 15; logN++ {
		p := uniformParameters(t, logN)
		kgen := hefloat.NewKeyGenerator(p)
		sk := kgen.GenSecretKeyNew()
		for _, level := range []int{p.MaxLevel(), 1} {
			name := fmt.Sprintf("logN=%d/level=%d", logN, level)
			keyed := func() *rlwe.KeyGenerator {
				return &rlwe.KeyGenerator{Encryptor: kgen.Encryptor.WithPRNG(keyedPRNG(t, name))}
			}
			evk := rlwe.EvaluationKeyParameters{LevelQ: &level}
			for what, want := range map[string]*rlwe.GadgetCiphertext{
				"relinearization key": &keyed().GenRelinearizationKeyNew(sk, evk).GadgetCiphertext,
				"Galois key":          &keyed().GenGaloisKeyNew(p.GaloisElement(3), sk, evk).GadgetCiphertext,
			} {
				got := rlwe.NewGadgetCiphertext(p, 1, level, p.MaxLevelP(), 0)
				ExpandUniform(p, keyedPRNG(t, name), got)
				for i := range want.Value {
					for j := range want.Value[i] {
						if !want.Value[i][j][1].Equal(&got.Value[i][j][1]) {
							t.Errorf("%s: %s: entry (%d, %d)'s half a differs from the key generator's", name, what, i, j)
						}
					}
				}
			}
		}
	}
}

// TestUniformC1MatchesEncryptor: UniformC1 redraws the c1 of a secret-key
// encryption from the encryptor's stream, at the top and at a lower level.
func TestUniformC1MatchesEncryptor(t *testing.T) {
	for name, p := range testParameters(t) {
		sk := hefloat.NewKeyGenerator(p).GenSecretKeyNew()
		for _, level := range []int{p.MaxLevel(), 1} {
			want := hefloat.NewCiphertext(p, 1, level)
			if err := rlwe.NewEncryptor(p, sk).WithPRNG(keyedPRNG(t, name)).EncryptZero(want); err != nil {
				t.Fatal(err)
			}
			got := hefloat.NewCiphertext(p, 1, level)
			UniformC1(p, keyedPRNG(t, name), got)
			if !want.Value[1].Equal(&got.Value[1]) {
				t.Errorf("%s at level %d: c1 differs from the encryptor's", name, level)
			}
		}
	}
}
