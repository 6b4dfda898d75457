package runtime

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime/internal/lattigox"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// ErrShape reports an input tensor whose shape is not the model's.
var ErrShape = errors.New("tensor shape does not match the model")

// CheckInputShape accepts shape if it equals the model input's, or equals it
// without a leading batch axis of 1.
func CheckInputShape(spec *plan.Spec, shape []int) error {
	want := spec.Input.Shape
	if slices.Equal(shape, want) || (len(want) > 1 && want[0] == 1 && slices.Equal(shape, want[1:])) {
		return nil
	}
	return fmt.Errorf("%w: input has shape %v, model input %q has shape %v", ErrShape, shape, spec.Input.Name, want)
}

// DecodeEncryptionKey parses the secret or public key data holds, made for
// spec, for Encrypt and EncryptFile.
func DecodeEncryptionKey(spec *plan.Spec, data []byte) (EncryptionKey, error) {
	switch k, _ := PeekKind(data); k {
	case KindSecretKey:
		sk, err := DecodeSecretKey(spec, data)
		if err != nil {
			return nil, err
		}
		return sk, nil
	case KindPublicKey:
		pk, err := DecodePublicKey(spec, data)
		if err != nil {
			return nil, err
		}
		return pk, nil
	default:
		return nil, fmt.Errorf("%w: expected secret.key or public.key, this is %s", ErrFormat, k.withArticle())
	}
}

// Encrypt encrypts t as the circuit's input under a secret key or a public
// key: one ciphertext, or the spec's InputParts.
func Encrypt(spec *plan.Spec, key EncryptionKey, t *ir.Tensor) (*Ciphertext, error) {
	cts, err := encrypt(spec, key.encryptionKey(), t, nil)
	if err != nil {
		return nil, err
	}
	return &Ciphertext{kind: KindInputCt, cts: cts}, nil
}

// EncryptFile encrypts t as the circuit's input and serialises it. Under a
// secret key, each ciphertext's uniform half c1 comes from a fresh seed,
// which the file carries instead: half the size. Under a public key c1 is
// not uniform and is stored.
func EncryptFile(spec *plan.Spec, key EncryptionKey, t *ir.Tensor) ([]byte, error) {
	var seed *[seedSize]byte
	if _, secret := key.(*SecretKey); secret {
		seed = new([seedSize]byte)
		if _, err := rand.Read(seed[:]); err != nil {
			return nil, fmt.Errorf("cannot draw the ciphertext seed: %w", err)
		}
	}
	cts, err := encrypt(spec, key.encryptionKey(), t, seed)
	if err != nil {
		return nil, err
	}
	return encodeCiphertexts(spec, KindInputCt, cts, seed)
}

// encrypt encrypts t; with a seed (secret key only), ciphertext j's c1 is
// stream j of the seed.
func encrypt(spec *plan.Spec, key rlwe.EncryptionKey, t *ir.Tensor, seed *[seedSize]byte) ([]*rlwe.Ciphertext, error) {
	if spec.Batched() {
		return encryptBatch(spec, key, t, seed)
	}
	if err := CheckInputShape(spec, t.Shape); err != nil {
		return nil, err
	}
	for _, v := range t.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("input holds %v", v)
		}
	}
	p, err := newParameters(spec.Params)
	if err != nil {
		return nil, err
	}
	laid := t.Data
	if spec.InputSlots != nil {
		laid = (&ir.Gather{Shape: spec.Input.Shape, Slots: spec.InputSlots}).Apply(t.Data)
	}
	parts := spec.InputCiphertexts()
	per := len(laid) / parts
	ecd, enc := hefloat.NewEncoder(p), rlwe.NewEncryptor(p, key)
	cts := make([]*rlwe.Ciphertext, parts)
	for j := range cts {
		slots := make([]float64, 1<<spec.LogSlots)
		copy(slots, laid[j*per:(j+1)*per])
		pt := hefloat.NewPlaintext(p, spec.Input.Level)
		pt.LogDimensions = ring.Dimensions{Rows: 0, Cols: spec.LogSlots}
		if err := ecd.Encode(slots, pt); err != nil {
			return nil, fmt.Errorf("cannot encode the input: %w", err)
		}
		e := enc
		if seed != nil {
			e = enc.WithPRNG(uniformStream(*seed, j))
		}
		if cts[j], err = e.EncryptNew(pt); err != nil {
			return nil, fmt.Errorf("cannot encrypt the input: %w", err)
		}
	}
	return cts, nil
}

// Decrypt decrypts the circuit's result into a tensor of the output shape,
// before post-processing.
func Decrypt(spec *plan.Spec, sk *SecretKey, ct *Ciphertext) (*ir.Tensor, error) {
	if ct.kind != KindOutputCt {
		return nil, fmt.Errorf("%w: expected %s, got %s", ErrFormat, KindOutputCt.withArticle(), ct.kind.withArticle())
	}
	if spec.Batched() {
		return decryptBatch(spec, sk, ct)
	}
	p, err := newParameters(spec.Params)
	if err != nil {
		return nil, err
	}
	pt := rlwe.NewDecryptor(p, sk.sk).DecryptNew(ct.cts[0])
	slots := make([]float64, 1<<spec.LogSlots)
	if err := hefloat.NewEncoder(p).Decode(pt, slots); err != nil {
		return nil, fmt.Errorf("cannot decode the result: %w", err)
	}
	n := ir.NumElements(spec.Output.Shape)
	return &ir.Tensor{Shape: append([]int(nil), spec.Output.Shape...), Data: slots[:n]}, nil
}

