package runtime

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"sync"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"
	"github.com/tuneinsight/lattigo/v5/utils"
)

// The diagonals of a circuit on two primes per level are encoded in
// double-double arithmetic (a float64 pair, about 104 bits through the
// FFT): float64's FFT would leave an error of 2^-53 of every weight
// (newWeightEncoder), and Lattigo's big-float FFT costs ten times as long.
// ddEmbedder computes what Lattigo's big-float Embed does, the same IFFT
// and the same layout of the coefficients. Its error, about 2^-104 of the
// values, stays below the rounding to integers the noise model counts for
// a diagonal (√(slots/12) units of the scale) up to scales of 2^108, above
// params.MaxLogScale.

// dd is hi + lo, |lo| at most half an ulp of hi.
type dd struct{ hi, lo float64 }

// twoSum is a + b and its rounding error, exactly.
func twoSum(a, b float64) (float64, float64) {
	s := a + b
	v := s - a
	return s, (a - (s - v)) + (b - v)
}

// fastTwoSum is twoSum for |a| ≥ |b|.
func fastTwoSum(a, b float64) (float64, float64) {
	s := a + b
	return s, b - (s - a)
}

func (a dd) add(b dd) dd {
	s, e := twoSum(a.hi, b.hi)
	t, f := twoSum(a.lo, b.lo)
	s, e = fastTwoSum(s, e+t)
	s, e = fastTwoSum(s, e+f)
	return dd{s, e}
}

func (a dd) neg() dd { return dd{-a.hi, -a.lo} }

func (a dd) mul(b dd) dd {
	p := a.hi * b.hi
	e := math.FMA(a.hi, b.hi, -p)
	e += a.hi*b.lo + a.lo*b.hi
	p, e = fastTwoSum(p, e)
	return dd{p, e}
}

// ddOf rounds x to double-double.
func ddOf(x *big.Float) dd {
	hi, _ := x.Float64()
	lo, _ := new(big.Float).Sub(x, big.NewFloat(hi)).Float64()
	return dd{hi, lo}
}

// ddc is a complex double-double.
type ddc struct{ re, im dd }

func (a ddc) add(b ddc) ddc { return ddc{a.re.add(b.re), a.im.add(b.im)} }
func (a ddc) sub(b ddc) ddc { return ddc{a.re.add(b.re.neg()), a.im.add(b.im.neg())} }
func (a ddc) mul(b ddc) ddc {
	return ddc{a.re.mul(b.re).add(a.im.mul(b.im).neg()), a.re.mul(b.im).add(a.im.mul(b.re))}
}

// ddTables are the roots of unity e^{2πik/M}, k = 0 … M, and the rotation
// group 5^j mod M of a ring, shared by the embedders of every worker.
type ddTables struct {
	roots    []ddc
	rotGroup []int
	m        int
}

var ddTablesOf = struct {
	sync.Mutex
	m map[int]*ddTables
}{m: map[int]*ddTables{}}

// tablesFor is the tables of the M-th roots, computed once per process
// with Lattigo's 128-bit roots.
func tablesFor(m int) *ddTables {
	ddTablesOf.Lock()
	defer ddTablesOf.Unlock()
	if t, ok := ddTablesOf.m[m]; ok {
		return t
	}
	t := &ddTables{roots: make([]ddc, m+1), rotGroup: make([]int, m>>2), m: m}
	for k, r := range ckks.GetRootsBigComplex(m, 128) {
		t.roots[k] = ddc{ddOf(r[0]), ddOf(r[1])}
	}
	g := 1
	for j := range t.rotGroup {
		t.rotGroup[j] = g
		g = g * int(ckks.GaloisGen) & (m - 1)
	}
	ddTablesOf.m[m] = t
	return t
}

// ddQuantizer holds 2^e mod q for every prime of a ring and every
// exponent a float64 can have.
type ddQuantizer struct {
	moduli []uint64
	pow2   [][]uint64
}

func newDDQuantizer(r *ring.Ring) ddQuantizer {
	q := ddQuantizer{moduli: r.ModuliChain()[:r.Level()+1]}
	for _, m := range q.moduli {
		p := make([]uint64, 1024)
		p[0] = 1 % m
		for e := 1; e < len(p); e++ {
			p[e] = (p[e-1] << 1) % m // p < 2^61: no overflow
		}
		q.pow2 = append(q.pow2, p)
	}
	return q
}

