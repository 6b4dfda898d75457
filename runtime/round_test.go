package runtime

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
)

// TestDecryptRoundingHidesTheNoise: two encryptions of one input carry
// different noise, which the raw decryptions show; rounded, both decrypt
// to the same values. The last bias is moved so that every exact output is
// a multiple of the spec's step: an output then rounds to itself whenever
// its error is within the noise bound, which is half the step, so the test
// fails only if the bound fails (a Gaussian tail of 2^-49 per value).
func TestDecryptRoundingHidesTheNoise(t *testing.T) {
	g, samples := squareNet(t, 7, 300)
	spec := planSpec(t, "test", g, params.InsecureTestSet(11, g.Depth, 35))
	spec.OutputRounded = true
	step := spec.OutputStep
	last := g.Outputs()[0].Inputs[0]
	if last.Op != ir.OpAffine || last.Linear.Bias == nil {
		t.Fatalf("the output comes from %s, not an affine map with a bias", last.Op)
	}
	in := samples[0]
	want := outputsOnGrid(t, g, last, in, step)
	keys, err := GenerateKeys(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(&Circuit{Spec: spec, Graph: g}, keys.Eval)
	if err != nil {
		t.Fatal(err)
	}
	var raw, rounded [2][]float64
	for k := range 2 {
		ct, err := Encrypt(spec, keys.Public, in)
		if err != nil {
			t.Fatal(err)
		}
		_, r, d := runDecrypted(t, srv, spec, keys.Secret, ct)
		raw[k], rounded[k] = r.Data, d.Data
	}
	t.Logf("step 2^%.0f; raw %v and %v, rounded %v", math.Log2(step), raw[0], raw[1], rounded[0])
	if slices.Equal(raw[0], raw[1]) {
		t.Fatal("two encryptions decrypt raw to the same values: no noise to hide")
	}
	for k := range 2 {
		if !slices.Equal(rounded[k], want) {
			t.Fatalf("encryption %d decrypts rounded to %v, the exact outputs are %v", k+1, rounded[k], want)
		}
	}
}

// outputsOnGrid moves the bias of last, the affine map g's output reads,
// so that every exact output of g at in is a multiple of step, and
// returns those outputs: rounding then has nothing to round but noise.
func outputsOnGrid(t *testing.T, g *ir.Graph, last *ir.Node, in *ir.Tensor, step float64) []float64 {
	t.Helper()
	plain, err := ir.Interpret(g, map[string]*ir.Tensor{"x": in})
	if err != nil {
		t.Fatal(err)
	}
	want := plain["y"].Data
	for i, v := range want {
		on := math.Round(v/step) * step
		last.Linear.Bias[i] += on - v
		want[i] = on
	}
	return want
}

// squareNet is a dense → square → dense circuit of seed graphSeed through
// the passes, calibrated on 8 random samples from sampleSeed on, which it
// returns too.
func squareNet(t *testing.T, graphSeed, sampleSeed uint64) (*ir.Graph, []*ir.Tensor) {
	t.Helper()
	b, x := newGraph(graphSeed, 24)
	g := b.output(b.dense(b.poly(b.dense(x, 12, 0.8), ir.Square()), 6, 1))
	var samples []*ir.Tensor
	for k := range uint64(8) {
		samples = append(samples, &ir.Tensor{Shape: []int{24}, Data: randomInputs(sampleSeed+k, 24, 1)})
	}
	if err := passes.Run(g, passes.Pipeline, &passes.Config{Ranges: &passes.RangeSource{Samples: samples, Margin: 0.1}}); err != nil {
		t.Fatal(err)
	}
	return g, samples
}

// runDecrypted evaluates ct on srv and decrypts the result both raw and
// rounded to the spec's output step.
func runDecrypted(t *testing.T, srv *Server, spec *plan.Spec, sk *SecretKey, ct *Ciphertext) (out *Ciphertext, raw, rounded *ir.Tensor) {
	t.Helper()
	out, _, err := srv.Run(context.Background(), ct)
	if err != nil {
		t.Fatal(err)
	}
	if raw, err = DecryptRaw(spec, sk, out); err != nil {
		t.Fatal(err)
	}
	if rounded, err = Decrypt(spec, sk, out); err != nil {
		t.Fatal(err)
	}
	return out, raw, rounded
}
