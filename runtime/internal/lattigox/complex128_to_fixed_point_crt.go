// Mirrors lattigo/v5@v5.0.7 schemes/ckks/utils.go: Complex128ToFixedPointCRT
// (standard ring). hecc's copy quantises with the quantizer's constants,
// looked up once (see single_float64_to_fixed_point_crt.go).

package lattigox

import "github.com/tuneinsight/lattigo/v5/ring"

// complex128ToFixedPointCRT quantises the IFFT output into coeffs: real
// parts, then imaginary parts, then zeros.
func (q quantizer) complex128ToFixedPointCRT(r *ring.Ring, values []complex128, scale float64, coeffs [][]uint64) {
	n := len(values)
	for i, v := range values {
		q.singleFloat64ToFixedPointCRT(r, i, real(v), scale, coeffs)
		q.singleFloat64ToFixedPointCRT(r, i+n, imag(v), scale, coeffs)
	}
	for j := range q.moduli {
		clear(coeffs[j][2*n:])
	}
}
