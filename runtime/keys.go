package runtime

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
)

// Keys is the client's key material for one spec.
type Keys struct {
	Secret *rlwe.SecretKey
	Public *rlwe.PublicKey
	Eval   *EvalKeys
}

// EvalKeys are the keys the server evaluates with: a relinearization key
// when the circuit multiplies ciphertexts, and one Galois key per rotation.
type EvalKeys struct {
	Relin  *rlwe.RelinearizationKey
	Galois []*rlwe.GaloisKey
}

// KeySet is the view Lattigo's evaluator needs.
func (e *EvalKeys) KeySet() *rlwe.MemEvaluationKeySet {
	return rlwe.NewMemEvaluationKeySet(e.Relin, e.Galois...)
}

// GenerateKeys makes a fresh key set for spec, calling progress (if not
// nil) after each Galois key so a CLI can show how far it got.
func GenerateKeys(spec *Spec, progress func(done, total int)) (*Keys, error) {
	p, err := NewParameters(spec.Params)
	if err != nil {
		return nil, err
	}
	kgen := hefloat.NewKeyGenerator(p)
	sk, pk := kgen.GenKeyPairNew()
	ek := &EvalKeys{}
	if spec.Relin {
		ek.Relin = kgen.GenRelinearizationKeyNew(sk, atLevel(spec.RelinLevel))
	}
	for i, r := range spec.Rotations {
		ek.Galois = append(ek.Galois, kgen.GenGaloisKeyNew(r.Galois, sk, atLevel(r.Level)))
		if progress != nil {
			progress(i+1, len(spec.Rotations))
		}
	}
	return &Keys{Secret: sk, Public: pk, Eval: ek}, nil
}

// atLevel makes an evaluation key valid for ciphertexts up to level.
func atLevel(level int) rlwe.EvaluationKeyParameters {
	return rlwe.EvaluationKeyParameters{LevelQ: &level}
}

// EncodeSecretKey serialises the secret key. It never goes to the server.
func EncodeSecretKey(spec *Spec, sk *rlwe.SecretKey) ([]byte, error) {
	b, err := sk.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return seal(KindSecretKey, spec.Fingerprint(), b), nil
}

// EncodePublicKey serialises the public key.
func EncodePublicKey(spec *Spec, pk *rlwe.PublicKey) ([]byte, error) {
	b, err := pk.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return seal(KindPublicKey, spec.Fingerprint(), b), nil
}

// DecodeSecretKey parses a secret key made for spec.
func DecodeSecretKey(spec *Spec, data []byte) (*rlwe.SecretKey, error) {
	p, payload, err := openFor(spec, data, KindSecretKey)
	if err != nil {
		return nil, err
	}
	sk := rlwe.NewSecretKey(p)
	if err := unmarshalSized("secret key", payload, sk); err != nil {
		return nil, err
	}
	return sk, nil
}

// DecodePublicKey parses a public key made for spec.
func DecodePublicKey(spec *Spec, data []byte) (*rlwe.PublicKey, error) {
	p, payload, err := openFor(spec, data, KindPublicKey)
	if err != nil {
		return nil, err
	}
	pk := rlwe.NewPublicKey(p)
	if err := unmarshalSized("public key", payload, pk); err != nil {
		return nil, err
	}
	return pk, nil
}

// EncodeEvalKeys serialises the evaluation keys: a relinearization flag and
// key, then each Galois key with its element.
func EncodeEvalKeys(spec *Spec, ek *EvalKeys) ([]byte, error) {
	var buf bytes.Buffer
	err := writeEvalKeys(&buf, spec,
		func() (*rlwe.RelinearizationKey, error) { return ek.Relin, nil },
		func(i int) (*rlwe.GaloisKey, error) { return ek.Galois[i], nil })
	return buf.Bytes(), err
}

// GenerateKeyPair makes a secret key and its public key for spec.
func GenerateKeyPair(spec *Spec) (*rlwe.SecretKey, *rlwe.PublicKey, error) {
	p, err := NewParameters(spec.Params)
	if err != nil {
		return nil, nil, err
	}
	sk, pk := hefloat.NewKeyGenerator(p).GenKeyPairNew()
	return sk, pk, nil
}

// WriteEvalKeys generates spec's evaluation keys from sk and writes each
// one as soon as it exists: a deep circuit's keys reach gigabytes, and only
// one is ever in memory.
func WriteEvalKeys(w io.Writer, spec *Spec, sk *rlwe.SecretKey, progress func(done, total int)) error {
	p, err := NewParameters(spec.Params)
	if err != nil {
		return err
	}
	kgen := hefloat.NewKeyGenerator(p)
	return writeEvalKeys(w, spec,
		func() (*rlwe.RelinearizationKey, error) {
			return kgen.GenRelinearizationKeyNew(sk, atLevel(spec.RelinLevel)), nil
		},
		func(i int) (*rlwe.GaloisKey, error) {
			gk := kgen.GenGaloisKeyNew(spec.Rotations[i].Galois, sk, atLevel(spec.Rotations[i].Level))
			if progress != nil {
				progress(i+1, len(spec.Rotations))
			}
			return gk, nil
		})
}

func writeEvalKeys(w io.Writer, spec *Spec, relin func() (*rlwe.RelinearizationKey, error), galois func(i int) (*rlwe.GaloisKey, error)) error {
	head := seal(KindEvalKeys, spec.Fingerprint(), nil)
	if spec.Relin {
		head = append(head, 1)
	} else {
		head = append(head, 0)
	}
	if _, err := w.Write(head); err != nil {
		return err
	}
	if spec.Relin {
		rlk, err := relin()
		if err != nil {
			return err
		}
		if _, err := rlk.WriteTo(w); err != nil {
			return err
		}
	}
	if _, err := w.Write(binary.AppendUvarint(nil, uint64(len(spec.Rotations)))); err != nil {
		return err
	}
	for i := range spec.Rotations {
		gk, err := galois(i)
		if err != nil {
			return err
		}
		if _, err := gk.WriteTo(w); err != nil {
			return err
		}
	}
	return nil
}

