package main

import (
	"bytes"
	"errors"
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

// setup compiles the tiny model and makes a key set in dir.
func setup(t *testing.T, dir string, seed uint32) {
	t.Helper()
	model := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(model, onnxtest.TinyCryptoNets(seed), 0o644); err != nil {
		t.Fatal(err)
	}
	mustHecc(t, "compile", model, "-o", filepath.Join(dir, "model.hec"), "--input-range", "-1,1")
	mustHecc(t, "keygen", "--spec", filepath.Join(dir, "model.spec"), "-o", filepath.Join(dir, "keys"))
}

func TestTwoPartyFlow(t *testing.T) {
	dir := t.TempDir()
	setup(t, dir, 1)
	x := sampleInput(7)
	writeNPY(t, filepath.Join(dir, "x.npy"), x)
	spec, keys := filepath.Join(dir, "model.spec"), filepath.Join(dir, "keys")
	mustHecc(t, "encrypt", "--spec", spec, "--key", filepath.Join(keys, "public.key"), filepath.Join(dir, "x.npy"), "-o", filepath.Join(dir, "x.ct"))
	mustHecc(t, "run", filepath.Join(dir, "model.hec"), "--keys", filepath.Join(keys, "eval.keys"), filepath.Join(dir, "x.ct"),
		"-o", filepath.Join(dir, "r.ct"), "--stats-json", filepath.Join(dir, "stats.json"))
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
	// CKKS error at the scale params.Select picks (≥ 2^25).
	if worst > 1e-3 {
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

func TestRefusals(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	setup(t, a, 1)
	setup(t, b, 2)
	writeNPY(t, filepath.Join(a, "x.npy"), sampleInput(3))
	specA, keysA := filepath.Join(a, "model.spec"), filepath.Join(a, "keys")
	mustHecc(t, "encrypt", "--spec", specA, "--key", filepath.Join(keysA, "secret.key"), filepath.Join(a, "x.npy"), "-o", filepath.Join(a, "x.ct"))
	ct, err := os.ReadFile(filepath.Join(a, "x.ct"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a, "short.ct"), ct[:len(ct)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	writeNPY(t, filepath.Join(a, "wrong.npy"), &ir.Tensor{Shape: []int{1, 1, 7, 8}, Data: make([]float64, 56)})
	// A second key set for the same compile, and a result of the first.
	keysA2 := filepath.Join(a, "keys2")
	mustHecc(t, "keygen", "--spec", specA, "-o", keysA2)
	mustHecc(t, "run", filepath.Join(a, "model.hec"), "--keys", filepath.Join(keysA, "eval.keys"), filepath.Join(a, "x.ct"), "-o", filepath.Join(a, "r.ct"))
	hec, err := os.ReadFile(filepath.Join(a, "model.hec"))
	if err != nil {
		t.Fatal(err)
	}
	hec[len(hec)-100] ^= 1 // in the weights
	if err := os.WriteFile(filepath.Join(a, "flipped.hec"), hec, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := os.ReadFile(filepath.Join(a, "r.ct"))
	if err != nil {
		t.Fatal(err)
	}
	res[runtime.HeaderSize+1+1+8] ^= 1 // the lowest bit of c0's first residue
	if err := os.WriteFile(filepath.Join(a, "flipped.ct"), res, 0o600); err != nil {
		t.Fatal(err)
	}
	unsupported := filepath.Join(a, "maxpool.onnx")
	if err := os.WriteFile(unsupported, onnxtest.New(13).Input("x", 1, 1, 4, 4).
		Node("MaxPool", []string{"x"}, []string{"y"}, onnxtest.Ints("kernel_shape", 2, 2)).Output("y").Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		args []string
		want []string
		is   error
	}{
		{"unsupported op", []string{"compile", unsupported, "-o", filepath.Join(a, "mp.hec")},
			[]string{`cannot compile node "MaxPool_y" (MaxPool, opset 13)`, "replace MaxPool by AveragePool", "supported operators: "}, compiler.ErrUnsupportedOp},
		{"eval keys of another compile", []string{"run", filepath.Join(a, "model.hec"), "--keys", filepath.Join(b, "keys", "eval.keys"), filepath.Join(a, "x.ct"), "-o", filepath.Join(a, "r.ct")},
			[]string{"another compile", "regenerate"}, runtime.ErrMismatch},
		{"secret key of another compile", []string{"encrypt", "--spec", specA, "--key", filepath.Join(b, "keys", "secret.key"), filepath.Join(a, "x.npy")},
			[]string{"another compile"}, runtime.ErrMismatch},
		{"ciphertext for another circuit", []string{"run", filepath.Join(b, "model.hec"), "--keys", filepath.Join(b, "keys", "eval.keys"), filepath.Join(a, "x.ct"), "-o", filepath.Join(b, "r.ct")},
			[]string{"another compile"}, runtime.ErrMismatch},
		{"truncated ciphertext", []string{"run", filepath.Join(a, "model.hec"), "--keys", filepath.Join(keysA, "eval.keys"), filepath.Join(a, "short.ct"), "-o", filepath.Join(a, "r.ct")},
			[]string{"encrypted input is truncated", "ciphertext"}, runtime.ErrFormat},
		{"input of the wrong shape", []string{"encrypt", "--spec", specA, "--key", filepath.Join(keysA, "secret.key"), filepath.Join(a, "wrong.npy")},
			[]string{"shape [1 1 7 8]", "[1 1 8 8]"}, runtime.ErrShape},
		{"secret key given to the server", []string{"run", filepath.Join(a, "model.hec"), "--keys", filepath.Join(keysA, "secret.key"), filepath.Join(a, "x.ct")},
			[]string{"secret key", "must stay with the client"}, nil},
		{"circuit where a spec is expected", []string{"keygen", "--spec", filepath.Join(a, "model.hec"), "-o", filepath.Join(a, "k2")},
			[]string{"expected a spec", "got a circuit"}, runtime.ErrFormat},
		{"keygen over an existing key set", []string{"keygen", "--spec", specA, "-o", keysA},
			[]string{"exists", "--force"}, nil},
		{"eval keys of another key set", []string{"run", filepath.Join(a, "model.hec"), "--keys", filepath.Join(keysA2, "eval.keys"), filepath.Join(a, "x.ct"), "-o", filepath.Join(a, "r2.ct")},
			[]string{"another key set", "one keygen"}, runtime.ErrKeySet},
		{"secret key of another key set", []string{"decrypt", "--spec", specA, "--key", filepath.Join(keysA2, "secret.key"), filepath.Join(a, "r.ct")},
			[]string{"another key set"}, runtime.ErrKeySet},
		{"circuit with a flipped weight byte", []string{"run", filepath.Join(a, "flipped.hec"), "--keys", filepath.Join(keysA, "eval.keys"), filepath.Join(a, "x.ct"), "-o", filepath.Join(a, "r3.ct")},
			[]string{"SHA-256", "altered"}, runtime.ErrFormat},
		{"result with a flipped bit", []string{"decrypt", "--spec", specA, "--key", filepath.Join(keysA, "secret.key"), filepath.Join(a, "flipped.ct")},
			[]string{"not a result of this circuit", "do not share"}, runtime.ErrNotAResult},
		{"result decrypted as the wrong kind", []string{"decrypt", "--spec", specA, "--key", filepath.Join(keysA, "secret.key"), filepath.Join(a, "x.ct")},
			[]string{"expected a encrypted result, got a encrypted input"}, runtime.ErrFormat},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := hecc(t, tc.args...)
			if err == nil {
				t.Fatal("succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %q does not wrap %v", err, tc.is)
			}
		})
	}
}
