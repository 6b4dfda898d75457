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
	// HeaderSize is the size of every file's header: magic, kind,
	// plan.FormatVersion, the spec's fingerprint and the key set (zero in
	// a spec or circuit).
	HeaderSize = 4 + 1 + 1 + 32 + 16
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

// header is what every file starts with after its magic, kind and version.
type header struct {
	fingerprint [32]byte // of the spec
	keys        KeySetID // of keys and ciphertexts
}

// seal prefixes payload with the header.
func seal(kind Kind, h header, payload []byte) []byte {
	b := make([]byte, 0, HeaderSize+len(payload))
	b = append(b, formatMagic...)
	b = append(b, byte(kind), plan.FormatVersion)
	b = append(b, h.fingerprint[:]...)
	b = append(b, h.keys[:]...)
	return append(b, payload...)
}

// open checks the header of data against the expected kind and returns it
// and the payload.
func open(data []byte, want Kind) (header, []byte, error) {
	var h header
	if len(data) < HeaderSize || !bytes.Equal(data[:4], []byte(formatMagic)) {
		return h, nil, fmt.Errorf("%w: expected %s, the data does not start with a hecc header", ErrFormat, want.withArticle())
	}
	if k := Kind(data[4]); k != want {
		return h, nil, fmt.Errorf("%w: expected %s, got %s", ErrFormat, want.withArticle(), k.withArticle())
	}
	if v := data[5]; v != plan.FormatVersion {
		return h, nil, fmt.Errorf("%w: %s in format version %d, this hecc reads version %d; regenerate it with this hecc", ErrFormat, want, v, plan.FormatVersion)
	}
	copy(h.fingerprint[:], data[6:38])
	copy(h.keys[:], data[38:HeaderSize])
	return h, data[HeaderSize:], nil
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
	if len(data) < HeaderSize || string(data[:4]) != formatMagic {
		return 0, fmt.Errorf("%w: no hecc header", ErrFormat)
	}
	return Kind(data[4]), nil
}

// PeekKeySet reports the key set of a key or ciphertext file from its
// header, unchecked.
func PeekKeySet(data []byte) (KeySetID, error) {
	var id KeySetID
	if len(data) < HeaderSize || string(data[:4]) != formatMagic {
		return id, fmt.Errorf("%w: no hecc header", ErrFormat)
	}
	copy(id[:], data[38:HeaderSize])
	return id, nil
}
