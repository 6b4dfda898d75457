package runtime

import (
	"context"
	"math/cmplx"
	"path/filepath"
	"testing"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/compiler/tensorio"
	"github.com/hecc-dev/hecc/ir"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// TestMLPFourDigitsOneQuery is the attack at the bundled MLP's real
// parameters: a client packs four digits into the four copies of the
// input slots the ring holds (the honest encoding repeats one). The
// server projects the input onto its layout, so the result holds one
// prediction, for the mean of the four, the same in every copy and real:
// not the four predictions the client wanted. It lives here, not with the
// other bundled-model tests in cmd/hecc, because crafting such an input
// takes the raw secret key, which the exported API does not hand out.
func TestMLPFourDigitsOneQuery(t *testing.T) {
	const bundled = "../testdata"
	calib, err := tensorio.ReadNPZ(filepath.Join(bundled, "samples", "mnist_calib.npz"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := compiler.CompileFile(filepath.Join(bundled, "models", "mlp.onnx"),
		compiler.Options{Name: "mlp", Calibration: calib["x"], Margin: compiler.DefaultMargin})
	if err != nil {
		t.Fatal(err)
	}
	spec := res.Spec
	if p := spec.Params; p.Security < 128 || p.Insecure() {
		t.Fatalf("compiled at %s", p)
	}
	keys, err := GenerateKeys(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(&Circuit{Spec: spec, Graph: res.Graph}, keys.Eval)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newParameters(spec.Params)
	if err != nil {
		t.Fatal(err)
	}
	n, ringSlots := 1<<spec.LogSlots, p.MaxSlots()
	if ringSlots/n != 4 || spec.InputCiphertexts() != 1 {
		t.Fatalf("%d copies of %d slots in %d ciphertexts: the test expects 4 in one", ringSlots/n, n, spec.InputCiphertexts())
	}
	test, err := tensorio.ReadNPZ(filepath.Join(bundled, "samples", "mnist_test.npz"))
	if err != nil {
		t.Fatal(err)
	}
	x := test["x"]
	size := ir.NumElements(x.Shape[1:])
	values := make([]complex128, ringSlots)
	mean := &ir.Tensor{Shape: append([]int{1}, x.Shape[1:]...), Data: make([]float64, size)}
	for j := range 4 {
		digit := x.Data[j*size : (j+1)*size]
		laid := digit
		if spec.InputSlots != nil {
			laid = (&ir.Gather{Shape: spec.Input.Shape, Slots: spec.InputSlots}).Apply(digit)
		}
		for s, v := range laid {
			values[j*n+s] = complex(v, 0)
		}
		for i, v := range digit {
			mean.Data[i] += v / 4
		}
	}
	pt := hefloat.NewPlaintext(p, spec.Input.Level)
	pt.LogDimensions = ring.Dimensions{Rows: 0, Cols: p.LogMaxSlots()}
	ecd := hefloat.NewEncoder(p)
	if err := ecd.Encode(values, pt); err != nil {
		t.Fatal(err)
	}
	ct, err := rlwe.NewEncryptor(p, keys.Secret.sk).EncryptNew(pt)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := srv.Run(context.Background(), &Ciphertext{kind: KindInputCt, id: keys.Secret.KeySet(), cts: []*rlwe.Ciphertext{ct}})
	if err != nil {
		t.Fatal(err)
	}
	dec := rlwe.NewDecryptor(p, keys.Secret.sk).DecryptNew(out.cts[0])
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