// DecodeEvalKeys parses evaluation keys made for spec.
func DecodeEvalKeys(spec *Spec, data []byte) (*EvalKeys, error) {
	return ReadEvalKeys(bytes.NewReader(data), spec)
}

// ReadEvalKeys reads evaluation keys made for spec, checking that they are
// exactly the keys the spec asks for, at their levels, each of the size
// that implies, before Lattigo decodes it; each key is read into a buffer
// of its own size, so memory never holds the file twice.
func ReadEvalKeys(r io.Reader, spec *Spec) (*EvalKeys, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	head := make([]byte, headerSize+1)
	if _, err := io.ReadFull(br, head); err != nil {
		return nil, fmt.Errorf("%w: evaluation keys are truncated", ErrFormat)
	}
	p, _, err := openFor(spec, head, KindEvalKeys)
	if err != nil {
		return nil, err
	}
	hasRelin := head[headerSize] == 1
	if hasRelin != spec.Relin || head[headerSize] > 1 {
		return nil, fmt.Errorf("%w: evaluation keys %s a relinearization key the circuit %s", ErrFormat,
			map[bool]string{true: "hold", false: "lack"}[hasRelin], map[bool]string{true: "needs", false: "does not use"}[spec.Relin])
	}
	var buf []byte
	readKey := func(what string, into sized) error {
		size := into.BinarySize()
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		if _, err := io.ReadFull(br, buf[:size]); err != nil {
			return fmt.Errorf("%w: evaluation keys are truncated in the %s", ErrFormat, what)
		}
		return unmarshalSized(what, buf[:size], into)
	}
	ek := &EvalKeys{}
	if hasRelin {
		ek.Relin = rlwe.NewRelinearizationKey(p, atLevel(spec.RelinLevel))
		if err := readKey("relinearization key", ek.Relin); err != nil {
			return nil, err
		}
	}
	count, err := binary.ReadUvarint(br)
	if err != nil || count != uint64(len(spec.Rotations)) {
		return nil, fmt.Errorf("%w: evaluation keys hold %d Galois keys, the spec needs %d", ErrFormat, count, len(spec.Rotations))
	}
	for i, rot := range spec.Rotations {
		gk := rlwe.NewGaloisKey(p, atLevel(rot.Level))
		if err := readKey(fmt.Sprintf("Galois key %d of %d", i+1, len(spec.Rotations)), gk); err != nil {
			return nil, err
		}
		if gk.GaloisElement != rot.Galois || gk.NthRoot != p.RingQ().NthRoot() {
			return nil, fmt.Errorf("%w: Galois key %d is for element %d, the spec needs %d", ErrFormat, i+1, gk.GaloisElement, rot.Galois)
		}
		ek.Galois = append(ek.Galois, gk)
	}
	if n, _ := br.Read(make([]byte, 1)); n != 0 {
		return nil, fmt.Errorf("%w: bytes after the last evaluation key", ErrFormat)
	}
	return ek, nil
}

// openFor opens a key or ciphertext file and checks it belongs to spec.
func openFor(spec *Spec, data []byte, kind Kind) (hefloat.Parameters, []byte, error) {
	fp, payload, err := open(data, kind)
	if err != nil {
		return hefloat.Parameters{}, nil, err
	}
	if err := checkFingerprint(kind, fp, spec); err != nil {
		return hefloat.Parameters{}, nil, err
	}
	p, err := NewParameters(spec.Params)
	return p, payload, err
}

// sized is a Lattigo object preallocated with the expected shape.
type sized interface {
	BinarySize() int
	UnmarshalBinary([]byte) error
}

// unmarshalSized refuses data whose length differs from the preallocated
// object's, decodes it, and refuses a result whose levels or decomposition
// differ from the preallocated shape: equal lengths can hide another shape.
func unmarshalSized(what string, data []byte, into sized) error {
	if want := into.BinarySize(); len(data) != want {
		return fmt.Errorf("%w: %s has %d bytes, expected %d", ErrFormat, what, len(data), want)
	}
	before := shapeOf(into)
	if err := unmarshal(what, data, into); err != nil {
		return err
	}
	if after := shapeOf(into); after != before {
		return fmt.Errorf("%w: %s has shape %s, expected %s", ErrFormat, what, after, before)
	}
	return nil
}

// shapeOf summarises the levels and gadget decomposition of a Lattigo
// object: equal byte lengths can still hide another shape.
func shapeOf(v any) string {
	gadget := func(g rlwe.GadgetCiphertext) string {
		return fmt.Sprintf("levels Q%d P%d decomposition %d %v", g.LevelQ(), g.LevelP(), g.BaseRNSDecompositionVectorSize(), g.BaseTwoDecompositionVectorSize())
	}
	switch o := v.(type) {
	case *rlwe.Ciphertext:
		return fmt.Sprintf("level %d degree %d N %d", o.Level(), o.Degree(), o.N())
	case *rlwe.SecretKey:
		return fmt.Sprintf("levels Q%d P%d", o.LevelQ(), o.LevelP())
	case *rlwe.PublicKey:
		return fmt.Sprintf("levels Q%d P%d", o.LevelQ(), o.LevelP())
	case *rlwe.RelinearizationKey:
		return gadget(o.GadgetCiphertext)
	case *rlwe.GaloisKey:
		return gadget(o.GadgetCiphertext)
	}
	return fmt.Sprintf("%T", v)
}
