package runtime

import (
	"fmt"

	"github.com/hecc-dev/hecc/params"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
)

// newParameters builds Lattigo parameters for a set after validating it,
// and re-checks the size of the primes Lattigo actually generated against
// the security table: Lattigo applies no security check of its own.
func newParameters(set params.Set) (hefloat.Parameters, error) {
	if err := set.Validate(); err != nil {
		return hefloat.Parameters{}, err
	}
	p, err := hefloat.NewParametersFromLiteral(hefloat.ParametersLiteral{
		LogN:            set.LogN,
		LogQ:            set.LogQ,
		LogP:            set.LogP,
		LogDefaultScale: set.LogScale,
	})
	if err != nil {
		return hefloat.Parameters{}, fmt.Errorf("cannot build parameters %s: %w", set, err)
	}
	if !set.Insecure() {
		bound, _ := params.MaxLogQP(set.Security, set.LogN)
		if got := p.LogQP(); got > float64(bound) {
			return hefloat.Parameters{}, fmt.Errorf("%w: the generated primes give logQP=%.2f, above the %d-bit bound %d for logN=%d",
				params.ErrInsecure, got, set.Security, bound, set.LogN)
		}
	}
	return p, nil
}
