package runtime

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
)

// fixture is a small circuit compiled at real 128-bit parameters, with its
// files, made once for the file and fuzz tests.
type fixture struct {
	circuit *Circuit
	keys    *Keys
	spec    []byte
	hec     []byte
	sk, pk  []byte
	evk     []byte
	ct      []byte
	input   *Ciphertext // what ct holds
	plain   []float64   // what input encrypts
}

var (
	fixtureOnce sync.Once
	shared      *fixture
	fixtureErr  error
)

func secureFixture(tb testing.TB) *fixture {
	tb.Helper()
	fixtureOnce.Do(func() { shared, fixtureErr = buildFixture() })
	if fixtureErr != nil {
		tb.Fatal(fixtureErr)
	}
	return shared
}

func buildFixture() (*fixture, error) {
	b, x := newGraph(21, 16)
	h := b.dense(x, 12, 0.5)
	g := b.output(b.dense(b.poly(h, ir.Square()), 4, 1))
	if err := passes.Run(g, passes.Pipeline, nil); err != nil {
		return nil, err
	}
	choice, err := params.Select(params.Requirements{Depth: g.Depth, MinLogScale: 25, MaxLogScale: 40, LogMaxValue: 8, LogSlots: g.LogSlots, Security: 128})
	if err != nil {
		return nil, err
	}
	pl, err := plan.Build("fixture", g, choice.Set)
	if err != nil {
		return nil, err
	}
	spec := pl.Spec
	f := &fixture{circuit: &Circuit{Spec: spec, Graph: g}}
	if f.keys, err = GenerateKeys(spec, nil); err != nil {
		return nil, err
	}
	f.plain = randomInputs(1, 16, 1)
	ct, err := Encrypt(spec, f.keys.Public, &ir.Tensor{Shape: []int{16}, Data: f.plain})
	if err != nil {
		return nil, err
	}
	f.input = ct
	for _, step := range []func() error{
		func() (err error) { f.spec, err = EncodeSpec(spec); return },
		func() (err error) { f.hec, err = EncodeCircuit(f.circuit); return },
		func() (err error) { f.sk, err = EncodeSecretKey(spec, f.keys.Secret); return },
		func() (err error) { f.pk, err = EncodePublicKey(spec, f.keys.Public); return },
		func() (err error) { f.evk, err = EncodeEvalKeys(spec, f.keys.Eval); return },
		func() (err error) { f.ct, err = EncodeCiphertext(spec, ct); return },
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Every file decodes to what was written: the circuit's weights bit for
// bit (by its encoding), the keys and ciphertexts by what they decrypt to,
// and the evaluation from the decoded files to the plaintext result.
func TestFilesRoundTrip(t *testing.T) {
	f := secureFixture(t)
	spec, err := DecodeSpec(f.spec)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Fingerprint() != f.circuit.Spec.Fingerprint() {
		t.Fatal("spec changed in a round trip")
	}
	c, err := DecodeCircuit(f.hec)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ir.Encode(f.circuit.Graph)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ir.Encode(c.Graph); err != nil || !bytes.Equal(got, want) || c.Spec.Fingerprint() != spec.Fingerprint() {
		t.Errorf("circuit changed in a round trip (%v)", err)
	}
	sk, err := DecodeSecretKey(spec, f.sk)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := DecodePublicKey(spec, f.pk)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := DecodeEvalKeys(spec, f.evk)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := DecodeCiphertext(spec, KindInputCt, f.keys.Eval.KeySet(), f.ct)
	if err != nil {
		t.Fatal(err)
	}
	for what, id := range map[string]KeySetID{"secret key": sk.KeySet(), "public key": pk.KeySet(), "evaluation keys": ek.KeySet(), "input": ct.KeySet()} {
		if id != f.keys.Secret.KeySet() {
			t.Errorf("the decoded %s is of key set %s, the keys were %s", what, id, f.keys.Secret.KeySet())
		}
	}

	// The tolerance is CKKS's noise at the fixture's scale, with a wide
	// margin; a wrong key or weight is off by about the values themselves.
	const tol = 1e-7
	if d := slotsDiff(t, spec, f.keys.Secret, ct, f.plain); d > tol {
		t.Errorf("the decoded input decrypts %g away from the input", d)
	}
	if d := slotsDiff(t, spec, sk, f.input, f.plain); d > tol {
		t.Errorf("the decoded secret key decrypts the input %g away from it", d)
	}
	other := randomInputs(3, 16, 1)
	byPK, err := Encrypt(spec, pk, &ir.Tensor{Shape: []int{16}, Data: other})
	if err != nil {
		t.Fatal(err)
	}
	if d := slotsDiff(t, spec, f.keys.Secret, byPK, other); d > tol {
		t.Errorf("what the decoded public key encrypts decrypts %g away from it", d)
	}

	srv, err := NewServer(c, ek)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := srv.Run(context.Background(), ct)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decrypt(spec, sk, out)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := ir.Interpret(f.circuit.Graph, map[string]*ir.Tensor{"x": {Shape: []int{16}, Data: f.plain}})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(got.Data, plain["y"].Data); d > tol {
		t.Errorf("the circuit run from decoded files is %g away from the plaintext result", d)
	}
}

// slotsDiff is the largest distance between the first slots ct decrypts to
// under sk and want.
func slotsDiff(t *testing.T, spec *plan.Spec, sk *SecretKey, ct *Ciphertext, want []float64) float64 {
	t.Helper()
	p, err := newParameters(spec.Params)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float64, 1<<spec.LogSlots)
	if err := hefloat.NewEncoder(p).Decode(rlwe.NewDecryptor(p, sk.sk).DecryptNew(ct.cts[0]), got); err != nil {
		t.Fatal(err)
	}
	return maxAbsDiff(got[:len(want)], want)
}

func maxAbsDiff(a, b []float64) float64 {
	worst := 0.0
	for i := range a {
		worst = max(worst, math.Abs(a[i]-b[i]))
	}
	return worst
}

// The key file holds the seed and the halves b; what the server rebuilds
// must be the keys the client generated, bit for bit, and the file must be
// the size the compile report predicts. The workers that fill the keys in
// run under -race in make test.
func TestEvalKeysFileReadConcurrently(t *testing.T) {
	f := secureFixture(t)
	spec := f.circuit.Spec
	ek, err := DecodeEvalKeys(spec, f.evk)
	if err != nil {
		t.Fatal(err)
	}
	want := f.keys.Eval
	if (ek.relin == nil) != (want.relin == nil) || ek.relin != nil && !ek.relin.Equal(want.relin) {
		t.Error("the relinearization key changed in a round trip")
	}
	if len(ek.galois) != len(want.galois) || len(want.galois) == 0 {
		t.Fatalf("%d Galois keys read, %d written", len(ek.galois), len(want.galois))
	}
	for i := range ek.galois {
		if !ek.galois[i].Equal(want.galois[i]) {
			t.Errorf("Galois key %d changed in a round trip", i)
		}
	}
	sizes, err := PredictSizes(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.evk) != sizes.EvalKeys || sizes.EvalKeysMemory < 2*sizes.EvalKeys {
		t.Errorf("key file %d bytes, predicted %d, %d in memory", len(f.evk), sizes.EvalKeys, sizes.EvalKeysMemory)
	}

	// A residue that is not below its modulus is refused, not evaluated.
	bad := bytes.Clone(f.evk)
	copy(bad[HeaderSize+1+seedSize:], bytes.Repeat([]byte{0xff}, 8))
	if _, err := DecodeEvalKeys(spec, bad); !errors.Is(err, ErrFormat) {
		t.Errorf("an unreduced residue: %v", err)
	}
	// Another seed regenerates other halves a: the keys no longer match.
	other := bytes.Clone(f.evk)
	other[HeaderSize+1] ^= 1
	ek, err = DecodeEvalKeys(spec, other)
	if err != nil {
		t.Fatal(err)
	}
	if ek.galois[0].Equal(want.galois[0]) {
		t.Error("the seed does not determine the halves a")
	}
}

// A ciphertext file packs each residue to its prime's bit length; decoding
// gives back the ciphertext bit for bit, and refuses an unreduced residue.
func TestCiphertextFile(t *testing.T) {
	f := secureFixture(t)
	spec := f.circuit.Spec
	cts, err := DecodeCiphertext(spec, KindInputCt, f.keys.Eval.KeySet(), f.ct)
	if err != nil {
		t.Fatal(err)
	}
	sizes, err := PredictSizes(spec)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newParameters(spec.Params)
	if err != nil {
		t.Fatal(err)
	}
	lattigo := HeaderSize + 1 + hefloat.NewCiphertext(p, 1, spec.Input.Level).BinarySize()
	if len(f.ct) != sizes.InputCt || len(f.ct) >= lattigo {
		t.Errorf("input file %d bytes, predicted %d; Lattigo's encoding takes %d", len(f.ct), sizes.InputCt, lattigo)
	}
	if len(cts.cts) != 1 || !cts.cts[0].Equal(f.input.cts[0]) {
		t.Fatal("the input ciphertext changed in a round trip")
	}
	bad := bytes.Clone(f.ct)
	copy(bad[HeaderSize+2+8:], bytes.Repeat([]byte{0xff}, 8)) // count, form, scale, then c0
	if _, err := DecodeCiphertext(spec, KindInputCt, f.keys.Eval.KeySet(), bad); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "not below its modulus") {
		t.Errorf("an unreduced residue: %v", err)
	}
	if _, err := DecodeCiphertext(spec, KindInputCt, f.keys.Eval.KeySet(), f.ct[:len(f.ct)-1]); !errors.Is(err, ErrFormat) {
		t.Errorf("a truncated ciphertext: %v", err)
	}
}

