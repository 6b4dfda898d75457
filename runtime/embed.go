package runtime

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
	"github.com/tuneinsight/lattigo/v5/schemes/ckks"
)

// embedder encodes real vectors into QP polynomials as Lattigo's
// Encoder.Embed does, bit for bit, for one level. Lattigo quantises each
// coefficient with ckks.SingleFloat64ToFixedPointCRT, which allocates the
// moduli and their Barrett constants on every call: for LeNet-5's ~900
// diagonals at logN 15 that was three quarters of the server's setup.
// Here they are looked up once. One embedder per goroutine: it holds the
// encoder's FFT buffer.
type embedder struct {
	ecd    *hefloat.Encoder
	buf    []complex128
	rq, rp *ring.Ring // nil rp: no P part
	q, p   quantizer
}

func newEmbedder(p hefloat.Parameters, ecd *hefloat.Encoder, levelQ, levelP int) *embedder {
	e := &embedder{ecd: ecd.ShallowCopy(), buf: make([]complex128, p.MaxSlots())}
	e.rq = p.RingQ().AtLevel(levelQ)
	e.q = newQuantizer(e.rq)
	if levelP >= 0 {
		e.rp = p.RingP().AtLevel(levelP)
		e.p = newQuantizer(e.rp)
	}
	return e
}

// embed writes values (at most 2^meta.LogDimensions.Cols of them, the rest
// zero) into out with meta's scale, NTT and Montgomery flags.
func (e *embedder) embed(values []float64, meta *rlwe.MetaData, out ringqp.Poly) error {
	if e.rq.Type() != ring.Standard {
		return fmt.Errorf("cannot embed: ring type %v", e.rq.Type())
	}
	slots := 1 << meta.LogDimensions.Cols
	if len(values) > slots || slots > len(e.buf) {
		return fmt.Errorf("cannot embed %d values in %d slots (at most %d)", len(values), slots, len(e.buf))
	}
	buf := e.buf[:slots]
	for i := range buf {
		buf[i] = 0
		if i < len(values) {
			buf[i] = complex(values[i], 0)
		}
	}
	if err := e.ecd.IFFT(buf, meta.LogDimensions.Cols); err != nil {
		return err
	}
	scale := meta.Scale.Float64()
	e.q.put(e.rq, buf, scale, out.Q.Coeffs)
	rlwe.NTTSparseAndMontgomery(e.rq, meta, out.Q)
	if e.rp != nil {
		e.p.put(e.rp, buf, scale, out.P.Coeffs)
		rlwe.NTTSparseAndMontgomery(e.rp, meta, out.P)
	}
	return nil
}

// quantizer holds a ring's moduli and Barrett constants.
type quantizer struct {
	moduli []uint64
	brc    [][]uint64
}

func newQuantizer(r *ring.Ring) quantizer {
	return quantizer{moduli: r.ModuliChain()[:r.Level()+1], brc: r.BRedConstants()}
}

// put quantises the IFFT output as ckks.Complex128ToFixedPointCRT does on
// the standard ring: real parts, then imaginary parts, then zeros.
func (q quantizer) put(r *ring.Ring, values []complex128, scale float64, coeffs [][]uint64) {
	n := len(values)
	for i, v := range values {
		q.one(r, i, real(v), scale, coeffs)
		q.one(r, i+n, imag(v), scale, coeffs)
	}
	for j := range q.moduli {
		clear(coeffs[j][2*n:])
	}
}

// one is ckks.SingleFloat64ToFixedPointCRT with the constants looked up
// once; values beyond 2^64 take Lattigo's big-integer path.
func (q quantizer) one(r *ring.Ring, i int, value, scale float64, coeffs [][]uint64) {
	if value == 0 {
		for j := range q.moduli {
			coeffs[j][i] = 0
		}
		return
	}
	x := value * scale
	negative := x < 0
	if negative {
		x = -x
	}
	if x >= 1.8446744073709552e+19 {
		ckks.SingleFloat64ToFixedPointCRT(r, i, value, scale, coeffs)
		return
	}
	c := uint64(x + 0.5)
	for j, qi := range q.moduli {
		switch {
		case negative && c > qi:
			coeffs[j][i] = qi - ring.BRedAdd(c, qi, q.brc[j])
		case negative:
			coeffs[j][i] = qi - c
		case c > 0x1fffffffffffffff:
			coeffs[j][i] = ring.BRedAdd(c, qi, q.brc[j])
		default:
			coeffs[j][i] = c
		}
	}
}
