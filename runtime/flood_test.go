package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	mrand "math/rand/v2"
	"slices"
	"testing"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/plan"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
)

// floodCircuit is a small circuit through the passes, with its
// calibration samples, planned at insecure test parameters of scale
// 2^logScale.
func floodCircuit(t *testing.T, logScale int) (*plan.Plan, []*ir.Tensor) {
	t.Helper()
	g, samples := squareNet(t, 11, 500)
	pl, err := plan.Build("test", g, params.InsecureTestSet(11, g.Depth, logScale))
	if err != nil {
		t.Fatal(err)
	}
	return pl, samples
}

// TestFloodHidesTheServersNoise is the circuit-privacy attack: a client
// that sends one input twice compares the results. Flooded, the two
// results differ in every coefficient, their raw decryptions differ by
// about the flood (2^λ times the server's own error), and both decrypt,
// rounded, to the exact output. The last bias is moved so that every exact
// output is a multiple of the step, so an output rounds to itself whenever
// its error is within the flooded bound (TestDecryptRoundingHidesTheNoise).
//
// It runs at λ = 12 on one prime per level, at λ = 40 on two, whose scale
// 2^70 affords it, and at λ = 60 on scale 2^100, whose flood is wider than
// a word.
func TestFloodHidesTheServersNoise(t *testing.T) {
	for _, tc := range []struct{ logScale, bits int }{{45, 12}, {70, 40}, {100, 60}} {
		t.Run(fmt.Sprintf("scale 2^%d, λ = %d", tc.logScale, tc.bits), func(t *testing.T) { floodHides(t, tc.logScale, tc.bits) })
	}
}

