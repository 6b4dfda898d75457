// Package runtime evaluates hecc circuits with Lattigo's CKKS (he/hefloat)
// and owns every file the two parties exchange: the circuit (.hec), its
// client half (.spec), keys and ciphertexts. It is, with its internal
// packages, the only package that imports Lattigo; the server needs
// nothing else and the .hec file.
//
// Layout. The passes have already rewritten the circuit in slot
// coordinates: every encrypted value occupies the first 2^LogSlots slots of
// one ciphertext (n may be smaller than the ring's N/2 slots, in which case
// Lattigo replicates the vector and rotations are cyclic modulo n). The one
// exception is an input the client encrypts in parts (ir.Gather.Parts): the
// affine map that reads it takes one plaintext product per part (parts.go).
//
// Linear transformations. Each Affine node is one diagonal-method
// transformation, in the standard or the hybrid (Halevi–Shoup) form, with
// the diagonals and baby-step giant-step split package plan chose; this
// package executes that plan and decides nothing. It is evaluated by its own
// baby-step giant-step code (bsgs.go) rather than Lattigo's
// LinearTransformationEvaluator, as DESIGN.md had planned: Lattigo splits
// diagonal indices at a power of two, which needs about twice as many
// rotations as splitting at the clusters a laid-out convolution has, and
// evaluates sequentially, where the giant steps are independent and run on
// every core here, one evaluator per goroutine. Diagonals are encoded once,
// when the circuit is loaded, and shared read-only by every evaluation.
//
// Scales and keys. Every node's exact scale is planned at load time, by
// plan.Scales on the primes Lattigo generated, so that additions see equal
// scales. Each rotation key and the
// relinearization key are made at the highest level they are used at, and
// the server refuses keys below it: Lattigo would compute garbage with
// them without an error.
//
// Files. Every file starts with "HECC", a kind byte, a format version,
// the SHA-256 fingerprint of the spec it belongs to and the id of its key
// set (keyset.go), so that a key, ciphertext or circuit of another compile,
// or a ciphertext of another key set, is refused with a message before any
// Lattigo decoding. A circuit ends with the SHA-256 of its contents. Every
// file is read streaming against the sizes the spec implies, so a hostile
// one costs no more memory than an honest one. Keys and ciphertexts are written by this package,
// not Lattigo: every residue packed to its prime's bit length and checked
// below it when read (packed.go), shapes and levels taken from the spec,
// and uniformly random halves replaced by a seed where they are (every
// evaluation key's a, the c1 of an input encrypted under the secret key).
// Evaluation keys are streamed one at a time, as they can reach gigabytes.
//
// Lattigo internals. Where hecc computes what a Lattigo function computes
// in another shape (split over workers, constants looked up once, uniform
// halves redrawn from a seed), the copy lives in internal/lattigox, one
// file per upstream function, each tested bit for bit against Lattigo and
// pinned to the Lattigo version in go.mod.
//
// Concurrency. Lattigo's evaluators, encoders, encryptors and decryptors
// hold buffers; each goroutine gets its own (ShallowCopy). A prepared
// circuit (Prepare: encoded diagonals, biases and batch weights) is
// read-only after loading, and shared by the servers of every key set
// (Prepared.WithKeys), each of which holds only its keys; its pools of
// buffers and keyless evaluators are safe for concurrent use.
package runtime
