package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
	"github.com/hecc-dev/hecc/compiler/tensorio"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
)

// hecc runs the CLI in-process.
func hecc(t *testing.T, args ...string) error {
	t.Helper()
	app := newApp()
	return app.Run(interspersed(app, append([]string{"hecc"}, args...)))
}

func mustHecc(t *testing.T, args ...string) {
	t.Helper()
	if err := hecc(t, args...); err != nil {
		t.Fatalf("hecc %s: %v", strings.Join(args, " "), err)
	}
}

func writeNPY(t *testing.T, path string, x *ir.Tensor) {
	t.Helper()
	var b bytes.Buffer
	if err := tensorio.WriteNPY(&b, x, "<f8"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readNPY(t *testing.T, path string) *ir.Tensor {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, err := tensorio.ReadNPY(f)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func sampleInput(seed uint32) *ir.Tensor {
	w := onnxtest.Weights(seed, 64, 1)
	x := &ir.Tensor{Shape: []int{1, 1, 8, 8}, Data: make([]float64, 64)}
	for i, v := range w {
		x.Data[i] = float64(v)
	}
	return x
}

// setup compiles the tiny model as hecc compile does by default, flooding
// its results, and makes a key set in dir.
func setup(t *testing.T, dir string, seed uint32) {
	t.Helper()
	model := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(model, onnxtest.TinyCryptoNets(seed), 0o644); err != nil {
		t.Fatal(err)
	}
	mustHecc(t, "compile", model, "-o", filepath.Join(dir, "model.hec"), "--input-range", "-1,1")
	mustHecc(t, "keygen", "--spec", filepath.Join(dir, "model.spec"), "-o", filepath.Join(dir, "keys"))
}

// TestTwoPartyFlow checks what the scripts (testdata/script/twoparty.txtar)
// cannot: the decrypted output against the plaintext model, the stats file
// and the files' permissions.
func TestTwoPartyFlow(t *testing.T) {
	dir := t.TempDir()
	setup(t, dir, 1)
	x := sampleInput(7)
	writeNPY(t, filepath.Join(dir, "x.npy"), x)
	spec, keys := filepath.Join(dir, "model.spec"), filepath.Join(dir, "keys")
	if s, err := loadSpec(spec); err != nil || s.CircuitPrivacyBits != plan.DefaultCircuitPrivacyBits {
		t.Fatalf("compiled without flags: %v, want circuit privacy at %d bits", err, plan.DefaultCircuitPrivacyBits)
	}
	mustHecc(t, "encrypt", "--spec", spec, "--key", filepath.Join(keys, "public.key"), filepath.Join(dir, "x.npy"), "-o", filepath.Join(dir, "x.ct"))
	mustHecc(t, "run", filepath.Join(dir, "model.hec"), "--keys", filepath.Join(keys, "eval.keys"), "--public-key", filepath.Join(keys, "public.key"),
		filepath.Join(dir, "x.ct"), "-o", filepath.Join(dir, "r.ct"), "--stats-json", filepath.Join(dir, "stats.json"))
	mustHecc(t, "decrypt", "--spec", spec, "--key", filepath.Join(keys, "secret.key"), filepath.Join(dir, "r.ct"), "-o", filepath.Join(dir, "y.npy"))
	got := readNPY(t, filepath.Join(dir, "y.npy"))

	m, err := onnx.Decode(onnxtest.TinyCryptoNets(1))
	if err != nil {
		t.Fatal(err)
	}
	low, err := compiler.Lower(m, compiler.LowerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := ir.Interpret(low.Graph, map[string]*ir.Tensor{"input": x})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != 3 || !slices.Equal(got.Shape, []int{1, 3}) {
		t.Fatalf("decrypted output has shape %v", got.Shape)
	}
	var worst float64
	for i, v := range want["output"].Data {
		worst = max(worst, math.Abs(v-got.Data[i]))
	}
	// The output is written as float32: 1e-3 covers its rounding and the
	// CKKS error at the scale params.Select picks (≥ 2^25); decrypt rounds
	// to the spec's output step on top.
	if worst > 1e-3+roundingOf(t, spec) {
		t.Fatalf("encrypted output %v differs from plaintext %v by %g", got.Data, want["output"].Data, worst)
	}
	stats, err := os.ReadFile(filepath.Join(dir, "stats.json"))
	if err != nil || !bytes.Contains(stats, []byte(`"eval_seconds"`)) || !bytes.Contains(stats, []byte(`"key_switches"`)) {
		t.Fatalf("stats.json: %s %v", stats, err)
	}
	// The circuit file holds weights: it must not be world-readable.
	if st, err := os.Stat(filepath.Join(dir, "model.hec")); err != nil || st.Mode().Perm()&0o077 != 0 {
		t.Fatalf("model.hec mode %v", st.Mode())
	}
	// Secrets and results are for their owner only.
	for _, f := range []string{filepath.Join(keys, "secret.key"), filepath.Join(dir, "r.ct"), filepath.Join(dir, "y.npy")} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v", f, st.Mode())
		}
	}
}

// Every sentinel maps to its class however deeply it is wrapped; an error
// of two classes takes the earlier, and one of none is "other".
func TestExitCodes(t *testing.T) {
	for _, class := range exitClasses {
		for _, sentinel := range class.errs {
			err := fmt.Errorf("file.x: %w", fmt.Errorf("%w: detail", sentinel))
			if got := exitCode(err); got != class.code {
				t.Errorf("%v: exit status %d, want %d", sentinel, got, class.code)
			}
		}
	}
	cases := []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{errors.New("disk full"), exitOther},
		{usageError("bad flag"), exitUsage},
		{fmt.Errorf("%w: %w", plan.ErrSpec, params.ErrInsecure), exitParameters},
		{fmt.Errorf("%w: %w", runtime.ErrFormat, runtime.ErrMismatch), exitMismatch},
	}
	for _, tc := range cases {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("%v: exit status %d, want %d", tc.err, got, tc.want)
		}
	}
}

