// Package ntt is a vectorized negacyclic number-theoretic transform for
// Lattigo's standard rings: butterflies on values kept below 2q, with
// Shoup's precomputed quotients. For primes below 2^31 their products of
// 32-bit operands are the 64-bit lanes of AVX2's and AVX-512's VPMULUDQ;
// for primes below 2^50, those of 52-bit operands are AVX-512 IFMA's
// VPMADD52LUQ and VPMADD52HUQ.
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
	"math/bits"
	"sync"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// MaxModulus bounds the primes the 32-bit kernels cover: the values
// multiplied stay below 2q, which must fit the 32 bits VPMULUDQ multiplies.
const MaxModulus = 1 << 31

// MaxWideModulus bounds the primes the 52-bit (IFMA) kernels cover: the
// values multiplied stay below 2q, the lanes' sums below 4q, which must fit
// the 52 bits VPMADD52LUQ and VPMADD52HUQ multiply.
const MaxWideModulus = 1 << 50

// minN is the smallest ring degree the kernels handle: their last three
// stages work on two blocks of eight coefficients at a time.
const minN = 16

// A Table holds one prime's twiddle factors at one ring degree, each with
// its Shoup quotient: 32-bit words ⌊w·2^32/q⌋ for a prime below
// MaxModulus (narrow), 64-bit words ⌊w·2^52/q⌋ for one below
// MaxWideModulus (wide).
type Table struct {
	n      int
	c      consts
	narrow *twiddles[uint32]
	wide   *twiddles[uint64]
}

// twiddles are one prime's roots and quotients as words W.
type twiddles[W uint32 | uint64] struct {
	// fw, fws: the forward roots and quotients, Lattigo's RootsForward out
	// of Montgomery form (bit-reversed: stage with m groups uses m…2m-1);
	// bw, bws the backward ones, the first root (unused by the
	// butterflies) replaced by N^-1 and bws's by its quotient.
	fw, fws, bw, bws []W
	// f4, f2 (b4, b2): the forward (backward) roots of the stages whose
	// butterflies are 4 and 2 apart, repeated 4 and 2 times, so that the
	// kernels load one root per lane; quotients after the roots.
	f4, f2, b4, b2 []W
	// bwLast: the root of the backward transform's last stage times N^-1,
	// and its quotient.
	bwLast [2]W
}

// consts is the block of constants every kernel reads.
type consts struct {
	q, twoQ uint64
	// oneS is Shoup's quotient for multiplying by one, ⌊2^32/q⌋ (narrow)
	// or ⌊2^52/q⌋ (wide): the forward transform's first step brings any
	// input below 2^32 (2^52) below 2q.
	oneS uint64
	// negQ, mask52: 2^52 - q and 2^52 - 1, with which the wide kernels
	// take a product's low 52 bits minus a multiple of q.
	negQ, mask52 uint64
}

type key struct {
	q, root uint64
	n       int
}

var tables sync.Map // key → *Table