// Under the secret key the input file carries a seed instead of each c1:
// what the server rebuilds decrypts to the input, and the file is the
// predicted size, about half the public-key one.
func TestSeededInput(t *testing.T) {
	f := secureFixture(t)
	spec := f.circuit.Spec
	x := randomInputs(8, 16, 1)
	data, err := EncryptFile(spec, f.keys.Secret, &ir.Tensor{Shape: []int{16}, Data: x})
	if err != nil {
		t.Fatal(err)
	}
	sizes, err := PredictSizes(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != sizes.InputCtSeeded || 5*len(data) > 3*sizes.InputCt {
		t.Errorf("seeded input %d bytes, predicted %d; %d under the public key", len(data), sizes.InputCtSeeded, sizes.InputCt)
	}
	decrypts := func(data []byte) float64 {
		cts, err := DecodeCiphertext(spec, KindInputCt, f.keys.Eval.KeySet(), data)
		if err != nil {
			t.Fatal(err)
		}
		p, err := newParameters(spec.Params)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float64, 1<<spec.LogSlots)
		if err := hefloat.NewEncoder(p).Decode(rlwe.NewDecryptor(p, f.keys.Secret.sk).DecryptNew(cts.cts[0]), got); err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for i, v := range x {
			worst = max(worst, math.Abs(got[i]-v))
		}
		return worst
	}
	if worst := decrypts(data); worst > 1e-6 {
		t.Fatalf("the rebuilt input decrypts %g away from the input", worst)
	}
	data[HeaderSize+2] ^= 1 // another seed: another c1
	if worst := decrypts(data); worst < 1 {
		t.Fatalf("a changed seed still decrypts to the input (error %g)", worst)
	}
}