// A ciphertext file: the header, the count of ciphertexts, a byte saying
// whether the c1 are stored (0) or come from a seed (1, then the 32-byte
// seed), then each ciphertext as its scale (float64), c0 and, unless
// seeded, c1, packed (see packed.go). The level, the layout and the NTT
// form come from the spec.

// ciphertextLevel is the level the spec puts ciphertexts of kind at, and
// how many of them a file holds.
func ciphertextLevel(spec *plan.Spec, kind Kind) (level, count int) {
	if kind == KindOutputCt {
		return spec.Output.Level, spec.OutputCiphertexts()
	}
	return spec.Input.Level, spec.InputCiphertexts()
}

// EncodeCiphertext serialises an encrypted input or result.
func EncodeCiphertext(spec *plan.Spec, ct *Ciphertext) ([]byte, error) {
	return encodeCiphertexts(spec, ct.kind, ct.cts, nil)
}

func encodeCiphertexts(spec *plan.Spec, kind Kind, cts []*rlwe.Ciphertext, seed *[seedSize]byte) ([]byte, error) {
	p, err := newParameters(spec.Params)
	if err != nil {
		return nil, err
	}
	level, count := ciphertextLevel(spec, kind)
	if len(cts) != count {
		return nil, fmt.Errorf("%d ciphertexts for a %s of %d", len(cts), kind, count)
	}
	var buf bytes.Buffer
	buf.Write(seal(kind, spec.Fingerprint(), binary.AppendUvarint(nil, uint64(count))))
	if seed == nil {
		buf.WriteByte(0)
	} else {
		buf.WriteByte(1)
		buf.Write(seed[:])
	}
	var scratch []byte
	for j, ct := range cts {
		if ct.Level() != level || ct.Degree() != 1 || !ct.IsNTT {
			return nil, fmt.Errorf("ciphertext %d of the %s at level %d, degree %d: level %d, degree 1 expected", j+1, kind, ct.Level(), ct.Degree(), level)
		}
		buf.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(ct.Scale.Float64())))
		polys := ct.Value
		if seed != nil {
			polys = polys[:1]
		}
		for _, poly := range polys {
			if scratch, err = writePackedPoly(&buf, poly, p.Q()[:level+1], scratch); err != nil {
				return nil, fmt.Errorf("ciphertext %d of the %s: %w", j+1, kind, err)
			}
		}
	}
	return buf.Bytes(), nil
}

// DecodeCiphertext parses an input or result made for spec: as many
// ciphertexts as the circuit reads or writes, every residue below its
// modulus, each at roughly the scale the circuit expects.
func DecodeCiphertext(spec *plan.Spec, kind Kind, data []byte) (*Ciphertext, error) {
	p, payload, err := openFor(spec, data, kind)
	if err != nil {
		return nil, err
	}
	level, want := ciphertextLevel(spec, kind)
	count, n := binary.Uvarint(payload)
	if n <= 0 || count != uint64(want) {
		return nil, fmt.Errorf("%w: %s in %d ciphertexts, the circuit has %d", ErrFormat, kind, count, want)
	}
	r := bytes.NewReader(payload[n:])
	var seed *[seedSize]byte
	switch form, err := r.ReadByte(); {
	case err != nil:
		return nil, fmt.Errorf("%w: %s is truncated", ErrFormat, kind)
	case form == 1:
		seed = new([seedSize]byte)
		if _, err := io.ReadFull(r, seed[:]); err != nil {
			return nil, fmt.Errorf("%w: %s is truncated in its seed", ErrFormat, kind)
		}
	case form != 0:
		return nil, fmt.Errorf("%w: %s has an unknown form %d", ErrFormat, kind, form)
	}
	cts := make([]*rlwe.Ciphertext, want)
	var scratch []byte
	for j := range cts {
		var scale [8]byte
		if _, err := io.ReadFull(r, scale[:]); err != nil {
			return nil, fmt.Errorf("%w: %s is truncated in ciphertext %d of %d", ErrFormat, kind, j+1, want)
		}
		// A scale far from 2^LogScale would make decoding meaningless; a
		// hostile one could also be zero or infinite.
		f := math.Float64frombits(binary.LittleEndian.Uint64(scale[:]))
		logScale := math.Log2(f)
		if math.IsNaN(logScale) || math.Abs(logScale-float64(spec.Params.LogScale)) > 8 {
			return nil, fmt.Errorf("%w: %s has scale 2^%.1f, expected about 2^%d", ErrFormat, kind, logScale, spec.Params.LogScale)
		}
		ct := hefloat.NewCiphertext(p, 1, level)
		ct.LogDimensions = ring.Dimensions{Rows: 0, Cols: spec.LogSlots}
		ct.Scale = rlwe.NewScale(f)
		polys := ct.Value
		if seed != nil {
			polys = polys[:1]
			lattigox.UniformC1(p, uniformStream(*seed, j), ct)
		}
		for _, poly := range polys {
			if scratch, err = readPackedPoly(r, poly, p.Q()[:level+1], scratch); err != nil {
				if errors.Is(err, ErrFormat) {
					return nil, fmt.Errorf("%s, ciphertext %d: %w", kind, j+1, err)
				}
				return nil, fmt.Errorf("%w: %s is truncated in ciphertext %d of %d", ErrFormat, kind, j+1, want)
			}
		}
		cts[j] = ct
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last ciphertext of the %s", ErrFormat, r.Len(), kind)
	}
	return &Ciphertext{kind: kind, cts: cts}, nil
}