// For is the Table of sub, or nil when the transform is Lattigo's: no
// vector kernel on this machine for the prime's size (IFMA for primes of
// 2^31 or more), a conjugate-invariant ring, a prime of 2^50 or more, or
// a degree below 16.
func For(sub *ring.SubRing) *Table {
	if sub.Type() != ring.Standard || sub.N < minN {
		return nil
	}
	switch q := sub.Modulus; {
	case q < MaxModulus && kernels != nil:
	case q >= MaxModulus && q < MaxWideModulus && wideKernels != nil:
	default:
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
	t := &Table{n: n}
	if q < MaxModulus {
		t.c = consts{q: q, twoQ: 2 * q, oneS: (1 << 32) / q}
		t.narrow = newTwiddles(sub, func(w uint64) uint32 { return uint32((w << 32) / q) })
		return t
	}
	t.c = consts{q: q, twoQ: 2 * q, oneS: (1 << 52) / q, negQ: 1<<52 - q, mask52: 1<<52 - 1}
	t.wide = newTwiddles(sub, func(w uint64) uint64 { return wideQuotient(w, q) })
	return t
}

// wideQuotient is Shoup's quotient ⌊w·2^52/q⌋ of w below q.
func wideQuotient(w, q uint64) uint64 {
	quo, _ := bits.Div64(w>>12, w<<52, q)
	return quo
}

func newTwiddles[W uint32 | uint64](sub *ring.SubRing, quo func(uint64) W) *twiddles[W] {
	n, q := sub.N, sub.Modulus
	std := func(mont uint64) uint64 { return ring.MRed(mont, 1, q, sub.MRedConstant) }
	t := &twiddles[W]{}
	t.fw, t.fws = make([]W, n), make([]W, n)
	t.bw, t.bws = make([]W, n), make([]W, n)
	for k := range n {
		f, b := std(sub.RootsForward[k]), std(sub.RootsBackward[k])
		t.fw[k], t.fws[k] = W(f), quo(f)
		t.bw[k], t.bws[k] = W(b), quo(b)
	}
	nInv := std(sub.NInv)
	last := ring.BRed(std(sub.RootsBackward[1]), nInv, q, sub.BRedConstant)
	t.bw[0], t.bws[0] = W(nInv), quo(nInv)
	t.bwLast = [2]W{W(last), quo(last)}
	repeat := func(w, ws []W, stride int) []W {
		m := n / (2 * stride) // the stage's groups, roots m … 2m-1
		out := make([]W, n)
		for k := range n / 2 {
			out[k], out[n/2+k] = w[m+k/stride], ws[m+k/stride]
		}
		return out
	}
	t.f4, t.f2 = repeat(t.fw, t.fws, 4), repeat(t.fw, t.fws, 2)
	t.b4, t.b2 = repeat(t.bw, t.bws, 4), repeat(t.bw, t.bws, 2)
	return t
}

// kernelSet is one instruction set's kernels for twiddles W; every
// pointer is to the first of n coefficients or of a table's words. Values
// below 2^32 for W = uint32 are below 2^52 for W = uint64.
type kernelSet[W uint32 | uint64] struct {
	// reduce sets out[k] = in[k] + a mod q, lazily: in [0, 2q) for any
	// sum below 2^32.
	reduce func(out, in *uint64, n int, a uint64, c *consts)
	// forwardStage runs the forward stage whose butterflies are t ≥ 8
	// apart on p, group i with root w[i] (quotient ws[i]): inputs and
	// outputs below 2q.
	forwardStage func(p *uint64, n, t int, w, ws *W, c *consts)
	// forwardLast runs the forward stages 4, 2 and 1 apart, roots from
	// f4, f2 and w (the last stage's, n/2 of them, then their quotients
	// at ws), and reduces the outputs into [0, q).
	forwardLast func(p *uint64, n int, f4, f2, w, ws *W, c *consts)
	// backwardFirst runs the backward stages 1, 2 and 4 apart from in to
	// out, roots from w (the first stage's, quotients at ws), b2 and b4:
	// inputs below 2q, outputs below 2q.
	backwardFirst func(out, in *uint64, n int, w, ws, b2, b4 *W, c *consts)
	// backwardStage runs the backward stage whose butterflies are t ≥ 8
	// apart, t < n/2, as forwardStage: inputs and outputs below 2q.
	backwardStage func(p *uint64, n, t int, w, ws *W, c *consts)
	// backwardLast runs the last backward stage with the products by
	// N^-1: the sums times w[0] (ws[0]), the differences times last[0]
	// (last[1]), the outputs in [0, q).
	backwardLast func(p *uint64, n int, w, ws *W, last *[2]W, c *consts)
	// subMul sets out[k] = (x[k] - y[k])·w[0] mod q (w[1] its quotient),
	// in [0, q), for x and y below 2q.
	subMul func(out, x, y *uint64, n int, w *[2]W, c *consts)
	// mulAdd sets out[k] = a[k] + off + b[k]·w[0] mod q (w[1] its
	// quotient), lazily: in [0, 2q) for a[k] + off and b[k] below 2^52.
	// The narrow sets have none.
	mulAdd func(out, a, b *uint64, n int, off uint64, w *[2]W, c *consts)
}

// kernels and wideKernels are the machine's kernel sets for primes below
// MaxModulus and MaxWideModulus, nil if it has none.
var (
	kernels     *kernelSet[uint32]
	wideKernels *kernelSet[uint64]
)

// ForwardBound bounds Forward's inputs and ForwardPlus's sums: 2^32, or
// 2^52 for a prime of MaxModulus or more.
func (t *Table) ForwardBound() uint64 {
	if t.wide != nil {
		return 1 << 52
	}
	return 1 << 32
}

// Forward sets out to the NTT of in, as Lattigo's SubRing.NTT: in and out
// hold at least N coefficients, in's below ForwardBound; out may be in.
// Its outputs are in [0, q).
func (t *Table) Forward(in, out []uint64) { t.ForwardPlus(in, 0, out) }

// ForwardPlus sets out to the NTT of in plus a in every coefficient, as
// Forward, for sums below ForwardBound.
func (t *Table) ForwardPlus(in []uint64, a uint64, out []uint64) {
	in, out = in[:t.n], out[:t.n]
	if t.wide != nil {
		forward(wideKernels, t.wide, &t.c, in, a, out)
		return
	}
	forward(kernels, t.narrow, &t.c, in, a, out)
}

func forward[W uint32 | uint64](k *kernelSet[W], tw *twiddles[W], c *consts, in []uint64, a uint64, out []uint64) {
	k.reduce(&out[0], &in[0], len(in), a, c)
	forwardStages(k, tw, c, out)
}

// forwardStages runs the forward transform's stages on p, whose values are
// below 2q.
func forwardStages[W uint32 | uint64](k *kernelSet[W], tw *twiddles[W], c *consts, out []uint64) {
	n := len(out)
	for s := n / 2; s >= 8; s /= 2 {
		m := n / (2 * s)
		k.forwardStage(&out[0], n, s, &tw.fw[m], &tw.fws[m], c)
	}
	k.forwardLast(&out[0], n, &tw.f4[0], &tw.f2[0], &tw.fw[n/2], &tw.fws[n/2], c)
}

// Wide reports whether t's prime is of MaxModulus or more, so that t
// has ForwardMulAdd.
func (t *Table) Wide() bool { return t.wide != nil }

// ForwardMulAdd sets out to the NTT of a + off + b·w (mod q), as Lattigo's
// SubRing.NTT, for a wide table, a[k] + off and b[k] below 2^52 and w
// below q: the combination, then the transform, of the residues of a
// rescale by two primes. Its outputs are in [0, q); out may be a or b.
func (t *Table) ForwardMulAdd(a []uint64, off uint64, b []uint64, w uint64, out []uint64) {
	n := t.n
	a, b, out = a[:n], b[:n], out[:n]
	wideKernels.mulAdd(&out[0], &a[0], &b[0], n, off, &[2]uint64{w, wideQuotient(w, t.c.q)}, &t.c)
	forwardStages(wideKernels, t.wide, &t.c, out)
}

// Inverse sets out to the inverse NTT of in, as Lattigo's SubRing.INTT:
// in and out hold at least N coefficients, in's below 2q; out may be in.
// Its outputs are in [0, q).
func (t *Table) Inverse(in, out []uint64) {
	in, out = in[:t.n], out[:t.n]
	if t.wide != nil {
		inverse(wideKernels, t.wide, &t.c, in, out)
		return
	}
	inverse(kernels, t.narrow, &t.c, in, out)
}

func inverse[W uint32 | uint64](k *kernelSet[W], tw *twiddles[W], c *consts, in, out []uint64) {
	n := len(in)
	k.backwardFirst(&out[0], &in[0], n, &tw.bw[n/2], &tw.bws[n/2], &tw.b2[0], &tw.b4[0], c)
	for s := 8; s < n/2; s *= 2 {
		m := n / (2 * s)
		k.backwardStage(&out[0], n, s, &tw.bw[m], &tw.bws[m], c)
	}
	k.backwardLast(&out[0], n, &tw.bw[0], &tw.bws[0], &tw.bwLast, c)
}

// SubMul sets out[k] = (x[k] - y[k])·c mod q, in [0, q), for N
// coefficients x[k] and y[k] below 2q and c below q: Lattigo's
// SubRing.SubThenMulScalarMontgomeryTwoModulus(x, y, c in Montgomery
// form, out) for these inputs.
func (t *Table) SubMul(x, y []uint64, c uint64, out []uint64) {
	n := t.n
	x, y, out = x[:n], y[:n], out[:n]
	if t.wide != nil {
		wideKernels.subMul(&out[0], &x[0], &y[0], n, &[2]uint64{c, wideQuotient(c, t.c.q)}, &t.c)
		return
	}
	w := [2]uint32{uint32(c), uint32((c << 32) / t.c.q)}
	kernels.subMul(&out[0], &x[0], &y[0], n, &w, &t.c)
}
