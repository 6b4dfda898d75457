package lattigox

import (
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
)

// TestWithKeysOfMatchesLattigo: an evaluator bound by WithKeysOf rotates
// and relinearizes as WithKey's does, bit for bit, in the buffers of the
// evaluator it was bound from, with the keyed evaluator's automorphism
// tables (not copies); bound back to a keyless evaluator it holds no key.
func TestWithKeysOfMatchesLattigo(t *testing.T) {
	for name, p := range testParameters(t) {
		kgen := hefloat.NewKeyGenerator(p)
		sk := kgen.GenSecretKeyNew()
		galEl := p.GaloisElement(3)
		evk := rlwe.NewMemEvaluationKeySet(kgen.GenRelinearizationKeyNew(sk), kgen.GenGaloisKeyNew(galEl, sk))
		keyless := hefloat.NewEvaluator(p, nil)
		keyed := keyless.WithKey(evk)
		buffers := keyless.ShallowCopy()
		bound := WithKeysOf(buffers, keyed)
		if bound.GetEvaluatorBuffer() != buffers.GetEvaluatorBuffer() || bound.BasisExtender != buffers.BasisExtender {
			t.Fatalf("%s: the bound evaluator does not work in the buffers it was bound from", name)
		}
		if got, want := bound.AutomorphismIndex(galEl), keyed.AutomorphismIndex(galEl); len(got) == 0 || &got[0] != &want[0] {
			t.Fatalf("%s: the bound evaluator does not share the keyed one's automorphism index", name)
		}
		prng := keyedPRNG(t, name)
		ct := rlwe.NewCiphertextRandom(prng, p, 1, p.MaxLevel())
		ct.IsNTT = true
		square := rlwe.NewCiphertextRandom(prng, p, 2, p.MaxLevel())
		square.IsNTT = true
		for op, f := range map[string]func(*hefloat.Evaluator) (*rlwe.Ciphertext, error){
			"rotate": func(e *hefloat.Evaluator) (*rlwe.Ciphertext, error) { return e.RotateNew(ct, 3) },
			"relinearize": func(e *hefloat.Evaluator) (*rlwe.Ciphertext, error) {
				return e.RelinearizeNew(square)
			},
		} {
			want, err := f(buffers.WithKey(evk))
			if err != nil {
				t.Fatal(err)
			}
			got, err := f(bound)
			if err != nil {
				t.Fatalf("%s/%s: %v", name, op, err)
			}
			if !equalCiphertexts(want, got) {
				t.Errorf("%s/%s: the ciphertext differs from Lattigo's", name, op)
			}
		}
		if _, err := WithKeysOf(bound, keyless).RotateNew(ct, 3); err == nil {
			t.Errorf("%s: an evaluator bound back to a keyless one still rotates", name)
		}
	}
}
