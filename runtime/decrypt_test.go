package runtime

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/hecc-dev/hecc/ir"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
)

// TestDecryptRefusesWhatIsNotAResult: a result crafted from public data
// (c0 = 0, c1 = Δ decrypts to Δ·s, a linear function of the secret key)
// a result with a value beyond its outputs, and a result with a flipped
// byte are refused; the honest result is not.
func TestDecryptRefusesWhatIsNotAResult(t *testing.T) {
	b, x := newGraph(41, 20)
	g := b.output(b.dense(b.poly(b.dense(x, 8, 0.8), ir.Square()), 3, 1))
	spec, keys, srv := testServer(t, g, 35)
	ct, err := Encrypt(spec, keys.Public, &ir.Tensor{Shape: []int{20}, Data: randomInputs(5, 20, 1)})
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := srv.Run(context.Background(), ct)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decrypt(spec, keys.Secret, out); err != nil {
		t.Fatalf("the honest result: %v", err)
	}

	p, err := newParameters(spec.Params)
	if err != nil {
		t.Fatal(err)
	}
	res := out.cts[0]
	crafted := hefloat.NewCiphertext(p, 1, res.Level())
	crafted.MetaData = res.MetaData.CopyNew()
	delta := uint64(res.Scale.Float64())
	for i, q := range p.Q()[:res.Level()+1] {
		for j := range crafted.Value[1].Coeffs[i] {
			crafted.Value[1].Coeffs[i][j] = delta % q // a constant is constant in NTT form
		}
	}
	forged := &Ciphertext{kind: KindOutputCt, id: out.id, cts: []*rlwe.Ciphertext{crafted}}
	if _, err := Decrypt(spec, keys.Secret, forged); !errors.Is(err, ErrNotAResult) {
		t.Fatalf("c0 = 0, c1 = Δ: %v", err)
	}

	// A result that carries something beyond its 3 outputs, the same in
	// every copy and real, is not one the circuit computes.
	extra := make([]float64, 1<<spec.LogSlots)
	extra[3] = 0.5
	pt := hefloat.NewPlaintext(p, res.Level())
	pt.Scale = res.Scale
	pt.LogDimensions = res.LogDimensions
	if err := hefloat.NewEncoder(p).Encode(extra, pt); err != nil {
		t.Fatal(err)
	}
	smuggled := res.CopyNew()
	if err := hefloat.NewEvaluator(p, nil).Add(smuggled, pt, smuggled); err != nil {
		t.Fatal(err)
	}
	if _, err := Decrypt(spec, keys.Secret, &Ciphertext{kind: KindOutputCt, id: out.id, cts: []*rlwe.Ciphertext{smuggled}}); !errors.Is(err, ErrNotAResult) {
		t.Fatalf("a value beyond the outputs: %v", err)
	}

	data, err := EncodeCiphertext(spec, out)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, at := range []int{HeaderSize + 20, len(data) / 2, len(data) - 3} {
		bad := bytes.Clone(data)
		bad[at] ^= 0x04
		res, err := DecodeCiphertext(spec, KindOutputCt, keys.Eval.KeySet(), bad)
		if errors.Is(err, ErrFormat) {
			continue // a residue no longer below its prime
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decrypt(spec, keys.Secret, res); !errors.Is(err, ErrNotAResult) {
			t.Fatalf("byte %d flipped: %v", at, err)
		}
		refused++
	}
	if refused == 0 {
		t.Fatal("no flipped result got as far as decryption")
	}
}
