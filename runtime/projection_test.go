package runtime

import (
	"context"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/plan"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// encryptSlots encrypts values in all N/2 complex slots of the ring, as a
// hostile client may, and passes the ciphertext through the file format
// as the server would receive it.
func encryptSlots(t *testing.T, spec *plan.Spec, keys *Keys, values []complex128) *Ciphertext {
	t.Helper()
	p, err := newParameters(spec.Params)
	if err != nil {
		t.Fatal(err)
	}
	pt := hefloat.NewPlaintext(p, spec.Input.Level)
	pt.LogDimensions = ring.Dimensions{Rows: 0, Cols: p.LogMaxSlots()}
	if err := hefloat.NewEncoder(p).Encode(values, pt); err != nil {
		t.Fatal(err)
	}
	ct, err := rlwe.NewEncryptor(p, keys.Secret.sk).EncryptNew(pt)
	if err != nil {
		t.Fatal(err)
	}
	data, err := EncodeCiphertext(spec, &Ciphertext{kind: KindInputCt, id: keys.Secret.KeySet(), cts: []*rlwe.Ciphertext{ct}})
	if err != nil {
		t.Fatal(err)
	}
	in, err := DecodeCiphertext(spec, KindInputCt, keys.Eval.KeySet(), data)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// decryptSlots decrypts all N/2 complex slots of ct.
func decryptSlots(t *testing.T, spec *plan.Spec, sk *SecretKey, ct *Ciphertext) []complex128 {
	t.Helper()
	p, err := newParameters(spec.Params)
	if err != nil {
		t.Fatal(err)
	}
	pt := rlwe.NewDecryptor(p, sk.sk).DecryptNew(ct.cts[0])
	pt.LogDimensions = ring.Dimensions{Rows: 0, Cols: p.LogMaxSlots()}
	out := make([]complex128, p.MaxSlots())
	if err := hefloat.NewEncoder(p).Decode(pt, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOnePredictionPerQuery is the attack: a client encrypts a different
// input in every copy of the slots, another in the imaginary parts, and
// garbage in the slots its layout leaves empty. The server projects the
// input onto the layout, so the client gets one prediction, for the mean
// of its copies, the same in every copy and real, and zero beyond the
// outputs up to CKKS error: nothing else readable.
func TestOnePredictionPerQuery(t *testing.T) {
	const in = 20 // in 32 slots: 12 undefined
	b, x := newGraph(31, in)
	h := b.dense(x, 12, 0.7)
	g := b.output(b.dense(b.poly(h, ir.Square()), 4, 1))
	spec, keys, srv := testServer(t, g, 35)
	if !spec.InputProjected {
		t.Fatal("the spec does not project its input")
	}
	n := 1 << spec.LogSlots
	ringSlots := 1 << spec.Params.LogSlots()
	copies := ringSlots / n
	if copies < 4 {
		t.Fatalf("%d copies of the slots: the test needs several", copies)
	}
	values := make([]complex128, ringSlots)
	mean := make([]float64, in)
	for j := range copies {
		xj := randomInputs(uint64(100+j), n, 1) // garbage beyond the first in
		im := randomInputs(uint64(200+j), n, 1)
		for s := range n {
			values[j*n+s] = complex(xj[s], im[s])
		}
		for s := range in {
			mean[s] += xj[s] / float64(copies)
		}
	}
	out, _, err := srv.Run(context.Background(), encryptSlots(t, spec, keys, values))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ir.Interpret(g, map[string]*ir.Tensor{"x": {Shape: []int{in}, Data: mean}})
	if err != nil {
		t.Fatal(err)
	}
	got := decryptSlots(t, spec, keys.Secret, out)
	const tol = 1e-4
	for s, v := range got {
		// Every copy holds the prediction for the mean, in real parts.
		w := 0.0
		if k := s % n; k < len(want["y"].Data) {
			w = want["y"].Data[k]
		}
		if cmplx.Abs(v-complex(w, 0)) > tol {
			t.Fatalf("slot %d (copy %d) holds %v, the prediction for the mean input has %g there", s, s/n, v, w)
		}
	}
}

// TestProjectionKeepsHonestResults: an honest input whose undefined slots
// a client filled with garbage gives the honest output, also where the
// first map has weights on those slots (a convolution's zero padding in
// a client-side layout).
func TestProjectionKeepsHonestResults(t *testing.T) {
	const in, slots = 20, 32
	b := &graphBuilder{g: &ir.Graph{}, rng: rand.New(rand.NewPCG(33, 34))}
	gather := &ir.Gather{Shape: []int{in}, Parts: 1}
	for s := range slots {
		k := -1 // the last 12 slots, and every fifth one, are padding
		if s < in && s%5 != 4 {
			k = s
		}
		gather.Slots = append(gather.Slots, k)
	}
	x := b.g.Add(&ir.Node{Op: ir.OpInput, Name: "x", Shape: []int{slots}, Gather: gather})
	g := b.output(b.dense(b.poly(b.dense(x, 8, 1), ir.Square()), 3, 1))
	spec, keys, srv := testServer(t, g, 35)
	n, ringSlots := 1<<spec.LogSlots, 1<<spec.Params.LogSlots()
	honest := randomInputs(7, in, 1)
	garbage := randomInputs(8, n, 5)
	values := make([]complex128, ringSlots)
	for s := range values {
		v := garbage[s%n]
		if k := s % n; k < slots && gather.Slots[k] >= 0 {
			v = honest[gather.Slots[k]]
		}
		values[s] = complex(v, 0)
	}
	out, _, err := srv.Run(context.Background(), encryptSlots(t, spec, keys, values))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decrypt(spec, keys.Secret, out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ir.Interpret(g, map[string]*ir.Tensor{"x": {Shape: []int{in}, Data: honest}})
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want["y"].Data {
		if math.Abs(got.Data[i]-w) > 1e-4 {
			t.Fatalf("output %d: %g, the honest input gives %g", i, got.Data[i], w)
		}
	}
}
