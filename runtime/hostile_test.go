package runtime

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	goruntime "runtime"
	"testing"
)

// allocated is how many bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&before)
	f()
	goruntime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// zeros is an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestHostileCiphertextBoundedMemory: a ciphertext file followed by far
// more bytes than the spec allows, or declaring more ciphertexts than
// the circuit reads, is refused having allocated no more than reading an
// honest one does.
func TestHostileCiphertextBoundedMemory(t *testing.T) {
	f := secureFixture(t)
	spec := f.circuit.Spec
	var honestErr error
	honest := allocated(func() { _, honestErr = ReadCiphertext(bytes.NewReader(f.ct), spec, KindInputCt, f.keys.Eval.KeySet()) })
	if honestErr != nil {
		t.Fatal(honestErr)
	}
	// The count of ciphertexts follows the header.
	manyCts := bytes.Clone(f.ct[:HeaderSize])
	manyCts = binary.AppendUvarint(manyCts, 1<<30)
	manyCts = append(manyCts, f.ct[HeaderSize+1:]...)
	cases := map[string]io.Reader{
		"a gigabyte after the ciphertext": io.MultiReader(bytes.NewReader(f.ct), io.LimitReader(zeros{}, 1<<30)),
		"an endless stream after it":      io.MultiReader(bytes.NewReader(f.ct), zeros{}),
		"2^30 ciphertexts declared":       io.MultiReader(bytes.NewReader(manyCts), zeros{}),
		"an endless header":               zeros{},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			var err error
			got := allocated(func() { _, err = ReadCiphertext(r, spec, KindInputCt, f.keys.Eval.KeySet()) })
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("accepted or failed otherwise: %v", err)
			}
			if got > 2*honest {
				t.Fatalf("allocated %d bytes refusing it, %d reading an honest ciphertext", got, honest)
			}
		})
	}
}