func TestInsecureParametersNeverReachFiles(t *testing.T) {
	b, x := newGraph(3, 4)
	g := b.output(b.dense(x, 2, 1))
	if err := passes.Run(g, passes.Pipeline, nil); err != nil {
		t.Fatal(err)
	}
	spec := planSpec(t, "insecure", g, params.InsecureTestSet(10, g.Depth, 30))
	data, err := EncodeSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeSpec(data); !errors.Is(err, params.ErrInsecure) {
		t.Fatalf("a spec with insecure parameters decoded: %v", err)
	}
}

// Each decoder of untrusted bytes is fuzzed from a valid file: whatever the
// bytes, the result is a value or an error, never a panic or a hang.

func FuzzDecodeSpec(f *testing.F) {
	fx := secureFixture(f)
	f.Add(fx.spec)
	f.Add(fx.spec[:HeaderSize])
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = DecodeSpec(b) })
}

func FuzzDecodeCircuit(f *testing.F) {
	fx := secureFixture(f)
	f.Add(fx.hec)
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = DecodeCircuit(b) })
}

func FuzzDecodeCiphertext(f *testing.F) {
	fx := secureFixture(f)
	f.Add(fx.ct)
	f.Add(fx.ct[:100])
	seeded, err := EncryptFile(fx.circuit.Spec, fx.keys.Secret, &ir.Tensor{Shape: []int{16}, Data: randomInputs(2, 16, 1)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seeded)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeCiphertext(fx.circuit.Spec, KindInputCt, fx.keys.Eval.KeySet(), b)
	})
}

func FuzzDecodeKeys(f *testing.F) {
	fx := secureFixture(f)
	f.Add(fx.sk)
	f.Add(fx.pk)
	f.Add(fx.evk)
	f.Fuzz(func(t *testing.T, b []byte) {
		spec := fx.circuit.Spec
		_, _ = DecodeSecretKey(spec, b)
		_, _ = DecodePublicKey(spec, b)
		_, _ = DecodeEvalKeys(spec, b)
	})
}

func TestSpecRefusesBadInputLayout(t *testing.T) {
	f := secureFixture(t)
	size := ir.NumElements(f.circuit.Spec.Input.Shape)
	cases := map[string][]int{
		"element beyond the input": {0, 1, size},
		"below -1":                 {0, -2},
		"more slots than the ring": make([]int, 1<<f.circuit.Spec.LogSlots+1),
	}
	for name, slots := range cases {
		t.Run(name, func(t *testing.T) {
			s := *f.circuit.Spec
			s.InputSlots = slots
			if err := s.Validate(); !errors.Is(err, plan.ErrSpec) {
				t.Fatalf("Validate = %v, want plan.ErrSpec", err)
			}
		})
	}
}