// docs/quickstart.md lists every exit status as the help does.
func TestExitCodesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/quickstart.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, class := range exitClasses {
		head, _, _ := strings.Cut(class.what, ":")
		if row := fmt.Sprintf("| %d | %s", class.code, head); !bytes.Contains(doc, []byte(row)) {
			t.Errorf("docs/quickstart.md has no row %q", row)
		}
	}
}

// The input scaling recorded at compile time is what hecc encrypt applies:
// a raw input r encrypts as the model input (r·S − M) / D, whose plaintext
// output the decrypted result matches.
func TestInputScaling(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(model, onnxtest.TinyCryptoNets(1), 0o644); err != nil {
		t.Fatal(err)
	}
	const scale, mean, std = 1.0 / 255, 0.5, 0.25
	mustHecc(t, "compile", model, "-o", filepath.Join(dir, "model.hec"), "--input-range", "-2,2",
		"--input-scale", "1/255", "--input-mean", "0.5", "--input-std", "0.25")
	spec, keys := filepath.Join(dir, "model.spec"), filepath.Join(dir, "keys")
	mustHecc(t, "keygen", "--spec", spec, "-o", keys)
	x := sampleInput(9) // the model input, in [-1, 1)
	raw := &ir.Tensor{Shape: x.Shape, Data: make([]float64, len(x.Data))}
	for i, v := range x.Data {
		raw.Data[i] = (v*std + mean) / scale
	}
	writeNPY(t, filepath.Join(dir, "raw.npy"), raw)
	mustHecc(t, "encrypt", "--spec", spec, "--key", filepath.Join(keys, "secret.key"), filepath.Join(dir, "raw.npy"), "-o", filepath.Join(dir, "x.ct"))
	mustHecc(t, "run", filepath.Join(dir, "model.hec"), "--keys", filepath.Join(keys, "eval.keys"), "--public-key", filepath.Join(keys, "public.key"),
		filepath.Join(dir, "x.ct"), "-o", filepath.Join(dir, "r.ct"))
	mustHecc(t, "decrypt", "--spec", spec, "--key", filepath.Join(keys, "secret.key"), filepath.Join(dir, "r.ct"), "-o", filepath.Join(dir, "y.npy"))
	got := readNPY(t, filepath.Join(dir, "y.npy"))

	m, err := onnx.Decode(onnxtest.TinyCryptoNets(1))
	if err != nil {
		t.Fatal(err)
	}
	low, err := compiler.Lower(m, compiler.LowerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := ir.Interpret(low.Graph, map[string]*ir.Tensor{"input": x})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range want["output"].Data {
		if math.Abs(v-got.Data[i]) > 1e-3+roundingOf(t, spec) {
			t.Fatalf("the raw input decrypts to %v, the scaled input's plaintext output is %v", got.Data, want["output"].Data)
		}
	}
}

// roundingOf is how far hecc decrypt's rounding may move an output of the
// circuit whose spec is at path: half its output step, if it rounds.
func roundingOf(t *testing.T, path string) float64 {
	t.Helper()
	spec, err := loadSpec(path)
	if err != nil {
		t.Fatal(err)
	}
	if !spec.OutputRounded {
		return 0
	}
	return spec.OutputStep / 2
}
