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
	if got := p.LevelsConsumedPerRescaling(); got != set.PrimesPerLevel() {
		return hefloat.Parameters{}, fmt.Errorf("parameters %s: Lattigo rescales by %d primes, the set by %d", set, got, set.PrimesPerLevel())
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

// encodingPrecision is the precision the client's values are encoded and
// decoded with: float64's, also for scales above 2^53, where Lattigo's
// encoder would default to big-float arithmetic (the quantisation of a
// value above 2^64 still takes the big-integer path, exactly). Its errors
// are the client's own.
const encodingPrecision = 53

// newEncoder is an encoder of p at encodingPrecision.
func newEncoder(p hefloat.Parameters) *hefloat.Encoder {
	return hefloat.NewEncoder(p, encodingPrecision)
}

// weightGuardBits is the precision the weights are encoded with beyond a
// scale above float64's, so that the FFT's error stays far below the
// rounding to integers.
const weightGuardBits = 24

// newWeightEncoder is the encoder of the server's weights: float64's up to
// a scale of 2^53. Above, float64's FFT would leave an error of 2^-53 of
// every weight, a deterministic function of the weights above the rounding
// the noise model and the flood are sized for (plan.Noise), 2^4.5 to 2^8
// above it at scale 2^70: the weights are encoded as precisely as the scale
// (the diagonals in double-double arithmetic, ddEmbedder; the rest in big
// floats).
func newWeightEncoder(p hefloat.Parameters, set params.Set) *hefloat.Encoder {
	return hefloat.NewEncoder(p, weightPrecision(set))
}

// weightPrecision is the precision of newWeightEncoder and of the
// polynomials' coefficients.
func weightPrecision(set params.Set) uint {
	if set.LogScale <= encodingPrecision {
		return encodingPrecision
	}
	return uint(set.LogScale + weightGuardBits)
}
