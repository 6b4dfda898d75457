package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"testing"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/utils/bignum"
)

// batchFloodPlan is a dense → square → dense batch circuit through the
// batch passes, calibrated on random samples, planned at insecure test
// parameters of scale 2^logScale in a ring of 2^11, with its flood of λ
// bits (none for 0) and the rounding its output step affords.
func batchFloodPlan(t *testing.T, logScale, bits int) *plan.Plan {
	t.Helper()
	b, x := newGraph(21, 24)
	g := b.output(b.dense(b.poly(b.dense(x, 12, 0.8), ir.Square()), 6, 1))
	var samples []*ir.Tensor
	for k := range uint64(8) {
		samples = append(samples, &ir.Tensor{Shape: []int{24}, Data: randomInputs(600+k, 24, 1)})
	}
	if err := passes.Run(g, passes.BatchPipeline, &passes.Config{Ranges: &passes.RangeSource{Samples: samples, Margin: 0.1}}); err != nil {
		t.Fatal(err)
	}
	pl, err := plan.BuildBatch("batch", g, params.InsecureTestSet(11, g.Depth, logScale), 0)
	if err != nil {
		t.Fatal(err)
	}
	width := g.Outputs()[0].Range.Width()
	if most, err := pl.MaxFloodBits(width); err != nil || most < bits {
		t.Fatalf("the test parameters afford %d bits of flooding, not %d: %v", most, bits, err)
	}
	if err := pl.SetCircuitPrivacy(bits); err != nil {
		t.Fatal(err)
	}
	pl.Spec.OutputRounded = plan.OutputStepUsable(pl.Spec.OutputStep, width)
	if !pl.Spec.OutputRounded {
		t.Fatalf("step %g for an output range of width %g", pl.Spec.OutputStep, width)
	}
	return pl
}

// batchFloodRun is one batch of images through a server of pl's circuit:
// the result's file and its raw and rounded decryptions, and the plaintext
// circuit's outputs, image after image.
type batchFloodRun struct {
	result          *Ciphertext
	file            []byte
	raw, got, plain []float64
}

