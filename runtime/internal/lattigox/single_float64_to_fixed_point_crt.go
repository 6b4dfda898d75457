// Mirrors lattigo/v5@v5.0.7 schemes/ckks/utils.go: SingleFloat64ToFixedPointCRT.
// Lattigo's allocates the moduli and their Barrett constants on every call,
// once per coefficient; hecc's copy looks them up once per ring.

package lattigox

import (
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"
)

// quantizer holds a ring's moduli and Barrett constants.
type quantizer struct {
	moduli []uint64
	brc    [][]uint64
}

func newQuantizer(r *ring.Ring) quantizer {
	return quantizer{moduli: r.ModuliChain()[:r.Level()+1], brc: r.BRedConstants()}
}

// singleFloat64ToFixedPointCRT writes round(value·scale) into coefficient
// i of every residue; values beyond 2^64 take Lattigo's big-integer path.
func (q quantizer) singleFloat64ToFixedPointCRT(r *ring.Ring, i int, value, scale float64, coeffs [][]uint64) {
	if value == 0 {
		for j := range q.moduli {
			coeffs[j][i] = 0
		}
		return
	}
	x := value * scale
	negative := x < 0
	if negative {
		x = -x
	}
	if x >= 1.8446744073709552e+19 {
		ckks.SingleFloat64ToFixedPointCRT(r, i, value, scale, coeffs)
		return
	}
	c := uint64(x + 0.5)
	for j, qi := range q.moduli {
		switch {
		case negative && c > qi:
			coeffs[j][i] = qi - ring.BRedAdd(c, qi, q.brc[j])
		case negative:
			coeffs[j][i] = qi - c
		case c > 0x1fffffffffffffff:
			coeffs[j][i] = ring.BRedAdd(c, qi, q.brc[j])
		default:
			coeffs[j][i] = c
		}
	}
}