// residue is n mod q_j for an integer-valued float64 n.
func (q ddQuantizer) residue(j int, n float64) uint64 {
	if n == 0 {
		return 0
	}
	f, exp := math.Frexp(math.Abs(n))
	m, e := uint64(math.Ldexp(f, 53)), exp-53
	if e < 0 {
		m, e = uint64(math.Abs(n)), 0
	}
	hi, lo := bits.Mul64(m, q.pow2[j][e])
	r := bits.Rem64(hi, lo, q.moduli[j])
	if n < 0 && r != 0 {
		r = q.moduli[j] - r
	}
	return r
}

// set writes round(x) into coefficient i of every residue.
func (q ddQuantizer) set(x dd, i int, coeffs [][]uint64) {
	hi := math.Round(x.hi)
	lo := math.Round((x.hi - hi) + x.lo)
	for j, m := range q.moduli {
		coeffs[j][i] = (q.residue(j, hi) + q.residue(j, lo)) % m
	}
}

// ddEmbedder encodes real vectors into QP polynomials at one level, for one
// goroutine.
type ddEmbedder struct {
	t      *ddTables
	rq, rp *ring.Ring
	q, p   ddQuantizer
	buf    []ddc
}

func newDDEmbedder(p hefloat.Parameters, level int) *ddEmbedder {
	rq, rp := p.RingQ().AtLevel(level), p.RingP().AtLevel(p.MaxLevelP())
	return &ddEmbedder{t: tablesFor(int(rq.NthRoot())), rq: rq, rp: rp, q: newDDQuantizer(rq), p: newDDQuantizer(rp), buf: make([]ddc, p.MaxSlots())}
}

// Embed writes values (at most 2^meta.LogDimensions.Cols of them, the rest
// zero) into out with meta's scale, NTT and Montgomery flags.
func (e *ddEmbedder) Embed(values []float64, meta *rlwe.MetaData, out ringqp.Poly) error {
	slots := 1 << meta.LogDimensions.Cols
	if e.rq.Type() != ring.Standard || len(values) > slots || slots > len(e.buf) {
		return fmt.Errorf("cannot embed %d values in %d slots of a %v ring", len(values), slots, e.rq.Type())
	}
	buf := e.buf[:slots]
	for i := range buf {
		buf[i] = ddc{}
		if i < len(values) {
			buf[i].re.hi = values[i]
		}
	}
	e.ifft(buf)
	scale := ddOf(&meta.Scale.Value)
	for _, part := range []struct {
		r    *ring.Ring
		q    ddQuantizer
		poly ring.Poly
	}{{e.rq, e.q, out.Q}, {e.rp, e.p, out.P}} {
		for i, v := range buf {
			part.q.set(v.re.mul(scale), i, part.poly.Coeffs)
			part.q.set(v.im.mul(scale), i+slots, part.poly.Coeffs)
		}
		for j := range part.poly.Coeffs {
			clear(part.poly.Coeffs[j][2*slots:])
		}
		rlwe.NTTSparseAndMontgomery(part.r, meta, part.poly)
	}
	return nil
}

// ifft is Lattigo's SpecialIFFTDouble in double-double arithmetic.
func (e *ddEmbedder) ifft(values []ddc) {
	n, m := len(values), e.t.m
	logN, logM := bits.Len(uint(n))-1, bits.Len(uint(m))-1
	for logLen := logN; logLen > 0; logLen-- {
		length := 1 << logLen
		half, quad := length>>1, length<<2
		gap, mask := logM-2-logLen, quad-1
		for i := 0; i < n; i += length {
			for j, k := 0, i; j < half; j, k = j+1, k+1 {
				u, v := values[k], values[k+half]
				values[k], values[k+half] = u.add(v), u.sub(v).mul(e.t.roots[(quad-(e.t.rotGroup[j]&mask))<<gap])
			}
		}
	}
	inv := 1 / float64(n)
	for i := range values {
		values[i] = ddc{dd{values[i].re.hi * inv, values[i].re.lo * inv}, dd{values[i].im.hi * inv, values[i].im.lo * inv}}
	}
	utils.BitReverseInPlaceSlice(values, n)
}
