// Mirrors lattigo/v5@v5.0.7 core/rlwe/encryptor.go: Encryptor.encryptZeroSk
// (a *Ciphertext of degree 1: how c1 is drawn). A ciphertext file made
// under the secret key holds a seed instead of c1, and the server redraws
// it.

package lattigox

import (
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// UniformC1 writes into ct's c1 what a secret-key encryptor reading prng
// drew for it when it encrypted ct (NTT form, at ct's level): a fresh
// ringqp.UniformSampler's Read of Q alone, by readUniform, which samples
// faster (a batch's input is hundreds of ciphertexts).
func UniformC1(p hefloat.Parameters, prng sampling.PRNG, ct *rlwe.Ciphertext) {
	rq := p.RingQ().AtLevel(ct.Level())
	readUniform(prng, uniformBuffer(rq), rq, ct.Value[1])
}
