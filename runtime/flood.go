package runtime

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
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
	values := make([]uint128, rq.N())
	w := floodWidth(width)
	sampleFlood(mrand.New(mrand.NewChaCha8(seed)), w.double(), values)
	e := rq.NewPoly()
	for i, q := range rq.ModuliChain()[:level+1] {
		// The flood's coefficient is v − W for v uniform in [0, 2W].
		shift := q - w.mod(q)
		for j, v := range values {
			e.Coeffs[i][j] = (v.mod(q) + shift) % q
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

// uint128 is an unsigned integer of two 64-bit words.
type uint128 struct{ hi, lo uint64 }

// mod is x mod q.
func (x uint128) mod(q uint64) uint64 { return bits.Rem64(x.hi, x.lo, q) }

// double is 2x, for x below 2^127.
func (x uint128) double() uint128 { return uint128{x.hi<<1 | x.lo>>63, x.lo << 1} }

// floodWidth is the spec's flood width, an integer below 2^126
// (plan.Spec.Validate), in two words.
func floodWidth(width float64) uint128 {
	w, _ := new(big.Float).SetFloat64(width).Int(nil)
	lo := new(big.Int).And(w, new(big.Int).SetUint64(math.MaxUint64))
	return uint128{new(big.Int).Rsh(w, 64).Uint64(), lo.Uint64()}
}

// sampleFlood fills values with integers uniform in [0, bound]: Uint64N,
// unbiased, when the range fits a word, and otherwise rejection of two
// words drawn to the bound's bit length, which accepts at least half.
func sampleFlood(r *mrand.Rand, bound uint128, values []uint128) {
	if bound.hi == 0 && bound.lo < math.MaxUint64 {
		for j := range values {
			values[j] = uint128{0, r.Uint64N(bound.lo + 1)}
		}
		return
	}
	mask := uint64(math.MaxUint64)
	if bound.hi > 0 {
		mask >>= bits.LeadingZeros64(bound.hi)
	}
	for j := range values {
		for {
			v := uint128{r.Uint64() & mask, r.Uint64()}
			if bound.hi == 0 {
				v.hi = 0
			}
			if v.hi < bound.hi || (v.hi == bound.hi && v.lo <= bound.lo) {
				values[j] = v
				break
			}
		}
	}
}
