package plan

import (
	"errors"
	"math"
	"strings"
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
			Model: "hostile", Params: set, LogSlots: 10, OutputStep: 1,
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

// TestInputRange: an input range that is empty or unbounded is refused;
// CheckInputRange passes values inside the range (bounds included) and
// names the count and the farthest value outside it.
func TestInputRange(t *testing.T) {
	set := params.Set{LogN: 13, LogQ: []int{40, 30}, LogP: []int{41}, LogScale: 30, Security: 128}
	spec := func(r *ValueRange) *Spec {
		return &Spec{Model: "m", Params: set, LogSlots: 4, InputRange: r, OutputStep: 1,
			Input:  TensorInfo{Name: "x", Shape: []int{4}, Level: set.MaxLevel()},
			Output: TensorInfo{Name: "y", Shape: []int{2}}}
	}
	for _, r := range []*ValueRange{{Min: 1, Max: 0}, {Min: math.Inf(-1), Max: 0}, {Min: 0, Max: math.NaN()}} {
		if err := spec(r).Validate(); !errors.Is(err, ErrSpec) {
			t.Errorf("input range %v: %v, want ErrSpec", *r, err)
		}
	}
	s := spec(&ValueRange{Min: -1, Max: 2})
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		data []float64
		want string // "" for no error
	}{
		{[]float64{-1, 0, 2, 1.5}, ""},
		{[]float64{-1.5, 0, 7, 2.1}, "3 of 4 values outside [-1, 2], the farthest 7 (element 2)"},
		{[]float64{-3, 0, 0, 0}, "1 of 4 values outside [-1, 2], the farthest -3 (element 0)"},
	} {
		err := s.CheckInputRange(c.data)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.data, err)
		case c.want != "" && (!errors.Is(err, ErrOutOfRange) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: %v, want ErrOutOfRange with %q", c.data, err, c.want)
		}
	}
	if err := spec(nil).CheckInputRange([]float64{1e9}); err != nil {
		t.Errorf("a spec without a range refused an input: %v", err)
	}
}

// TestCircuitPrivacyFields: λ and the flood's width come together, within
// bounds, in either layout.
func TestCircuitPrivacyFields(t *testing.T) {
	set := params.Set{LogN: 13, LogQ: []int{40, 30}, LogP: []int{41}, LogScale: 30, Security: 128}
	for _, c := range []struct {
		bits   int
		width  float64
		layout string
		ok     bool
	}{
		{0, 0, "", true},
		{16, 1 << 40, "", true},
		{16, 0, "", false},
		{0, 1 << 40, "", false},
		{-1, 1 << 40, "", false},
		{MaxCircuitPrivacyBits + 1, 1 << 40, "", false},
		{16, maxFloodWidth, "", false},
		{16, 0x1p100, "", true},
		{16, 12.5, "", false},
		{16, math.Inf(1), "", false},
		{16, math.NaN(), "", false},
		{16, 1 << 40, LayoutBatch, true},
		{16, 0, LayoutBatch, false},
		{16, 12.5, LayoutBatch, false},
	} {
		s := &Spec{Model: "m", Params: set, LogSlots: 4, OutputStep: 1, CircuitPrivacyBits: c.bits, FloodWidth: c.width, Layout: c.layout,
			Input:  TensorInfo{Name: "x", Shape: []int{4}, Level: set.MaxLevel()},
			Output: TensorInfo{Name: "y", Shape: []int{2}}}
		if c.layout == LayoutBatch {
			s.Batch = 4
		}
		if err := s.Validate(); (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrSpec)) {
			t.Errorf("λ = %d, width %g, layout %q: %v, want ok = %v", c.bits, c.width, c.layout, err, c.ok)
		}
	}
}

// TestTwoPrimeSpec: a spec on two primes per level keeps its levels (the
// input at the chain's top level, not Lattigo's), its key-file estimate
// counts both primes of every level, and the batch layout takes it too (a
// flooded batch circuit's).
func TestTwoPrimeSpec(t *testing.T) {
	set := params.Set{LogN: 14, LogQ: []int{40, 40, 35, 35, 35, 35}, LogP: []int{41, 41}, LogScale: 70, Security: 128}
	top := set.MaxLevel()
	s := &Spec{
		Model: "m", Params: set, LogSlots: 10, OutputStep: 1,
		Input:     TensorInfo{Name: "x", Shape: []int{16}, Level: top},
		Output:    TensorInfo{Name: "y", Shape: []int{10}},
		Rotations: []RotationKey{{Galois: 5, Level: top}},
	}
	if err := s.Validate(); err != nil || top != 2 {
		t.Fatalf("a two-prime spec at level %d: %v", top, err)
	}
	// Six primes of 220 bits and two of 82: three digits of α = 2.
	if got, want := s.EvalKeyFileBytes(), int64(3*(220+82))<<14/8; got != want {
		t.Errorf("a key at the top of %s estimated at %d bytes, want %d", set, got, want)
	}
	batch := *s
	batch.Layout, batch.Batch, batch.Rotations = LayoutBatch, 4, nil
	if err := batch.Validate(); err != nil {
		t.Errorf("a batch spec on two primes per level: %v", err)
	}
}
