package runtime

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/hecc-dev/hecc/ir"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// ErrShape reports an input tensor whose shape is not the model's.
var ErrShape = errors.New("tensor shape does not match the model")

// CheckInputShape accepts shape if it equals the model input's, or equals it
// without a leading batch axis of 1.
func CheckInputShape(spec *Spec, shape []int) error {
	want := spec.Input.Shape
	if slices.Equal(shape, want) || (len(want) > 1 && want[0] == 1 && slices.Equal(shape, want[1:])) {
		return nil
	}
	return fmt.Errorf("%w: input has shape %v, model input %q has shape %v", ErrShape, shape, spec.Input.Name, want)
}

// Encrypt encrypts t as the circuit's input under a secret key or a public
// key (key is a *rlwe.SecretKey or *rlwe.PublicKey).
func Encrypt(spec *Spec, key rlwe.EncryptionKey, t *ir.Tensor) (*rlwe.Ciphertext, error) {
	if err := CheckInputShape(spec, t.Shape); err != nil {
		return nil, err
	}
	for _, v := range t.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("input holds %v", v)
		}
	}
	p, err := NewParameters(spec.Params)
	if err != nil {
		return nil, err
	}
	slots := make([]float64, 1<<spec.LogSlots)
	if spec.InputSlots == nil {
		copy(slots, t.Data)
	} else {
		copy(slots, (&ir.Gather{Shape: spec.Input.Shape, Slots: spec.InputSlots}).Apply(t.Data))
	}
	pt := hefloat.NewPlaintext(p, spec.Input.Level)
	pt.LogDimensions = ring.Dimensions{Rows: 0, Cols: spec.LogSlots}
	if err := hefloat.NewEncoder(p).Encode(slots, pt); err != nil {
		return nil, fmt.Errorf("cannot encode the input: %w", err)
	}
	ct, err := rlwe.NewEncryptor(p, key).EncryptNew(pt)
	if err != nil {
		return nil, fmt.Errorf("cannot encrypt the input: %w", err)
	}
	return ct, nil
}

// Decrypt decrypts the circuit's result into a tensor of the output shape,
// before post-processing.
func Decrypt(spec *Spec, sk *rlwe.SecretKey, ct *rlwe.Ciphertext) (*ir.Tensor, error) {
	p, err := NewParameters(spec.Params)
	if err != nil {
		return nil, err
	}
	pt := rlwe.NewDecryptor(p, sk).DecryptNew(ct)
	slots := make([]float64, 1<<spec.LogSlots)
	if err := hefloat.NewEncoder(p).Decode(pt, slots); err != nil {
		return nil, fmt.Errorf("cannot decode the result: %w", err)
	}
	n := ir.NumElements(spec.Output.Shape)
	return &ir.Tensor{Shape: append([]int(nil), spec.Output.Shape...), Data: slots[:n]}, nil
}

// EncodeCiphertext serialises an input (KindInputCt) or result
// (KindOutputCt) ciphertext.
func EncodeCiphertext(spec *Spec, kind Kind, ct *rlwe.Ciphertext) ([]byte, error) {
	b, err := ct.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return seal(kind, spec.Fingerprint(), b), nil
}

// DecodeCiphertext parses a ciphertext of the given kind made for spec and
// checks it sits at the level, layout and roughly the scale the circuit
// expects.
func DecodeCiphertext(spec *Spec, kind Kind, data []byte) (*rlwe.Ciphertext, error) {
	p, payload, err := openFor(spec, data, kind)
	if err != nil {
		return nil, err
	}
	level := spec.Input.Level
	if kind == KindOutputCt {
		level = spec.Output.Level
	}
	ct := hefloat.NewCiphertext(p, 1, level)
	ct.LogDimensions = ring.Dimensions{Rows: 0, Cols: spec.LogSlots}
	if err := unmarshalSized(kind.String(), payload, ct); err != nil {
		return nil, err
	}
	if ct.LogDimensions.Cols != spec.LogSlots || ct.LogDimensions.Rows != 0 || !ct.IsNTT || !ct.IsBatched {
		return nil, fmt.Errorf("%w: %s is not laid out as the circuit expects", ErrFormat, kind)
	}
	// A scale far from 2^LogScale would make decoding meaningless; a
	// hostile one could also be zero or infinite.
	logScale := math.Log2(ct.Scale.Float64())
	if math.IsNaN(logScale) || math.Abs(logScale-float64(spec.Params.LogScale)) > 8 {
		return nil, fmt.Errorf("%w: %s has scale 2^%.1f, expected about 2^%d", ErrFormat, kind, logScale, spec.Params.LogScale)
	}
	return ct, nil
}
