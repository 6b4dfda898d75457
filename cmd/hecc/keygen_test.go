package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
)

// heccBinary is the test binary under the name hecc, which TestMain runs
// as the hecc command (to send it a signal, it runs as a subprocess).
func heccBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "hecc")
	if err := os.Symlink(exe, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// manyKeysSpec writes a valid spec whose keygen takes seconds: 300 keys at
// the top of a secure logN 14 chain.
func manyKeysSpec(t *testing.T, path string) {
	t.Helper()
	q := []int{50}
	for range 7 {
		q = append(q, 40)
	}
	set := params.Set{LogN: 14, LogQ: q, LogP: []int{50, 50}, LogScale: 40, Security: 128}
	s := &plan.Spec{
		Model: "slow", Params: set, LogSlots: 10, OutputStep: 1,
		Input:  plan.TensorInfo{Name: "x", Shape: []int{16}, Level: set.MaxLevel()},
		Output: plan.TensorInfo{Name: "y", Shape: []int{10}},
	}
	for i := range 300 {
		s.Rotations = append(s.Rotations, plan.RotationKey{Galois: uint64(2*i + 3), Level: set.MaxLevel()})
	}
	b, err := runtime.EncodeSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestKeygenInterruptedLeavesNoFile sends SIGINT to a keygen writing its
// evaluation keys: it must exit and leave no file behind.
func TestKeygenInterruptedLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	spec, keys := filepath.Join(dir, "slow.spec"), filepath.Join(dir, "keys")
	manyKeysSpec(t, spec)
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(heccBinary(t), "keygen", "--spec", spec, "-o", keys)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Wait for the unfinished key file, then interrupt.
	for {
		if m, _ := filepath.Glob(filepath.Join(keys, ".eval.keys.tmp*")); len(m) > 0 {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("keygen ended before writing its keys: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := <-exited
	t.Logf("keygen: %v: %s", err, stderr.String())
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("keygen was not stopped by SIGINT: %v", err)
	}
	entries, err := os.ReadDir(keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("interrupted keygen left %s", e.Name())
	}
}

// TestKeygenBudget: keygen refuses a spec whose keys exceed --max-key-gib
// before making any key.
func TestKeygenBudget(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "slow.spec")
	manyKeysSpec(t, spec)
	err := hecc(t, "keygen", "--spec", spec, "-o", filepath.Join(dir, "keys"), "--max-key-gib", "0.1")
	if !errors.Is(err, ErrKeyBudget) {
		t.Fatalf("keygen of a 300-key spec under a 0.1 GiB budget: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "keys")); len(entries) != 0 {
		t.Fatalf("refused keygen left %d files", len(entries))
	}
}
