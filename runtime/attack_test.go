package runtime

import (
	"context"
	"math"
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
// parameters: a client packs different digits into the copies of the
// input slots the ring holds (four or more; the honest encoding repeats
// one). The server projects the input onto its layout, so the result
// holds one prediction, for the mean of the digits, the same in every copy
// and real: not the predictions the client wanted. It lives here, not with the
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
	// One digit per block the ring holds: four at logN 13, eight at 14.
	copies := ringSlots / n
	if copies < 4 || spec.InputCiphertexts() != 1 {
		t.Fatalf("%d copies of %d slots in %d ciphertexts: the test expects at least 4 in one", copies, n, spec.InputCiphertexts())
	}
	test, err := tensorio.ReadNPZ(filepath.Join(bundled, "samples", "mnist_test.npz"))
	if err != nil {
		t.Fatal(err)
	}
	x := test["x"]
	size := ir.NumElements(x.Shape[1:])
	values := make([]complex128, ringSlots)
	mean := &ir.Tensor{Shape: append([]int{1}, x.Shape[1:]...), Data: make([]float64, size)}
	for j := range copies {
		digit := x.Data[j*size : (j+1)*size]
		laid := digit
		if spec.InputSlots != nil {
			laid = (&ir.Gather{Shape: spec.Input.Shape, Slots: spec.InputSlots}).Apply(digit)
		}
		for s, v := range laid {
			values[j*n+s] = complex(v, 0)
		}
		for i, v := range digit {
			mean.Data[i] += v / float64(copies)
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
	// OutputStep is at least twice the bound of the CKKS noise on an output.
	tol := spec.OutputStep / 2
	for j := range copies {
		for k, w := range want {
			if v := got[j*n+k]; cmplx.Abs(v-complex(w, 0)) > tol {
				t.Fatalf("copy %d, output %d: %v; the prediction for the mean of the %d digits is %g", j, k, v, copies, w)
			}
		}
	}
}

// TestCryptoNetsPaddedInputOneQuery is the attack on the bundled
// CryptoNets at its real parameters: a client encrypts a digit and fills
// every other slot with zeros, or with garbage and imaginary parts, hoping
// for partial sums of the weights, or puts garbage in the digit's
// imaginary parts. Every input value sits in one slot (no client copies
// to disagree), the projection weighs no other slot and keeps real parts
// only, so every such query gets the honest query's output.
func TestCryptoNetsPaddedInputOneQuery(t *testing.T) {
	const bundled = "../testdata"
	calib, err := tensorio.ReadNPZ(filepath.Join(bundled, "samples", "mnist_calib.npz"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := compiler.CompileFile(filepath.Join(bundled, "models", "cryptonets.onnx"),
		compiler.Options{Name: "cryptonets", Calibration: calib["x"], Margin: compiler.DefaultMargin})
	if err != nil {
		t.Fatal(err)
	}
	spec := res.Spec
	if p := spec.Params; p.Security < 128 || p.Insecure() {
		t.Fatalf("compiled at %s", p)
	}
	if !spec.InputProjected || spec.InputCiphertexts() != 1 {
		t.Fatalf("input projected %v, in %d ciphertexts: the test expects a projected input in one", spec.InputProjected, spec.InputCiphertexts())
	}
	seen := map[int]bool{}
	for _, k := range spec.InputSlots {
		if k >= 0 && seen[k] {
			t.Fatalf("input value %d sits in several slots: a client can make its copies disagree", k)
		}
		seen[k] = true
	}
	keys, err := GenerateKeys(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(&Circuit{Spec: spec, Graph: res.Graph}, keys.Eval)
	if err != nil {
		t.Fatal(err)
	}
	test, err := tensorio.ReadNPZ(filepath.Join(bundled, "samples", "mnist_test.npz"))
	if err != nil {
		t.Fatal(err)
	}
	size := ir.NumElements(test["x"].Shape[1:])
	digit := test["x"].Data[:size]
	laid := digit
	if spec.InputSlots != nil {
		laid = (&ir.Gather{Shape: spec.Input.Shape, Slots: spec.InputSlots}).Apply(digit)
	}
	// query encrypts the digit in the real parts of its slots, in every
	// copy of the layout's slots the ring holds (as an honest encryption
	// does), and pad(s) in every other slot and in the digit's imaginary
	// parts.
	query := func(pad func(s int) complex128) []float64 {
		values := make([]complex128, 1<<spec.Params.LogSlots())
		for s := range values {
			values[s] = pad(s)
			if k := s % (1 << spec.LogSlots); k < len(laid) && (spec.InputSlots == nil || spec.InputSlots[k] >= 0) {
				values[s] = complex(laid[k], imag(values[s]))
			}
		}
		out, _, err := srv.Run(context.Background(), encryptSlots(t, spec, keys, values))
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecryptRaw(spec, keys.Secret, out) // the error itself is compared, not its rounding
		if err != nil {
			t.Fatal(err)
		}
		return got.Data
	}
	// CKKS error at these parameters, logits of a few units; garbage in
	// the wrong slots would move them by their size.
	const tol = 1e-2
	honest := query(func(int) complex128 { return 0 })
	plain, err := ir.Interpret(res.Graph, map[string]*ir.Tensor{spec.Input.Name: {Shape: append([]int{1}, test["x"].Shape[1:]...), Data: digit}})
	if err != nil {
		t.Fatal(err)
	}
	for k, w := range plain[spec.Output.Name].Data {
		if math.Abs(honest[k]-w) > tol {
			t.Fatalf("zero-padded: output %d is %g, the honest query gives %g", k, honest[k], w)
		}
	}
	garbage := randomInputs(41, 1<<spec.Params.LogSlots(), 1)
	imaginary := randomInputs(42, 1<<spec.Params.LogSlots(), 1)
	padded := query(func(s int) complex128 { return complex(garbage[s], imaginary[s]) })
	for k, w := range honest {
		if math.Abs(padded[k]-w) > tol {
			t.Fatalf("garbage-padded: output %d is %g, the honest query gives %g", k, padded[k], w)
		}
	}
}
