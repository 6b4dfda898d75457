package runtime

import (
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// ErrNoPublicKey reports a circuit that floods its results (the spec's
// CircuitPrivacyBits) served without the client's public key.
var ErrNoPublicKey = errors.New("the circuit floods its results for circuit privacy and needs the client's public key")

// WithPublicKey gives the evaluation keys the public key of their key set,
// which a circuit that floods its results encrypts the flood under.
func (e *EvalKeys) WithPublicKey(pk *PublicKey) error {
	if err := checkKeySet(KindPublicKey, pk.id, e.id); err != nil {
		return err
	}
	e.public = pk.pk
	return nil
}

// flood re-randomises a result and hides the error the evaluation left in
// it, a function of the weights (plan.Flood): it returns the result plus a
// fresh encryption of zero under the client's public key whose error has
// coefficients uniform in ±FloodWidth. The encryptor's randomness and the
// flood's are seeded from crypto/rand.
func (s *Server) flood(result *rlwe.Ciphertext) (*rlwe.Ciphertext, error) {
	if result.Degree() != 1 {
		return nil, fmt.Errorf("cannot flood a result of degree %d", result.Degree())
	}
	width := s.circuit.Spec.FloodWidth
	level := result.Level()
	zero := rlwe.NewCiphertext(s.params, 1, level)
	zero.MetaData = result.MetaData.CopyNew()
	if err := rlwe.NewEncryptor(s.params, s.public).EncryptZero(zero); err != nil {
		return nil, fmt.Errorf("cannot encrypt the flood: %w", err)
	}
	var seed [32]byte
	rand.Read(seed[:])
	rq := s.params.RingQ().AtLevel(level)
	values := make([]int64, rq.N())
	sampleFlood(mrand.New(mrand.NewChaCha8(seed)), width, values)
	e := rq.NewPoly()
	for i, q := range rq.ModuliChain()[:level+1] {
		for j, v := range values {
			e.Coeffs[i][j] = uint64(v) % q
			if v < 0 {
				e.Coeffs[i][j] = (q - uint64(-v)%q) % q
			}
		}
	}
	if zero.IsNTT {
		rq.NTT(e, e)
	}
	rq.Add(zero.Value[0], e, zero.Value[0])
	out := rlwe.NewCiphertext(s.params, 1, level)
	out.MetaData = result.MetaData.CopyNew()
	for i := range out.Value {
		rq.Add(result.Value[i], zero.Value[i], out.Value[i])
	}
	return out, nil
}

// sampleFlood fills values with integers uniform in [-width, width]
// (width < 2^62, plan.Spec.Validate): Uint64N is unbiased.
func sampleFlood(r *mrand.Rand, width uint64, values []int64) {
	for j := range values {
		values[j] = int64(r.Uint64N(2*width+1)) - int64(width)
	}
}
