package main

import (
	"math/cmplx"
	"testing"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/runtime"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// TestMLPFourDigitsOneQuery is the attack at the bundled MLP's real
// parameters: a client packs four digits into the four copies of the
// input slots the ring holds (the honest encoding repeats one). The
// server projects the input onto its layout, so the result holds one
// prediction, for the mean of the four, the same in every copy and real:
// not the four predictions the client wanted.
func TestMLPFourDigitsOneQuery(t *testing.T) {
	res, keys, srv := bundledServer(t, "mlp")
	spec := res.Spec
	p, err := runtime.NewParameters(spec.Params)
	if err != nil {
		t.Fatal(err)
	}
	n, ringSlots := 1<<spec.LogSlots, p.MaxSlots()
	if ringSlots/n != 4 || spec.InputCiphertexts() != 1 {
		t.Fatalf("%d copies of %d slots in %d ciphertexts: the test expects 4 in one", ringSlots/n, n, spec.InputCiphertexts())
	}
	x, _ := loadSamples(t, "mnist_test.npz")
	values := make([]complex128, ringSlots)
	mean := &ir.Tensor{Shape: sample(x, 0).Shape, Data: make([]float64, len(sample(x, 0).Data))}
	for j := range 4 {
		d := sample(x, j)
		laid := d.Data
		if spec.InputSlots != nil {
			laid = (&ir.Gather{Shape: spec.Input.Shape, Slots: spec.InputSlots}).Apply(d.Data)
		}
		for s, v := range laid {
			values[j*n+s] = complex(v, 0)
		}
		for i, v := range d.Data {
			mean.Data[i] += v / 4
		}
	}
	pt := hefloat.NewPlaintext(p, spec.Input.Level)
	pt.LogDimensions = ring.Dimensions{Rows: 0, Cols: p.LogMaxSlots()}
	ecd := hefloat.NewEncoder(p)
	if err := ecd.Encode(values, pt); err != nil {
		t.Fatal(err)
	}
	ct, err := rlwe.NewEncryptor(p, keys.Secret).EncryptNew(pt)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := srv.Run([]*rlwe.Ciphertext{ct})
	if err != nil {
		t.Fatal(err)
	}
	dec := rlwe.NewDecryptor(p, keys.Secret).DecryptNew(out)
	dec.LogDimensions = ring.Dimensions{Rows: 0, Cols: p.LogMaxSlots()}
	got := make([]complex128, ringSlots)
	if err := ecd.Decode(dec, got); err != nil {
		t.Fatal(err)
	}
	plain, err := ir.Interpret(res.Graph, map[string]*ir.Tensor{spec.Input.Name: mean})
	if err != nil {
		t.Fatal(err)
	}
	want := plain[spec.Output.Name].Data
	for j := range 4 {
		for k, w := range want {
			if v := got[j*n+k]; cmplx.Abs(v-complex(w, 0)) > 1e-3 {
				t.Fatalf("copy %d, output %d: %v; the prediction for the mean of the four digits is %g", j, k, v, w)
			}
		}
	}
}
