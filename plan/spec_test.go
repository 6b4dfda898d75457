package plan

import (
	"errors"
	"testing"

	"github.com/hecc-dev/hecc/params"
)

// TestSpecBoundsKeySize: a spec asking for 4096 keys at the top of a
// logN 15 chain (about 128 GB of keys) is refused by validation, the same
// spec with the few keys a circuit has is not.
func TestSpecBoundsKeySize(t *testing.T) {
	q := []int{50}
	for range 17 {
		q = append(q, 40)
	}
	set := params.Set{LogN: 15, LogQ: q, LogP: []int{61, 61}, LogScale: 40, Security: 128}
	top := set.MaxLevel()
	spec := func(keys int) *Spec {
		s := &Spec{
			Model: "hostile", Params: set, LogSlots: 10,
			Input:  TensorInfo{Name: "x", Shape: []int{16}, Level: top},
			Output: TensorInfo{Name: "y", Shape: []int{10}},
			Relin:  true, RelinLevel: top,
		}
		for i := range keys {
			s.Rotations = append(s.Rotations, RotationKey{Galois: uint64(2*i + 3), Level: top})
		}
		return s
	}
	if err := spec(30).Validate(); err != nil {
		t.Fatalf("a spec with 30 keys: %v", err)
	}
	if b := spec(30).EvalKeyFileBytes(); b < 30<<20 || b > 1<<30 {
		t.Fatalf("30 keys at logN 15 estimated at %d bytes", b)
	}
	err := spec(4096).Validate()
	if !errors.Is(err, ErrSpec) {
		t.Fatalf("a spec asking for 4096 keys at logN 15 was not refused: %v", err)
	}
	t.Log(err)
}
