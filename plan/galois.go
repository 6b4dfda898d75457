package plan

// galoisGen generates, with −1, the Galois group of Z[X]/(X^N + 1): the
// automorphism X → X^(5^k) rotates the CKKS slots by k.
const galoisGen = 5

// GaloisElement is the Galois element of a rotation by k slots in a ring
// of degree 2^logN, 5^k mod 2N, as Lattigo computes it: k taken modulo 2N
// (a negative k included), which the order of 5 divides.
func GaloisElement(logN, k int) uint64 {
	m := uint64(2) << logN // 2N, a power of two
	e := uint64(k) & (m - 1)
	out, base := uint64(1), uint64(galoisGen)
	for ; e > 0; e >>= 1 {
		if e&1 == 1 {
			out = out * base & (m - 1)
		}
		base = base * base & (m - 1)
	}
	return out
}
