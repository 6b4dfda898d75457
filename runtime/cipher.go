package runtime

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/cmplx"
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
// spec, for Encrypt and EncryptFile, with its key set id.
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
	return &Ciphertext{kind: KindInputCt, id: key.KeySet(), cts: cts}, nil
}

// EncryptFile encrypts t as the circuit's input and serialises it with the
// key's key set id. Under a secret key, each ciphertext's uniform half c1
// comes from a fresh seed, which the file carries instead: half the size.
// Under a public key c1 is not uniform and is stored.
func EncryptFile(spec *plan.Spec, key EncryptionKey, t *ir.Tensor) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := WriteEncrypted(&buf, spec, key, t); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteEncrypted writes what EncryptFile returns to w as it encrypts, and
// returns the bytes written: a batch's ciphertexts are encrypted a few at a
// time and written in order, so that the whole batch (hundreds of MiB) is
// never held. An input it refuses leaves w untouched.
func WriteEncrypted(w io.Writer, spec *plan.Spec, key EncryptionKey, t *ir.Tensor) (int64, error) {
	var seed *[seedSize]byte
	if _, secret := key.(*SecretKey); secret {
		seed = new([seedSize]byte)
		if _, err := rand.Read(seed[:]); err != nil {
			return 0, fmt.Errorf("cannot draw the ciphertext seed: %w", err)
		}
	}
	cw := &countingWriter{w: bufio.NewWriter(w)}
	if !spec.Batched() {
		cts, err := encrypt(spec, key.encryptionKey(), t, seed)
		if err == nil {
			err = writeCiphertexts(cw, spec, KindInputCt, key.KeySet(), cts, seed)
		}
		if err != nil {
			return 0, err
		}
		return cw.n, cw.w.Flush()
	}
	var out *ciphertextWriter
	err := encryptBatchEach(spec, key.encryptionKey(), t, seed, func(ct *rlwe.Ciphertext) error {
		if out == nil {
			var err error
			if out, err = newCiphertextWriter(cw, spec, KindInputCt, key.KeySet(), seed); err != nil {
				return err
			}
		}
		return out.write(ct)
	})
	if err != nil {
		return cw.n, err
	}
	return cw.n, cw.w.Flush()
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w *bufio.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
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
	ecd, enc := newEncoder(p), rlwe.NewEncryptor(p, key)
	cts := make([]*rlwe.Ciphertext, parts)
	for j := range cts {
		slots := make([]float64, 1<<spec.LogSlots)
		copy(slots, laid[j*per:(j+1)*per])
		pt := hefloat.NewPlaintext(p, spec.Params.RingLevel(spec.Input.Level))
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
// before post-processing, refusing a ciphertext of another key set
// (ErrKeySet) or that is not a result of the circuit (ErrNotAResult). When
// the spec says so (OutputRounded), every value is rounded to its
// OutputStep, the precision the circuit guarantees, so that it carries no
// bits of the noise.
func Decrypt(spec *plan.Spec, sk *SecretKey, ct *Ciphertext) (*ir.Tensor, error) {
	t, err := DecryptRaw(spec, sk, ct)
	if err != nil || !spec.OutputRounded {
		return t, err
	}
	for i, v := range t.Data {
		t.Data[i] = math.Round(v/spec.OutputStep) * spec.OutputStep
	}
	return t, nil
}

// DecryptRaw is Decrypt without the rounding. Its low bits are the noise,
// a function of the secret key: whoever sees raw decryptions of enough
// results can recover the key (Li and Micciancio's attack on CKKS), so
// they must never be shared.
func DecryptRaw(spec *plan.Spec, sk *SecretKey, ct *Ciphertext) (*ir.Tensor, error) {
	if ct.kind != KindOutputCt {
		return nil, fmt.Errorf("%w: expected %s, got %s", ErrFormat, KindOutputCt.withArticle(), ct.kind.withArticle())
	}
	if err := checkKeySet(ct.kind, ct.id, sk.id); err != nil {
		return nil, err
	}
	if spec.Batched() {
		return decryptBatch(spec, sk, ct)
	}
	p, err := newParameters(spec.Params)
	if err != nil {
		return nil, err
	}
	pt := rlwe.NewDecryptor(p, sk.sk).DecryptNew(ct.cts[0])
	pt.LogDimensions = ring.Dimensions{Rows: 0, Cols: p.LogMaxSlots()}
	all := make([]complex128, p.MaxSlots())
	if err := newEncoder(p).Decode(pt, all); err != nil {
		return nil, fmt.Errorf("cannot decode the result: %w", err)
	}
	n, slots := ir.NumElements(spec.Output.Shape), 1<<spec.LogSlots
	if err := checkResult(all, slots, n); err != nil {
		return nil, err
	}
	// The mean of the copies' real parts, as decoding 2^LogSlots slots
	// gives: the copies' errors partly cancel.
	copies := len(all) / slots
	out := make([]float64, n)
	for i := range out {
		for j := range copies {
			out[i] += real(all[j*slots+i]) / float64(copies)
		}
	}
	return &ir.Tensor{Shape: append([]int(nil), spec.Output.Shape...), Data: out}, nil
}

// ErrNotAResult reports a ciphertext that decrypts to something no
// evaluation of the circuit gives.
var ErrNotAResult = errors.New("not a result of this circuit")

// resultTolerance is how far, relative to the result's largest value (at
// least 1), an honest result's imaginary parts and copies may stray: far
// above any circuit's error, far below what a ciphertext the circuit did
// not compute decrypts to (a damaged one to random values of the size of
// the modulus, one crafted from the public data alone to a function of the
// secret key of the size of √N).
const resultTolerance = 1.0 / 16

// checkResult refuses decrypted slots that an evaluation of the circuit
// cannot give: an honest input is real and repeats every n slots, every
// operation of a circuit keeps both, so its result does too, up to the
// circuit's error; and the result's size values come first in each n
// slots, the rest zero (the last affine map's rows there are zero, and
// the layout masks a polynomial's p(0) there), up to the same error.
// Showing the user a decryption of anything else would show it, and
// whoever sees what it is shown, a function of the secret key.
func checkResult(all []complex128, n, size int) error {
	scale := 1.0
	for _, v := range all[:size] {
		scale = max(scale, math.Abs(real(v)))
	}
	for s, v := range all {
		if k := s % n; k >= size {
			if d := cmplx.Abs(v); !(d <= resultTolerance*scale) {
				return fmt.Errorf("%w: slot %d, outside the result's %d, decrypts to %.3g, where a result holds zero: the ciphertext was damaged, or crafted, or made for another circuit; do not share this decryption", ErrNotAResult, s, size, v)
			}
		} else if d := cmplx.Abs(v - complex(real(all[k]), 0)); !(d <= resultTolerance*scale) {
			return fmt.Errorf("%w: slot %d decrypts to %.3g, where a result holds %.3g: the ciphertext was damaged, or crafted, or made for another circuit; do not share this decryption", ErrNotAResult, s, v, real(all[k]))
		}
	}
	return nil
}

// A ciphertext file: the header, the count of ciphertexts, a byte saying
// whether the c1 are stored (0) or come from a seed (1, then the 32-byte
// seed), then each ciphertext as its scale (float64), c0 and, unless
// seeded, c1, packed (see packed.go). The level, the layout and the NTT
// form come from the spec.

// ciphertextLevel is Lattigo's level for the ciphertexts of kind, as the
// spec puts them, and how many of them a file holds.
func ciphertextLevel(spec *plan.Spec, kind Kind) (level, count int) {
	if kind == KindOutputCt {
		return spec.Params.RingLevel(spec.Output.Level), spec.OutputCiphertexts()
	}
	return spec.Params.RingLevel(spec.Input.Level), spec.InputCiphertexts()
}

// EncodeCiphertext serialises an encrypted input or result with its key
// set id.
func EncodeCiphertext(spec *plan.Spec, ct *Ciphertext) ([]byte, error) {
	return encodeCiphertexts(spec, ct.kind, ct.id, ct.cts, nil)
}

// WriteCiphertext streams what EncodeCiphertext returns to w. Every
// ciphertext is checked before the first byte is written, so that an
// error leaves w untouched but for w's own.
func WriteCiphertext(w io.Writer, spec *plan.Spec, ct *Ciphertext) error {
	bw := bufio.NewWriter(w)
	if err := writeCiphertexts(bw, spec, ct.kind, ct.id, ct.cts, nil); err != nil {
		return err
	}
	return bw.Flush()
}

func encodeCiphertexts(spec *plan.Spec, kind Kind, id KeySetID, cts []*rlwe.Ciphertext, seed *[seedSize]byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := writeCiphertexts(&buf, spec, kind, id, cts, seed); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeCiphertexts(w io.Writer, spec *plan.Spec, kind Kind, id KeySetID, cts []*rlwe.Ciphertext, seed *[seedSize]byte) error {
	level, count := ciphertextLevel(spec, kind)
	if len(cts) != count {
		return fmt.Errorf("%d ciphertexts for a %s of %d", len(cts), kind, count)
	}
	for j, ct := range cts {
		if err := checkWritten(ct, j, kind, level); err != nil {
			return err
		}
	}
	out, err := newCiphertextWriter(w, spec, kind, id, seed)
	if err != nil {
		return err
	}
	for _, ct := range cts {
		if err := out.write(ct); err != nil {
			return err
		}
	}
	return nil
}

// checkWritten refuses ciphertext j of a kind to be written at level
// unless it is at that level, of degree 1 and in NTT form.
func checkWritten(ct *rlwe.Ciphertext, j int, kind Kind, level int) error {
	if ct.Level() != level || ct.Degree() != 1 || !ct.IsNTT {
		return fmt.Errorf("ciphertext %d of the %s at level %d, degree %d: level %d, degree 1 expected", j+1, kind, ct.Level(), ct.Degree(), level)
	}
	return nil
}

// ciphertextWriter writes a ciphertext file one ciphertext at a time,
// after its header.
type ciphertextWriter struct {
	w       io.Writer
	q       []uint64 // the primes of the ciphertexts' level
	kind    Kind
	level   int
	seed    *[seedSize]byte
	written int
	scratch []byte
}

// newCiphertextWriter writes the header of a file of spec's ciphertexts
// of a kind, for key set id, with c1 drawn from seed if not nil.
func newCiphertextWriter(w io.Writer, spec *plan.Spec, kind Kind, id KeySetID, seed *[seedSize]byte) (*ciphertextWriter, error) {
	p, err := newParameters(spec.Params)
	if err != nil {
		return nil, err
	}
	level, count := ciphertextLevel(spec, kind)
	head := seal(kind, fileHeader(spec, id), binary.AppendUvarint(nil, uint64(count)))
	if seed == nil {
		head = append(head, 0)
	} else {
		head = append(append(head, 1), seed[:]...)
	}
	if _, err := w.Write(head); err != nil {
		return nil, err
	}
	return &ciphertextWriter{w: w, q: p.Q()[:level+1], kind: kind, level: level, seed: seed}, nil
}

// write writes the next ciphertext: its scale and polynomials, c0 alone
// when c1 comes from the seed.
func (cw *ciphertextWriter) write(ct *rlwe.Ciphertext) error {
	j := cw.written
	if err := checkWritten(ct, j, cw.kind, cw.level); err != nil {
		return err
	}
	cw.written++
	if _, err := cw.w.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(ct.Scale.Float64()))); err != nil {
		return err
	}
	polys := ct.Value
	if cw.seed != nil {
		polys = polys[:1]
	}
	for _, poly := range polys {
		var err error
		if cw.scratch, err = writePackedPoly(cw.w, poly, cw.q, cw.scratch); err != nil {
			return fmt.Errorf("ciphertext %d of the %s: %w", j+1, cw.kind, err)
		}
	}
	return nil
}

// DecodeCiphertext parses an input or result made for spec with key set
// keys (see ReadCiphertext).
func DecodeCiphertext(spec *plan.Spec, kind Kind, keys KeySetID, data []byte) (*Ciphertext, error) {
	return ReadCiphertext(bytes.NewReader(data), spec, kind, keys)
}

// ReadCiphertext reads an input or result made for spec with key set
// keys (ErrKeySet otherwise): as many ciphertexts as the circuit reads or
// writes, every residue below its
// modulus, each at roughly the scale the circuit expects. It streams: the
// header is checked against the spec before any ciphertext is allocated,
// each ciphertext is read into its preallocated shape, and one byte past
// the last is a refusal, so a hostile file costs no more memory than an
// honest one however long it is.
func ReadCiphertext(r io.Reader, spec *plan.Spec, kind Kind, keys KeySetID) (*Ciphertext, error) {
	br := bufio.NewReader(r)
	head := make([]byte, HeaderSize)
	if _, err := io.ReadFull(br, head); err != nil {
		return nil, fmt.Errorf("%w: expected %s, the data is too short for a hecc header", ErrFormat, kind.withArticle())
	}
	p, id, _, err := openFor(spec, head, kind)
	if err != nil {
		return nil, err
	}
	if err := checkKeySet(kind, id, keys); err != nil {
		return nil, err
	}
	level, want := ciphertextLevel(spec, kind)
	count, err := binary.ReadUvarint(br)
	if err != nil || count != uint64(want) {
		return nil, fmt.Errorf("%w: %s in %d ciphertexts, the circuit has %d", ErrFormat, kind, count, want)
	}
	var seed *[seedSize]byte
	switch form, err := br.ReadByte(); {
	case err != nil:
		return nil, fmt.Errorf("%w: %s is truncated", ErrFormat, kind)
	case form == 1:
		seed = new([seedSize]byte)
		if _, err := io.ReadFull(br, seed[:]); err != nil {
			return nil, fmt.Errorf("%w: %s is truncated in its seed", ErrFormat, kind)
		}
	case form != 0:
		return nil, fmt.Errorf("%w: %s has an unknown form %d", ErrFormat, kind, form)
	}
	cts := make([]*rlwe.Ciphertext, want)
	var scratch []byte
	for j := range cts {
		var scale [8]byte
		if _, err := io.ReadFull(br, scale[:]); err != nil {
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
			if scratch, err = readPackedPoly(br, poly, p.Q()[:level+1], scratch); err != nil {
				if errors.Is(err, ErrFormat) {
					return nil, fmt.Errorf("%s, ciphertext %d: %w", kind, j+1, err)
				}
				return nil, fmt.Errorf("%w: %s is truncated in ciphertext %d of %d", ErrFormat, kind, j+1, want)
			}
		}
		cts[j] = ct
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("%w: bytes after the last ciphertext of the %s", ErrFormat, kind)
	}
	return &Ciphertext{kind: kind, id: id, cts: cts}, nil
}
