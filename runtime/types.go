package runtime

import (
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// The exported API speaks in these types, never Lattigo's: callers depend
// on hecc alone, and what a key or ciphertext holds can change with the
// Lattigo version without changing theirs. Each carries the id of its key
// set, so that files of different keygens are never mixed.

// SecretKey decrypts results. It never leaves the client.
type SecretKey struct {
	sk *rlwe.SecretKey
	id KeySetID // keySetOf(sk)
}

func newSecretKey(sk *rlwe.SecretKey) *SecretKey {
	return &SecretKey{sk: sk, id: keySetOf(sk)}
}

// KeySet is the id of the key set k belongs to.
func (k *SecretKey) KeySet() KeySetID { return k.id }

// PublicKey encrypts inputs; it can be shared.
type PublicKey struct {
	pk *rlwe.PublicKey
	id KeySetID // its file header's
}

// KeySet is the id of the key set k belongs to.
func (k *PublicKey) KeySet() KeySetID { return k.id }

// EncryptionKey is a *SecretKey or a *PublicKey: either encrypts an input.
type EncryptionKey interface {
	encryptionKey() rlwe.EncryptionKey
	// KeySet is the id of the key set the key belongs to, which the
	// inputs it encrypts carry.
	KeySet() KeySetID
}

func (k *SecretKey) encryptionKey() rlwe.EncryptionKey { return k.sk }
func (k *PublicKey) encryptionKey() rlwe.EncryptionKey { return k.pk }

// Ciphertext is an encrypted tensor: the circuit's input, in as many
// ciphertexts as the spec's input parts, or its result, in one.
type Ciphertext struct {
	kind Kind     // KindInputCt or KindOutputCt
	id   KeySetID // of the keys it was encrypted or evaluated with
	cts  []*rlwe.Ciphertext
}

// Kind says whether c is an encrypted input or an encrypted result.
func (c *Ciphertext) Kind() Kind { return c.kind }

// KeySet is the id of the key set c was encrypted or evaluated with.
func (c *Ciphertext) KeySet() KeySetID { return c.id }