// batchFloodRuns evaluates one encryption (under the public key) of
// images random inputs twice on a server of pl's circuit with fresh keys,
// after checking that a flooding server refuses to start without the
// public key.
func batchFloodRuns(t *testing.T, pl *plan.Plan, images int) [2]batchFloodRun {
	t.Helper()
	spec, g := pl.Spec, pl.Graph
	keys, err := GenerateKeys(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &Circuit{Spec: spec, Graph: g}
	if spec.CircuitPrivacyBits > 0 {
		if _, err := NewServer(c, keys.Eval); !errors.Is(err, ErrNoPublicKey) {
			t.Fatalf("a flooding batch server without the public key: %v, want ErrNoPublicKey", err)
		}
		if err := keys.Eval.WithPublicKey(keys.Public); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := NewServer(c, keys.Eval)
	if err != nil {
		t.Fatal(err)
	}
	srv.Workers = 2
	size := ir.NumElements(spec.Input.Shape)
	x := &ir.Tensor{Shape: append([]int{images}, batchInputShape(spec.Input)...), Data: randomInputs(31, images*size, 1)}
	ct, err := Encrypt(spec, keys.Public, x)
	if err != nil {
		t.Fatal(err)
	}
	outputs := ir.NumElements(spec.Output.Shape)
	var plain []float64
	for i := range images {
		want, err := ir.Interpret(g, map[string]*ir.Tensor{spec.Input.Name: {Shape: spec.Input.Shape, Data: x.Data[i*size : (i+1)*size]}})
		if err != nil {
			t.Fatal(err)
		}
		plain = append(plain, want[spec.Output.Name].Data...)
	}
	var runs [2]batchFloodRun
	for k := range runs {
		out, raw, got := runDecrypted(t, srv, spec, keys.Secret, ct)
		r := &runs[k]
		r.result = out
		var err error
		if r.file, err = EncodeCiphertext(spec, out); err != nil {
			t.Fatal(err)
		}
		r.raw, r.got, r.plain = raw.Data[:images*outputs], got.Data[:images*outputs], plain
	}
	return runs
}

// rmsDiff is the root mean square of a − b.
func rmsDiff(a, b []float64) float64 {
	var sq float64
	for i := range a {
		sq += (a[i] - b[i]) * (a[i] - b[i])
	}
	return math.Sqrt(sq / float64(len(a)))
}

// TestBatchFloodHidesTheServersNoise is the circuit-privacy attack on a
// batch circuit: a client that sends one batch twice compares the results.
// Flooded, every output ciphertext of the two differs in every
// coefficient, their raw decryptions differ by about the flood (2^λ times
// the server's own error, far above the unflooded circuit's error), and
// every image decrypts, rounded, to its plaintext output within the
// output step.
//
// It runs at λ = 8 on one prime per level (45 bits: the kernels' 128-bit
// path) and at λ = 40 on two primes per level (scale 2^70, primes of 35
// bits: the kernels' split path), as a flooded CryptoNets compiles.
func TestBatchFloodHidesTheServersNoise(t *testing.T) {
	const images = 64
	for _, tc := range []struct{ logScale, bits int }{{45, 8}, {70, 40}} {
		t.Run(fmt.Sprintf("scale 2^%d, λ = %d", tc.logScale, tc.bits), func(t *testing.T) {
			pl := batchFloodPlan(t, tc.logScale, tc.bits)
			spec := pl.Spec
			if two := tc.logScale > params.MaxPrimeLogScale; two != (spec.Params.PrimesPerLevel() == 2) {
				t.Fatalf("%s: %d primes per level", spec.Params, spec.Params.PrimesPerLevel())
			}
			runs := batchFloodRuns(t, pl, images)
			step := spec.OutputStep
			for k, r := range runs {
				for i, v := range r.got {
					if d := math.Abs(v - r.plain[i]); !(d <= step) {
						t.Fatalf("run %d: output %d decrypts rounded to %g, the plaintext circuit gives %g (step %g)", k+1, i, v, r.plain[i], step)
					}
				}
			}
			if bytes.Equal(runs[0].file, runs[1].file) {
				t.Fatal("two flooded runs on one input give the same result")
			}
			a, b := runs[0].result, runs[1].result
			for c := range a.cts {
				for i := range a.cts[c].Value {
					for l, limb := range a.cts[c].Value[i].Coeffs {
						for j, v := range limb {
							if v == b.cts[c].Value[i].Coeffs[l][j] {
								t.Fatalf("the two results agree in ciphertext %d, polynomial %d, prime %d, coefficient %d", c, i, l, j)
							}
						}
					}
				}
			}
			// As in TestFloodHidesTheServersNoise: the raw outputs of two
			// runs differ by √2 times the flood's σ in a slot, which sums
			// N coefficients uniform in ±W; within a factor 16 but with a
			// probability below 2^-20.
			n := float64(int(1) << spec.Params.LogN)
			expected := math.Sqrt2 * math.Sqrt(n/3) * spec.FloodWidth / math.Exp2(float64(spec.Params.LogScale))
			rms := rmsDiff(runs[0].raw, runs[1].raw)
			// Unflooded, the same circuit's raw error: the flood is 2^λ
			// times the bound of the server's share of it. The measured
			// error sits below its bound, and at scale 2^70 at float64's
			// precision of the outputs: 2^(λ/2) leaves room for both.
			offPlan := batchFloodPlan(t, tc.logScale, 0)
			off := batchFloodRuns(t, offPlan, images)[0]
			unflooded := rmsDiff(off.raw, off.plain)
			// The flood is sized from the plan's bound of the server's
			// error: the batch layout's must hold, where float64 resolves
			// the error (one prime per level).
			nz, err := offPlan.Noise(plan.FreshSigma(offPlan.Spec.Params, true))
			if err != nil {
				t.Fatal(err)
			}
			var worst float64
			for i, v := range off.raw {
				worst = max(worst, math.Abs(v-off.plain[i]))
			}
			t.Logf("unflooded: largest raw error %.3g, the plan's bound %.3g", worst, nz.Bound(offPlan.Graph))
			if tc.logScale <= params.MaxPrimeLogScale && worst > nz.Bound(offPlan.Graph) {
				t.Errorf("unflooded, a raw error of %.3g exceeds the plan's bound %.3g", worst, nz.Bound(offPlan.Graph))
			}
			flooded := rmsDiff(runs[0].raw, runs[0].plain)
			t.Logf("%s: step 2^%.0f, flood width 2^%.1f; RMS of the raw difference of two runs %.3g, expected %.3g; raw error %.3g flooded, %.3g not",
				spec.Params, math.Log2(step), math.Log2(spec.FloodWidth), rms, expected, flooded, unflooded)
			if rms < expected/16 || rms > expected*16 {
				t.Errorf("the raw decryptions of two runs differ by %.3g (RMS), the flood's width makes it %.3g", rms, expected)
			}
			if flooded < math.Exp2(float64(tc.bits)/2)*unflooded {
				t.Errorf("flooded, the raw error is %.3g, unflooded %.3g: not 2^%d times as large", flooded, unflooded, tc.bits/2)
			}
		})
	}
}

// TestBatchNoiseBoundHoldsOnTwoPrimes: on two primes per level, where
// float64 cannot resolve it, the error of a batch circuit's outputs
// (encrypted and decoded in 128-bit arithmetic, against the circuit in
// 256-bit floats) stays within the plan's bound, which the flood is sized
// from, and the bound within 2^6 of it.
func TestBatchNoiseBoundHoldsOnTwoPrimes(t *testing.T) {
	const images = 8
	pl := batchFloodPlan(t, 70, 0)
	spec, g := pl.Spec, pl.Graph
	keys, err := GenerateKeys(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(&Circuit{Spec: spec, Graph: g}, keys.Eval)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newParameters(spec.Params)
	if err != nil {
		t.Fatal(err)
	}
	ecd := hefloat.NewEncoder(p, 128)
	size := ir.NumElements(spec.Input.Shape)
	x := randomInputs(41, images*size, 1)
	in := &Ciphertext{kind: KindInputCt, id: keys.Secret.id}
	for k := range size {
		slots := make([]float64, 1<<spec.LogSlots)
		for i := range images {
			slots[i] = x[i*size+k]
		}
		pt := hefloat.NewPlaintext(p, spec.Params.RingLevel(spec.Input.Level))
		if err := ecd.Encode(slots, pt); err != nil {
			t.Fatal(err)
		}
		ct, err := rlwe.NewEncryptor(p, keys.Secret.sk).EncryptNew(pt)
		if err != nil {
			t.Fatal(err)
		}
		in.cts = append(in.cts, ct)
	}
	out, _, err := srv.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	got := make([][]*bignum.Complex, len(out.cts))
	for k, ct := range out.cts {
		got[k] = make([]*bignum.Complex, p.MaxSlots())
		for i := range got[k] {
			got[k][i] = bignum.NewComplex().SetPrec(128)
		}
		if err := ecd.Decode(rlwe.NewDecryptor(p, keys.Secret.sk).DecryptNew(ct), got[k]); err != nil {
			t.Fatal(err)
		}
	}
	var worst float64
	for i := range images {
		want := interpretBig(t, g, &ir.Tensor{Shape: spec.Input.Shape, Data: x[i*size : (i+1)*size]})
		for k, v := range want {
			d, _ := new(big.Float).Sub(v, got[k][i][0]).Float64()
			worst = max(worst, math.Abs(d))
		}
	}
	nz, err := pl.Noise(plan.FreshSigma(spec.Params, false))
	if err != nil {
		t.Fatal(err)
	}
	bound := nz.Bound(g)
	t.Logf("%s: measured %.3g, bound %.3g (2^%.1f above)", spec.Params, worst, bound, math.Log2(bound/worst))
	if worst > bound || bound > 64*worst {
		t.Errorf("measured error %.3g, the plan's bound %.3g", worst, bound)
	}
}
