package runtime

import (
	"errors"
	"math/rand/v2"
	"testing"
)

func TestPackedLimbs(t *testing.T) {
	for _, q := range []uint64{
		0x3fffe001,            // 30 bits
		0x1fff001,             // 25 bits
		0x7fffffffe0001,       // 51 bits
		0x1fffffffffe00001,    // 61 bits, the largest Lattigo allows
		(1 << 32) - 1<<20 + 1, // a 32-bit modulus: a limb of whole words
	} {
		r := rand.New(rand.NewPCG(q, 1))
		coeffs := make([]uint64, 1024)
		for i := range coeffs {
			coeffs[i] = r.Uint64N(q)
		}
		coeffs[0], coeffs[len(coeffs)-1] = q-1, 0
		buf := make([]byte, packedLimbSize(len(coeffs), q))
		if err := packLimb(buf, coeffs, q); err != nil {
			t.Fatal(err)
		}
		got := make([]uint64, len(coeffs))
		if err := unpackLimb(buf, got, q); err != nil {
			t.Fatalf("q %#x: %v", q, err)
		}
		for i := range got {
			if got[i] != coeffs[i] {
				t.Fatalf("q %#x: coefficient %d is %d, wrote %d", q, i, got[i], coeffs[i])
			}
		}
		if want := len(coeffs) * int(limbBits(q)) / 8; len(buf) != want {
			t.Errorf("q %#x: %d bytes, want %d", q, len(buf), want)
		}
		coeffs[7] = q
		if err := packLimb(buf, coeffs, q); err == nil {
			t.Errorf("q %#x: an unreduced coefficient was packed", q)
		}
		for i := range buf {
			buf[i] = 0xff
		}
		if err := unpackLimb(buf, got, q); !errors.Is(err, ErrFormat) {
			t.Errorf("q %#x: residues of all ones: %v", q, err)
		}
	}
}
