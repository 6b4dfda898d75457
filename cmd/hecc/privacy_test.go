package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
)

// TestCircuitPrivacyFlags: hecc compile floods by default; a λ the model
// cannot afford, asked for or by default, is refused with
// compiler.ErrCircuitPrivacy and says what to give instead; other
// refusals get no such advice; --no-circuit-privacy turns flooding off
// and cannot come with a λ.
func TestCircuitPrivacyFlags(t *testing.T) {
	dir := t.TempDir()
	model, deep := filepath.Join(dir, "model.onnx"), filepath.Join(dir, "deep.onnx")
	if err := os.WriteFile(model, onnxtest.TinyCryptoNets(1), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := mkmodel([]string{"deep", deep}); err != nil {
		t.Fatal(err)
	}
	advice := []string{"--circuit-privacy-bits N", "--no-circuit-privacy for a client trusted with the weights"}
	for _, tc := range []struct {
		name    string
		args    []string
		privacy bool     // refused with ErrCircuitPrivacy
		status  int      // the exit status
		says    []string // in the error
	}{
		{"the default on the batch layout", []string{model, "--batch"}, false, exitOK, nil},
		{"more than the model affords", []string{model, "--circuit-privacy-bits", "100"}, true, exitParameters,
			append([]string{"this model affords at most", "asked for with --circuit-privacy-bits"}, advice...)},
		{"a circuit too deep, not for its privacy", []string{deep}, false, exitParameters, []string{"no secure parameters fit"}},
		{"off and a λ together", []string{model, "--no-circuit-privacy", "--circuit-privacy-bits", "40"}, false, exitUsage,
			[]string{"--no-circuit-privacy and --circuit-privacy-bits"}},
		{"λ = 0", []string{model, "--circuit-privacy-bits", "0"}, false, exitUsage, []string{"--no-circuit-privacy turns flooding off"}},
		{"off on the batch layout", []string{model, "--batch", "--no-circuit-privacy"}, false, exitOK, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.hec")
			err := hecc(t, append([]string{"compile", "--input-range", "-1,1", "-o", out}, tc.args...)...)
			if got := exitCode(err); got != tc.status {
				t.Fatalf("exit status %d (%v), want %d", got, err, tc.status)
			}
			if errors.Is(err, compiler.ErrCircuitPrivacy) != tc.privacy {
				t.Errorf("errors.Is(%v, compiler.ErrCircuitPrivacy) = %v, want %v", err, !tc.privacy, tc.privacy)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("the error does not say %q: %v", s, err)
				}
			}
			if err != nil && !tc.privacy && strings.Contains(err.Error(), "--no-circuit-privacy for") {
				t.Errorf("advice on circuit privacy for another refusal: %v", err)
			}
			if _, statErr := os.Stat(out); (statErr == nil) != (err == nil) {
				t.Errorf("error %v, yet the circuit file exists: %v", err, statErr == nil)
			}
		})
	}
}

// TestBundledPrivacyRefusal: lenet_maxpool cannot afford the default λ
// (at a larger scale its keys exceed the budget): the refusal is one of
// circuit privacy and names the largest λ it affords, which then compiles.
func TestBundledPrivacyRefusal(t *testing.T) {
	if testing.Short() {
		t.Skip("two compiles of a logN 16 model")
	}
	model := filepath.Join(bundled, "models", "lenet_maxpool.onnx")
	calib := filepath.Join(bundled, "samples", "mnist_calib.npz")
	out := filepath.Join(t.TempDir(), "m.hec")
	err := hecc(t, "compile", model, "--calibration", calib, "-o", out)
	if !errors.Is(err, compiler.ErrCircuitPrivacy) || exitCode(err) != exitParameters {
		t.Fatalf("compiled at the default λ: %v, want compiler.ErrCircuitPrivacy", err)
	}
	var most int
	if _, scanErr := fmt.Sscanf(err.Error()[strings.Index(err.Error(), "affords at most"):], "affords at most %d bits", &most); scanErr != nil || most < 1 {
		t.Fatalf("the refusal names no λ the model affords: %v", err)
	}
	if !strings.Contains(err.Error(), "--no-circuit-privacy") {
		t.Errorf("the refusal does not name --no-circuit-privacy: %v", err)
	}
	if err := hecc(t, "compile", model, "--calibration", calib, "-o", out, "--circuit-privacy-bits", fmt.Sprint(most)); err != nil {
		t.Fatalf("the λ the refusal names, %d bits: %v", most, err)
	}
}
