package runtime

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/plan"
)

// TestCircuitIntegrity: a circuit with any byte of its graph (weights)
// flipped is refused at load; the intact one loads.
func TestCircuitIntegrity(t *testing.T) {
	f := secureFixture(t)
	if _, err := DecodeCircuit(f.hec); err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{len(f.hec) / 2, len(f.hec) - 40, len(f.hec) - 1} {
		bad := bytes.Clone(f.hec)
		bad[at] ^= 0x10
		if _, err := DecodeCircuit(bad); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "SHA-256") {
			t.Errorf("byte %d of %d flipped: %v", at, len(f.hec), err)
		}
	}
}

// TestKeySetsAreChecked: a ciphertext of one key set is refused where
// another's keys are in use, and a secret key whose id is not its own
// (a damaged file) is refused.
func TestKeySetsAreChecked(t *testing.T) {
	f := secureFixture(t)
	spec := f.circuit.Spec
	other, err := GenerateKeys(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if other.Eval.KeySet() == f.keys.Eval.KeySet() || other.Secret.KeySet() != other.Eval.KeySet() || other.Public.KeySet() != other.Eval.KeySet() {
		t.Fatalf("key set ids %s and %s", other.Eval.KeySet(), f.keys.Eval.KeySet())
	}
	if _, err := DecodeCiphertext(spec, KindInputCt, other.Eval.KeySet(), f.ct); !errors.Is(err, ErrKeySet) {
		t.Fatalf("an input of key set %s read as key set %s: %v", f.keys.Eval.KeySet(), other.Eval.KeySet(), err)
	}
	if _, err := DecodeCiphertext(spec, KindInputCt, f.keys.Eval.KeySet(), f.ct); err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(f.circuit, f.keys.Eval)
	if err != nil {
		t.Fatal(err)
	}
	x := &ir.Tensor{Shape: spec.Input.Shape, Data: make([]float64, ir.NumElements(spec.Input.Shape))}
	foreign, err := Encrypt(spec, other.Public, x)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.Run(context.Background(), foreign); !errors.Is(err, ErrKeySet) {
		t.Fatalf("an input of another key set evaluated: %v", err)
	}
	in, err := Encrypt(spec, f.keys.Public, x)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := srv.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if out.KeySet() != f.keys.Eval.KeySet() {
		t.Fatalf("the result is of key set %s, the evaluation keys of %s", out.KeySet(), f.keys.Eval.KeySet())
	}
	if _, err := Decrypt(spec, other.Secret, out); !errors.Is(err, ErrKeySet) {
		t.Fatalf("a result decrypted with another key set's secret key: %v", err)
	}
	sk := bytes.Clone(f.sk)
	sk[len(sk)-1] ^= 1
	if _, err := DecodeSecretKey(spec, sk); !errors.Is(err, ErrFormat) {
		t.Fatalf("a damaged secret key: %v", err)
	}
	old := bytes.Clone(f.ct)
	old[5] = plan.FormatVersion - 1
	if _, err := DecodeCiphertext(spec, KindInputCt, f.keys.Eval.KeySet(), old); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "format version") {
		t.Fatalf("a file of the previous format version: %v", err)
	}
}
