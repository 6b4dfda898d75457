package runtime

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/hecc-dev/hecc/plan"
)

// Kind identifies what a hecc file holds.
type Kind byte

// The file kinds.
const (
	KindCircuit   Kind = 'M' // .hec: spec, graph and weights (server only)
	KindSpec      Kind = 'S' // .spec: the client half
	KindSecretKey Kind = 'K'
	KindPublicKey Kind = 'P'
	KindEvalKeys  Kind = 'E'
	KindInputCt   Kind = 'I'
	KindOutputCt  Kind = 'O'
	formatMagic        = "HECC"
	headerSize         = 4 + 1 + 1 + 32 // magic, kind, plan.FormatVersion, fingerprint
)

var kindNames = map[Kind]string{
	KindCircuit: "circuit (.hec)", KindSpec: "spec (.spec)", KindSecretKey: "secret key",
	KindPublicKey: "public key", KindEvalKeys: "evaluation keys", KindInputCt: "encrypted input",
	KindOutputCt: "encrypted result",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind %q", byte(k))
}

// withArticle is k's name after its indefinite article, for messages.
func (k Kind) withArticle() string {
	s := k.String()
	if strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

// Sentinel errors for files.
var (
	// ErrFormat reports bytes that are not a valid hecc file of the expected kind.
	ErrFormat = errors.New("not a valid hecc file")
	// ErrMismatch reports a file made for another compile.
	ErrMismatch = errors.New("file belongs to another compile")
)

// seal prefixes payload with the header.
func seal(kind Kind, fingerprint [32]byte, payload []byte) []byte {
	b := make([]byte, 0, headerSize+len(payload))
	b = append(b, formatMagic...)
	b = append(b, byte(kind), plan.FormatVersion)
	b = append(b, fingerprint[:]...)
	return append(b, payload...)
}

// open checks the header of data against the expected kind and returns the
// fingerprint and payload.
func open(data []byte, want Kind) ([32]byte, []byte, error) {
	var fp [32]byte
	if len(data) < headerSize || !bytes.Equal(data[:4], []byte(formatMagic)) {
		return fp, nil, fmt.Errorf("%w: expected %s, the data does not start with a hecc header", ErrFormat, want.withArticle())
	}
	if k := Kind(data[4]); k != want {
		return fp, nil, fmt.Errorf("%w: expected %s, got %s", ErrFormat, want.withArticle(), k.withArticle())
	}
	if v := data[5]; v != plan.FormatVersion {
		return fp, nil, fmt.Errorf("%w: %s in format version %d, this hecc reads version %d", ErrFormat, want, v, plan.FormatVersion)
	}
	copy(fp[:], data[6:headerSize])
	return fp, data[headerSize:], nil
}

// checkFingerprint refuses a file whose fingerprint is not the spec's.
func checkFingerprint(what Kind, got [32]byte, spec *plan.Spec) error {
	if want := spec.Fingerprint(); got != want {
		return fmt.Errorf("%w: %s made for compile %s, the spec in use is compile %s: keys and ciphertexts work only with the compile whose .spec made them",
			ErrMismatch, what, hex.EncodeToString(got[:6]), hex.EncodeToString(want[:6]))
	}
	return nil
}

// unmarshal runs a Lattigo decoder on hostile bytes. The length has been
// checked already; the recover is a last line of defence, so that a
// malformed file gives an error rather than a crash.
func unmarshal(what string, data []byte, into interface{ UnmarshalBinary([]byte) error }) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s is corrupt (%v)", ErrFormat, what, r)
		}
	}()
	if err := into.UnmarshalBinary(data); err != nil {
		return fmt.Errorf("%w: %s is corrupt: %v", ErrFormat, what, err)
	}
	return nil
}

// PeekKind reports the kind of a hecc file from its header.
func PeekKind(data []byte) (Kind, error) {
	if len(data) < headerSize || string(data[:4]) != formatMagic {
		return 0, fmt.Errorf("%w: no hecc header", ErrFormat)
	}
	return Kind(data[4]), nil
}
