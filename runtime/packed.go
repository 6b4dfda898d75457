package runtime

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// Lattigo serialises every RNS coefficient in 8 bytes, but a coefficient
// modulo a 25-bit prime needs 25 bits: key files store each limb packed to
// the bit length of its prime, less than half the size.

// limbBits is the bit length of a residue modulo q.
func limbBits(q uint64) uint { return uint(bits.Len64(q - 1)) }

// packedLimbSize is the size of n residues modulo q, packed; n is a ring
// degree, so the bits fill whole 64-bit words.
func packedLimbSize(n int, q uint64) int { return n * int(limbBits(q)) / 8 }

// packedPolySize is the packed size of a polynomial with the given moduli.
func packedPolySize(n int, moduli []uint64) (size int) {
	for _, q := range moduli {
		size += packedLimbSize(n, q)
	}
	return size
}

// packLimb writes coeffs, each below q, into dst little-endian, limbBits(q)
// bits each.
func packLimb(dst []byte, coeffs []uint64, q uint64) error {
	width := limbBits(q)
	clear(dst)
	var pos uint
	for _, c := range coeffs {
		if c >= q {
			return fmt.Errorf("coefficient %d is not reduced modulo %d", c, q)
		}
		w, off := pos/64*8, pos%64
		binary.LittleEndian.PutUint64(dst[w:], binary.LittleEndian.Uint64(dst[w:])|c<<off)
		if off+width > 64 {
			binary.LittleEndian.PutUint64(dst[w+8:], c>>(64-off))
		}
		pos += width
	}
	return nil
}

// unpackLimb reads what packLimb wrote, refusing a residue not below q:
// the evaluator assumes reduced inputs.
func unpackLimb(src []byte, coeffs []uint64, q uint64) error {
	width := limbBits(q)
	mask := uint64(1)<<width - 1
	var pos uint
	for i := range coeffs {
		w, off := pos/64*8, pos%64
		c := binary.LittleEndian.Uint64(src[w:]) >> off
		if off+width > 64 {
			c |= binary.LittleEndian.Uint64(src[w+8:]) << (64 - off)
		}
		if c &= mask; c >= q {
			return fmt.Errorf("%w: residue %d is not below its modulus %d", ErrFormat, c, q)
		}
		coeffs[i] = c
		pos += width
	}
	return nil
}

// writePackedPoly writes the limbs of p (moduli[k] for limb k) packed.
func writePackedPoly(w io.Writer, p ring.Poly, moduli []uint64, buf []byte) ([]byte, error) {
	for k, q := range moduli {
		size := packedLimbSize(p.N(), q)
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		if err := packLimb(buf[:size], p.Coeffs[k], q); err != nil {
			return buf, err
		}
		if _, err := w.Write(buf[:size]); err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// readPackedPoly fills the limbs of p from r.
func readPackedPoly(r io.Reader, p ring.Poly, moduli []uint64, buf []byte) ([]byte, error) {
	for k, q := range moduli {
		size := packedLimbSize(p.N(), q)
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		if _, err := io.ReadFull(r, buf[:size]); err != nil {
			return buf, err
		}
		if err := unpackLimb(buf[:size], p.Coeffs[k], q); err != nil {
			return buf, err
		}
	}
	return buf, nil
}
