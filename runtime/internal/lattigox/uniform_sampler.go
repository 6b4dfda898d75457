// Mirrors lattigo/v5@v5.0.7 ring/sampler_uniform.go: UniformSampler.read
// (Read from a fresh sampler, as AtLevel gives one). hecc's copy samples
// without Lattigo's call through a closure per coefficient: the server
// regenerates the uniform half of every evaluation key when it loads them.

package lattigox

import (
	"encoding/binary"

	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// uniformBuffer is a fresh sampler's buffer for r: max(1024, N) bytes, of
// which only the first N are used between two reads of the PRNG.
func uniformBuffer(r *ring.Ring) []byte {
	return make([]byte, max(1024, r.N()))
}

// readUniform fills pol's residues at r's level with uniform values, as
// ring.UniformSampler.Read does from a fresh sampler: buf (from
// uniformBuffer) is read in full from the PRNG at the start and whenever N
// of its bytes are used, and each coefficient is the first 8 big-endian
// bytes that, masked to its prime's bit length, fall below the prime.
func readUniform(prng sampling.PRNG, buf []byte, r *ring.Ring, pol ring.Poly) {
	n := r.N()
	ptr := n
	for j, s := range r.SubRings[:r.Level()+1] {
		q, mask, coeffs := s.Modulus, s.Mask, pol.Coeffs[j]
		for i := range coeffs[:n] {
			for {
				if ptr == n {
					if _, err := prng.Read(buf); err != nil {
						panic(err) // Lattigo panics too: a PRNG never fails
					}
					ptr = 0
				}
				v := binary.BigEndian.Uint64(buf[ptr:]) & mask
				ptr += 8
				if v < q {
					coeffs[i] = v
					break
				}
			}
		}
	}
}
