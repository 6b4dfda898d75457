// Package ntt is a vectorized negacyclic number-theoretic transform for
// Lattigo's standard rings, for primes below 2^31: butterflies on values
// kept below 2q, with Shoup's precomputed quotients, whose products of
// 32-bit operands are the 64-bit lanes of AVX2's and AVX-512's VPMULUDQ.
//
// It computes the transform Lattigo's SubRing.NTT and SubRing.INTT
// compute, with the same roots in the same order, so that its fully
// reduced outputs equal theirs bit for bit; SubMul is the product by a
// constant of a difference that follows the transform in a rescale or a
// modulus switch. On a machine without the
// vector instructions, or for a ring it does not cover, For returns nil
// and the caller keeps Lattigo's transform.
package ntt

import (
	"sync"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// MaxModulus bounds the primes a Table covers: the values multiplied stay
// below 2q, which must fit the 32 bits VPMULUDQ multiplies.
const MaxModulus = 1 << 31

// minN is the smallest ring degree the kernels handle: their last three
// stages work on two blocks of eight coefficients at a time.
const minN = 16

// A Table holds one prime's twiddle factors at one ring degree, each with
// its Shoup quotient ⌊w·2^32/q⌋, both as 32-bit words.
type Table struct {
	n int
	c consts
	// fw, fws: the forward roots and quotients, Lattigo's RootsForward out
	// of Montgomery form (bit-reversed: stage with m groups uses m…2m-1);
	// bw, bws the backward ones, the first root (unused by the
	// butterflies) replaced by N^-1 and bws's by its quotient.
	fw, fws, bw, bws []uint32
	// f4, f2 (b4, b2): the forward (backward) roots of the stages whose
	// butterflies are 4 and 2 apart, repeated 4 and 2 times, so that the
	// kernels load one root per lane; quotients after the roots.
	f4, f2, b4, b2 []uint32
	// bwLast: the root of the backward transform's last stage times N^-1,
	// and its quotient.
	bwLast [2]uint32
}

// consts is the block of constants every kernel reads.
type consts struct {
	q, twoQ uint64
	// oneS is ⌊2^32/q⌋, Shoup's quotient for multiplying by one: the
	// forward transform's first step brings any 32-bit input below 2q.
	oneS uint64
}

type key struct {
	q, root uint64
	n       int
}

var tables sync.Map // key → *Table

// For is the Table of sub, or nil when the transform is Lattigo's: no
// vector kernel on this machine, a conjugate-invariant ring, a prime of
// 2^31 or more, or a degree below 16.
func For(sub *ring.SubRing) *Table {
	if kernels == nil || sub.Type() != ring.Standard || sub.Modulus >= MaxModulus || sub.N < minN {
		return nil
	}
	k := key{sub.Modulus, sub.PrimitiveRoot, sub.N}
	if t, ok := tables.Load(k); ok {
		return t.(*Table)
	}
	t, _ := tables.LoadOrStore(k, newTable(sub))
	return t.(*Table)
}

func newTable(sub *ring.SubRing) *Table {
	n, q := sub.N, sub.Modulus
	std := func(mont uint64) uint64 { return ring.MRed(mont, 1, q, sub.MRedConstant) }
	quo := func(w uint64) uint32 { return uint32((w << 32) / q) }
	t := &Table{n: n, c: consts{q: q, twoQ: 2 * q, oneS: (1 << 32) / q}}
	t.fw, t.fws = make([]uint32, n), make([]uint32, n)
	t.bw, t.bws = make([]uint32, n), make([]uint32, n)
	for k := range n {
		f, b := std(sub.RootsForward[k]), std(sub.RootsBackward[k])
		t.fw[k], t.fws[k] = uint32(f), quo(f)
		t.bw[k], t.bws[k] = uint32(b), quo(b)
	}
	nInv := std(sub.NInv)
	last := ring.BRed(std(sub.RootsBackward[1]), nInv, q, sub.BRedConstant)
	t.bw[0], t.bws[0] = uint32(nInv), quo(nInv)
	t.bwLast = [2]uint32{uint32(last), quo(last)}
	repeat := func(w, ws []uint32, stride int) []uint32 {
		m := n / (2 * stride) // the stage's groups, roots m … 2m-1
		out := make([]uint32, n)
		for k := range n / 2 {
			out[k], out[n/2+k] = w[m+k/stride], ws[m+k/stride]
		}
		return out
	}
	t.f4, t.f2 = repeat(t.fw, t.fws, 4), repeat(t.fw, t.fws, 2)
	t.b4, t.b2 = repeat(t.bw, t.bws, 4), repeat(t.bw, t.bws, 2)
	return t
}

// kernelSet is one instruction set's kernels; every pointer is to the
// first of n coefficients or of a table's words.
type kernelSet struct {
	// reduce sets out[k] = in[k] + a mod q, lazily: in [0, 2q) for any
	// sum below 2^32.
	reduce func(out, in *uint64, n int, a uint64, c *consts)
	// forwardStage runs the forward stage whose butterflies are t ≥ 8
	// apart on p, group i with root w[i] (quotient ws[i]): inputs and
	// outputs below 2q.
	forwardStage func(p *uint64, n, t int, w, ws *uint32, c *consts)
	// forwardLast runs the forward stages 4, 2 and 1 apart, roots from
	// f4, f2 and w (the last stage's, n/2 of them, then their quotients
	// at ws), and reduces the outputs into [0, q).
	forwardLast func(p *uint64, n int, f4, f2, w, ws *uint32, c *consts)
	// backwardFirst runs the backward stages 1, 2 and 4 apart from in to
	// out, roots from w (the first stage's, quotients at ws), b2 and b4:
	// inputs below 2q, outputs below 2q.
	backwardFirst func(out, in *uint64, n int, w, ws, b2, b4 *uint32, c *consts)
	// backwardStage runs the backward stage whose butterflies are t ≥ 8
	// apart, t < n/2, as forwardStage: inputs and outputs below 2q.
	backwardStage func(p *uint64, n, t int, w, ws *uint32, c *consts)
	// backwardLast runs the last backward stage with the products by
	// N^-1: the sums times w[0] (ws[0]), the differences times last[0]
	// (last[1]), the outputs in [0, q).
	backwardLast func(p *uint64, n int, w, ws *uint32, last *[2]uint32, c *consts)
	// subMul sets out[k] = (x[k] - y[k])·w[0] mod q (w[1] its quotient),
	// in [0, q), for x and y below 2q.
	subMul func(out, x, y *uint64, n int, w *[2]uint32, c *consts)
}

// kernels is the machine's kernel set, nil if it has none.
var kernels *kernelSet

// Forward sets out to the NTT of in, as Lattigo's SubRing.NTT: in and out
// hold at least N coefficients, in's below 2^32; out may be in. Its
// outputs are in [0, q).
func (t *Table) Forward(in, out []uint64) { t.ForwardPlus(in, 0, out) }

// ForwardPlus sets out to the NTT of in plus a in every coefficient, as
// Forward, for sums below 2^32.
func (t *Table) ForwardPlus(in []uint64, a uint64, out []uint64) {
	n := t.n
	in, out = in[:n], out[:n]
	k := kernels
	k.reduce(&out[0], &in[0], n, a, &t.c)
	for s := n / 2; s >= 8; s /= 2 {
		m := n / (2 * s)
		k.forwardStage(&out[0], n, s, &t.fw[m], &t.fws[m], &t.c)
	}
	k.forwardLast(&out[0], n, &t.f4[0], &t.f2[0], &t.fw[n/2], &t.fws[n/2], &t.c)
}

// Inverse sets out to the inverse NTT of in, as Lattigo's SubRing.INTT:
// in and out hold at least N coefficients, in's below 2q; out may be in.
// Its outputs are in [0, q).
func (t *Table) Inverse(in, out []uint64) {
	n := t.n
	in, out = in[:n], out[:n]
	k := kernels
	k.backwardFirst(&out[0], &in[0], n, &t.bw[n/2], &t.bws[n/2], &t.b2[0], &t.b4[0], &t.c)
	for s := 8; s < n/2; s *= 2 {
		m := n / (2 * s)
		k.backwardStage(&out[0], n, s, &t.bw[m], &t.bws[m], &t.c)
	}
	k.backwardLast(&out[0], n, &t.bw[0], &t.bws[0], &t.bwLast, &t.c)
}

// SubMul sets out[k] = (x[k] - y[k])·c mod q, in [0, q), for N
// coefficients x[k] and y[k] below 2q and c below q: Lattigo's
// SubRing.SubThenMulScalarMontgomeryTwoModulus(x, y, c in Montgomery
// form, out) for these inputs.
func (t *Table) SubMul(x, y []uint64, c uint64, out []uint64) {
	n := t.n
	x, y, out = x[:n], y[:n], out[:n]
	w := [2]uint32{uint32(c), uint32((c << 32) / t.c.q)}
	kernels.subMul(&out[0], &x[0], &y[0], n, &w, &t.c)
}
