package runtime

import (
	"encoding/binary"
	"fmt"

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
	var b []byte
	if ek.Relin != nil {
		kb, err := ek.Relin.MarshalBinary()
		if err != nil {
			return nil, err
		}
		b = append(b, 1)
		b = append(b, kb...)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(ek.Galois)))
	for _, g := range ek.Galois {
		kb, err := g.MarshalBinary()
		if err != nil {
			return nil, err
		}
		b = append(b, kb...)
	}
	return seal(KindEvalKeys, spec.Fingerprint(), b), nil
}

// DecodeEvalKeys parses evaluation keys made for spec, checking that they
// are exactly the keys the spec asks for, each of the expected size.
func DecodeEvalKeys(spec *Spec, data []byte) (*EvalKeys, error) {
	p, payload, err := openFor(spec, data, KindEvalKeys)
	if err != nil {
		return nil, err
	}
	ek := &EvalKeys{}
	if len(payload) == 0 {
		return nil, fmt.Errorf("%w: evaluation keys are truncated", ErrFormat)
	}
	hasRelin := payload[0] == 1
	payload = payload[1:]
	if hasRelin != spec.Relin {
		return nil, fmt.Errorf("%w: evaluation keys %s a relinearization key the circuit %s", ErrFormat,
			map[bool]string{true: "hold", false: "lack"}[hasRelin], map[bool]string{true: "needs", false: "does not use"}[spec.Relin])
	}
	if hasRelin {
		ek.Relin = rlwe.NewRelinearizationKey(p, atLevel(spec.RelinLevel))
		size := ek.Relin.BinarySize()
		if len(payload) < size {
			return nil, fmt.Errorf("%w: evaluation keys are truncated", ErrFormat)
		}
		if err := unmarshalSized("relinearization key", payload[:size], ek.Relin); err != nil {
			return nil, err
		}
		payload = payload[size:]
	}
	count, k := binary.Uvarint(payload)
	if k <= 0 || count != uint64(len(spec.Rotations)) {
		return nil, fmt.Errorf("%w: evaluation keys hold %d Galois keys, the spec needs %d", ErrFormat, count, len(spec.Rotations))
	}
	payload = payload[k:]
	for i, r := range spec.Rotations {
		gk := rlwe.NewGaloisKey(p, atLevel(r.Level))
		size := gk.BinarySize()
		if len(payload) < size {
			return nil, fmt.Errorf("%w: evaluation keys are truncated at Galois key %d of %d", ErrFormat, i+1, len(spec.Rotations))
		}
		if err := unmarshalSized("Galois key", payload[:size], gk); err != nil {
			return nil, err
		}
		if gk.GaloisElement != r.Galois || gk.NthRoot != p.RingQ().NthRoot() {
			return nil, fmt.Errorf("%w: Galois key %d is for element %d, the spec needs %d", ErrFormat, i+1, gk.GaloisElement, r.Galois)
		}
		ek.Galois = append(ek.Galois, gk)
		payload = payload[size:]
	}
	if len(payload) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last evaluation key", ErrFormat, len(payload))
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