func floodHides(t *testing.T, logScale, bits int) {
	pl, samples := floodCircuit(t, logScale)
	g := pl.Graph
	width := g.Outputs()[0].Range.Width()
	most, err := pl.MaxFloodBits(width)
	if err != nil {
		t.Fatal(err)
	}
	if most < bits {
		t.Fatalf("the test parameters afford %d bits of flooding, not %d", most, bits)
	}
	if err := pl.SetCircuitPrivacy(bits); err != nil {
		t.Fatal(err)
	}
	spec := pl.Spec
	spec.OutputRounded = plan.OutputStepUsable(spec.OutputStep, width)
	if !spec.OutputRounded {
		t.Fatalf("step %g for an output range of width %g after a flood the plan affords", spec.OutputStep, width)
	}
	step := spec.OutputStep
	last := g.Outputs()[0].Inputs[0]
	in := samples[0]
	want := outputsOnGrid(t, g, last, in, step)
	keys, err := GenerateKeys(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &Circuit{Spec: spec, Graph: g}
	if _, err := NewServer(c, keys.Eval); !errors.Is(err, ErrNoPublicKey) {
		t.Fatalf("a flooding server without the public key: %v, want ErrNoPublicKey", err)
	}
	other, err := GenerateKeys(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Eval.WithPublicKey(other.Public); !errors.Is(err, ErrKeySet) {
		t.Fatalf("the public key of another key set: %v, want ErrKeySet", err)
	}
	if err := keys.Eval.WithPublicKey(keys.Public); err != nil {
		t.Fatal(err)
	}
	narrow := *spec
	narrow.FloodWidth = math.Floor(narrow.FloodWidth / 2)
	if _, err := NewServer(&Circuit{Spec: &narrow, Graph: g}, keys.Eval); !errors.Is(err, plan.ErrMismatch) {
		t.Fatalf("a spec whose flood is narrower than its plan's: %v, want plan.ErrMismatch", err)
	}
	srv, err := NewServer(c, keys.Eval)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := Encrypt(spec, keys.Public, in)
	if err != nil {
		t.Fatal(err)
	}
	var results [2]*rlwe.Ciphertext
	var raw [2][]float64
	for k := range results {
		out, _, err := srv.Run(context.Background(), ct)
		if err != nil {
			t.Fatal(err)
		}
		results[k] = out.cts[0]
		r, err := DecryptRaw(spec, keys.Secret, out)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decrypt(spec, keys.Secret, out)
		if err != nil {
			t.Fatal(err)
		}
		raw[k] = r.Data
		if !slices.Equal(d.Data, want) {
			t.Fatalf("run %d decrypts rounded to %v, the exact outputs are %v (step %g)", k+1, d.Data, want, step)
		}
	}
	for i := range results[0].Value {
		for l, limb := range results[0].Value[i].Coeffs {
			for j, v := range limb {
				if v == results[1].Value[i].Coeffs[l][j] {
					t.Fatalf("the two results agree in polynomial %d, prime %d, coefficient %d", i, l, j)
				}
			}
		}
	}
	// The raw outputs differ by √2 times the flood's σ in the slots: a
	// slot of 2^LogSlots sums 2·2^LogSlots coefficients (Lattigo decodes a
	// sparse layout from every gap-th coefficient), each uniform in ±W,
	// of variance W²/3, at the output's scale. The RMS of the differences
	// is within a factor 16 of it but with a probability below 2^-20; with
	// no flood it is the server's error, 2^-λ smaller.
	slots := float64(int(1) << spec.LogSlots)
	expected := math.Sqrt2 * math.Sqrt(2*slots/3) * spec.FloodWidth / results[0].Scale.Float64()
	var sq float64
	for i := range raw[0] {
		sq += (raw[0][i] - raw[1][i]) * (raw[0][i] - raw[1][i])
	}
	rms := math.Sqrt(sq / float64(len(raw[0])))
	t.Logf("λ = %d (at most %d), step 2^%.0f, flood width 2^%.1f, RMS of the raw difference %.3g, expected %.3g", bits, most, math.Log2(step), math.Log2(spec.FloodWidth), rms, expected)
	if rms < expected/16 || rms > expected*16 {
		t.Errorf("the raw decryptions of two runs differ by %.3g (RMS), the flood's width makes it %.3g", rms, expected)
	}
}

// TestNoFloodIsDeterministic: without circuit privacy, two runs on one
// input ciphertext give byte-identical results, as they always did.
func TestNoFloodIsDeterministic(t *testing.T) {
	pl, samples := floodCircuit(t, 45)
	keys, err := GenerateKeys(pl.Spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(&Circuit{Spec: pl.Spec, Graph: pl.Graph}, keys.Eval)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := Encrypt(pl.Spec, keys.Public, samples[0])
	if err != nil {
		t.Fatal(err)
	}
	var files [2][]byte
	for k := range files {
		out, _, err := srv.Run(context.Background(), ct)
		if err != nil {
			t.Fatal(err)
		}
		if files[k], err = EncodeCiphertext(pl.Spec, out); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Error("two unflooded runs on one input give different results")
	}
}

// TestSampleFloodIsUniform: every integer of [-W, W] comes up about as
// often as the others, and nothing outside it (a shifted or narrowed
// flood would leave a deterministic offset or part of the server's error
// unhidden), for a width of one word and for one of two, where the
// coefficients' reduction per prime is checked against big integers.
func TestSampleFloodIsUniform(t *testing.T) {
	const width, n = 3, 1 << 16
	values := make([]uint128, n)
	w := floodWidth(width)
	sampleFlood(mrand.New(mrand.NewPCG(1, 2)), w.double(), values)
	count := map[uint128]int{}
	for _, v := range values {
		count[v]++
	}
	// Each count is binomial(n, 1/7): 6σ is about 530.
	for v := range uint64(2*width + 1) {
		if d := math.Abs(float64(count[uint128{0, v}]) - n/7.0); d > 6*math.Sqrt(n/7.0*6/7) {
			t.Errorf("%d came up %d times in %d, expected about %d", int(v)-width, count[uint128{0, v}], n, n/7)
		}
		delete(count, uint128{0, v})
	}
	if len(count) > 0 {
		t.Errorf("values outside [-%d, %d]: %v", width, width, count)
	}

	// W = 2^68 + 2^20: [0, 2W] spans 2^69 + 2^21 + 1 values, drawn as 70
	// bits and rejected above 2W. Its 2^5 buckets of 2^64 values each get
	// 1/32 of the samples, and the 2^21 + 1 values above them almost none.
	wide := floodWidth(0x1p68 + 0x1p20)
	if wide != (uint128{16, 1 << 20}) {
		t.Fatalf("2^68 + 2^20 in words: %+v", wide)
	}
	sampleFlood(mrand.New(mrand.NewPCG(3, 4)), wide.double(), values)
	buckets := make([]int, 33)
	bound := new(big.Int).Lsh(big.NewInt(1), 69)
	bound.Add(bound, big.NewInt(1<<21))
	shift := new(big.Int).Lsh(big.NewInt(1), 68)
	shift.Add(shift, big.NewInt(1<<20))
	for _, v := range values {
		buckets[v.hi]++
		x := new(big.Int).Lsh(new(big.Int).SetUint64(v.hi), 64)
		x.Add(x, new(big.Int).SetUint64(v.lo))
		if x.Cmp(bound) > 0 {
			t.Fatalf("%v drawn above the bound %v", x, bound)
		}
		// The runtime's residue of v − W for a 61-bit prime, against big integers.
		const q = 0x1fffffffffe00001
		want := new(big.Int).Mod(new(big.Int).Sub(x, shift), new(big.Int).SetUint64(q)).Uint64()
		if got := (v.mod(q) + q - wide.mod(q)) % q; got != want {
			t.Fatalf("%v − W mod q: %d, want %d", x, got, want)
		}
	}
	for b, c := range buckets[:32] {
		if d := math.Abs(float64(c) - n/32.0); d > 6*math.Sqrt(n/32.0*31/32) {
			t.Errorf("bucket %d of 2^64 values came up %d times in %d, expected about %d", b, c, n, n/32)
		}
	}
	if buckets[32] > 1 {
		t.Errorf("the 2^21 + 1 values from 2^69 came up %d times in %d", buckets[32], n)
	}
}
