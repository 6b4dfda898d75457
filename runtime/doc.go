// Package runtime evaluates hecc circuits with Lattigo's CKKS (he/hefloat)
// and owns every file the two parties exchange: the circuit (.hec), its
// client half (.spec), keys and ciphertexts. It is the only package that
// imports Lattigo; the server needs nothing else and the .hec file.
//
// Layout. A tensor of s values occupies the first s of n = 2^LogSlots
// slots; n may be smaller than the ring's N/2 slots, in which case Lattigo
// replicates the vector and rotations are cyclic modulo n. An Affine node
// is one diagonal-method linear transformation with baby-step giant-step
// rotations (hefloat.LinearTransformation), encoded once when the circuit
// is loaded and then shared read-only by every evaluation.
//
// Files. Every file starts with "HECC", a kind byte, a format version and
// the SHA-256 fingerprint of the spec it belongs to, so that a key,
// ciphertext or circuit of another compile is refused with a message before
// any Lattigo decoding. Lattigo objects are length-checked against the size
// the spec implies before they are unmarshalled.
//
// Concurrency. Lattigo's evaluators, encoders, encryptors and decryptors
// hold buffers; each goroutine gets its own (ShallowCopy). The prepared
// circuit (encoded diagonals, keys) is read-only after loading.
package runtime
