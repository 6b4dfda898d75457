package runtime

import (
	"math/big"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/he/hefloat/bootstrapping"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/utils"
)

// TestLattigoEncapsulationKeyExposesTheSecret pins the reason hecc must not
// use Lattigo v5.0.7's bootstrapping keys as they are (docs/bootstrapping.md):
// the key from the dense secret to the sparse one is b = -a·s' + P·s + e,
// but the sparse secret s' is set in the first prime only, so modulo the
// others b - P·s is small and reading b gives s away. It runs the default
// bootstrapping set on an insecure ring of 2^12 for speed, and fails once a
// Lattigo fixes this (then the page and this test are to be revisited).
func TestLattigoEncapsulationKeyExposesTheSecret(t *testing.T) {
	lit := bootstrapping.N16QP1767H32768H32
	residualLit := lit.SchemeParams
	residualLit.Xs, residualLit.LogN = nil, 12
	residual, err := hefloat.NewParametersFromLiteral(residualLit)
	if err != nil {
		t.Fatal(err)
	}
	btpLit := lit.BootstrappingParams
	btpLit.LogN, btpLit.Xs = utils.Pointy(12), residual.Xs()
	btp, err := bootstrapping.NewParametersFromLiteral(residual, btpLit)
	if err != nil {
		t.Fatal(err)
	}
	evk, sk, err := btp.GenEvaluationKeys(rlwe.NewKeyGenerator(residual).GenSecretKeyNew())
	if err != nil {
		t.Fatal(err)
	}
	set := btp.BootstrappingParameters
	ringQ := set.RingQ()
	coeffs := func(p ring.Poly) ring.Poly {
		c := *p.CopyNew()
		ringQ.AtLevel(c.Level()).IMForm(c, c)
		ringQ.AtLevel(c.Level()).INTT(c, c)
		return c
	}
	secret := coeffs(sk.Value.Q)
	product := big.NewInt(1)
	for _, p := range set.P() {
		product.Mul(product, new(big.Int).SetUint64(p))
	}
	// recovered counts the coefficients of the second prime for which
	// exactly the secret's ternary value makes b - P·s small.
	recovered := func(key *rlwe.EvaluationKey) int {
		b := coeffs(key.Value[0][0][0].Q)
		q := set.Q()[1]
		pq := new(big.Int).Mod(product, new(big.Int).SetUint64(q)).Uint64()
		n := 0
		// b - P·s mod q for s = -1, 0, 1, each as the residue of s
		for i, bc := range b.Coeffs[1] {
			for _, c := range []struct{ s, r uint64 }{{q - 1, (bc + pq) % q}, {0, bc}, {1, (bc + q - pq) % q}} {
				if min(c.r, q-c.r) < 1<<8 && c.s == secret.Coeffs[1][i] {
					n++
				}
			}
		}
		return n
	}
	n := len(secret.Coeffs[1])
	if got := recovered(evk.EvkDenseToSparse); got != n {
		t.Errorf("the dense-to-sparse key gives away %d of the secret's %d coefficients, expected all: has Lattigo fixed its encapsulation keys?", got, n)
	}
	if got := recovered(&evk.RelinearizationKey.EvaluationKey); got > n/100 {
		t.Errorf("the check reads %d of %d coefficients off the relinearization key: it is not telling the leak apart", got, n)
	}
}
