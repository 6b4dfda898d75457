package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// KeySetID names one key set: every key file and ciphertext carries the id
// of the key set it belongs to, so that a ciphertext is only evaluated
// with, and decrypted by, the keys it was made for. It is a hash of the
// secret key, so the secret key file's own id is checked against its
// contents; 128 bits of a hash of a secret of thousands of random bits
// reveal nothing about it.
type KeySetID [16]byte

func (id KeySetID) String() string { return hex.EncodeToString(id[:6]) }

// ErrKeySet reports a key or ciphertext of another key set than the one
// in use.
var ErrKeySet = errors.New("file belongs to another key set")

// keySetOf is the id of the key set sk belongs to.
func keySetOf(sk *rlwe.SecretKey) KeySetID {
	b, err := sk.MarshalBinary()
	if err != nil { // only for a key without a value
		panic(err)
	}
	h := sha256.New()
	h.Write([]byte("hecc key set\x00"))
	h.Write(b)
	var id KeySetID
	copy(id[:], h.Sum(nil))
	return id
}

// checkKeySet refuses a file of kind made with key set got where want is
// in use.
func checkKeySet(kind Kind, got, want KeySetID) error {
	if got != want {
		return fmt.Errorf("%w: this %s was made with key set %s, the keys in use are key set %s; encrypt, evaluate and decrypt with the files of one keygen",
			ErrKeySet, kind, got, want)
	}
	return nil
}
