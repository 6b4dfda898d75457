// Mirrors lattigo/v5@v5.0.7 core/rlwe/keygenerator.go:
// KeyGenerator.genEvaluationKey, the order its EncryptZero calls draw the
// uniform halves a (core/rlwe/encryptor.go: Encryptor.encryptZeroSk, a
// fresh ringqp.UniformSampler at the entry's levels, Q then P). hecc's key
// file holds a seed instead of the halves a, and the server redraws them.

package lattigox

import (
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// ExpandUniform writes into g's halves a (each entry's Value[1]) what a
// key generator whose encryptor reads prng drew for them: for each entry
// in order, its Q part and then its P part, each from a fresh sampler.
func ExpandUniform(p hefloat.Parameters, prng sampling.PRNG, g *rlwe.GadgetCiphertext) {
	rq, rp := p.RingQ().AtLevel(g.LevelQ()), p.RingP().AtLevel(g.LevelP())
	buf := uniformBuffer(rq)
	for i := range g.Value {
		for j := range g.Value[i] {
			readUniform(prng, buf, rq, g.Value[i][j][1].Q)
			readUniform(prng, buf, rp, g.Value[i][j][1].P)
		}
	}
}
