// Mirrors lattigo/v5@v5.0.7 schemes/ckks/encoder.go: Encoder.embedDouble
// (Encoder.Embed for []float64 into a ringqp.Poly, standard ring).
// hecc's copy quantises with the constants looked up once
// (single_float64_to_fixed_point_crt.go), where Lattigo allocates them for
// every coefficient: the server embeds every diagonal of every layer.

package lattigox

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
)

// Embedder encodes real vectors into QP polynomials as Lattigo's
// Encoder.Embed does, bit for bit, for one level. One Embedder per
// goroutine: it holds the encoder's FFT buffer.
type Embedder struct {
	ecd    *hefloat.Encoder
	buf    []complex128
	rq, rp *ring.Ring // nil rp: no P part
	q, p   quantizer
}

// NewEmbedder embeds at levelQ and levelP (-1: no P part).
func NewEmbedder(p hefloat.Parameters, ecd *hefloat.Encoder, levelQ, levelP int) *Embedder {
	e := &Embedder{ecd: ecd.ShallowCopy(), buf: make([]complex128, p.MaxSlots())}
	e.rq = p.RingQ().AtLevel(levelQ)
	e.q = newQuantizer(e.rq)
	if levelP >= 0 {
		e.rp = p.RingP().AtLevel(levelP)
		e.p = newQuantizer(e.rp)
	}
	return e
}

// Embed writes values (at most 2^meta.LogDimensions.Cols of them, the rest
// zero) into out with meta's scale, NTT and Montgomery flags.
func (e *Embedder) Embed(values []float64, meta *rlwe.MetaData, out ringqp.Poly) error {
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
	e.q.complex128ToFixedPointCRT(e.rq, buf, scale, out.Q.Coeffs)
	rlwe.NTTSparseAndMontgomery(e.rq, meta, out.Q)
	if e.rp != nil {
		e.p.complex128ToFixedPointCRT(e.rp, buf, scale, out.P.Coeffs)
		rlwe.NTTSparseAndMontgomery(e.rp, meta, out.P)
	}
	return nil
}
