package runtime

import (
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// The exported API speaks in these types, never Lattigo's: callers depend
// on hecc alone, and what a key or ciphertext holds can change with the
// Lattigo version without changing theirs.

// SecretKey decrypts results. It never leaves the client.
type SecretKey struct{ sk *rlwe.SecretKey }

// PublicKey encrypts inputs; it can be shared.
type PublicKey struct{ pk *rlwe.PublicKey }

// EncryptionKey is a *SecretKey or a *PublicKey: either encrypts an input.
type EncryptionKey interface {
	encryptionKey() rlwe.EncryptionKey
}

func (k *SecretKey) encryptionKey() rlwe.EncryptionKey { return k.sk }
func (k *PublicKey) encryptionKey() rlwe.EncryptionKey { return k.pk }

// Ciphertext is an encrypted tensor: the circuit's input, in as many
// ciphertexts as the spec's input parts, or its result, in one.
type Ciphertext struct {
	kind Kind // KindInputCt or KindOutputCt
	cts  []*rlwe.Ciphertext
}

// Kind says whether c is an encrypted input or an encrypted result.
func (c *Ciphertext) Kind() Kind { return c.kind }
