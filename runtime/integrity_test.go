package runtime

import (
	"bytes"
	"errors"
	"strings"
	"testing"

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
	if other.Eval.ID == f.keys.Eval.ID || KeySetOf(other.Secret) != other.Eval.ID {
		t.Fatalf("key set ids %s and %s", other.Eval.ID, f.keys.Eval.ID)
	}
	if _, err := DecodeCiphertext(spec, KindInputCt, other.Eval.ID, f.ct); !errors.Is(err, ErrKeySet) {
		t.Fatalf("an input of key set %s read as key set %s: %v", f.keys.Eval.ID, other.Eval.ID, err)
	}
	if _, err := DecodeCiphertext(spec, KindInputCt, f.keys.Eval.ID, f.ct); err != nil {
		t.Fatal(err)
	}
	sk := bytes.Clone(f.sk)
	sk[len(sk)-1] ^= 1
	if _, err := DecodeSecretKey(spec, sk); !errors.Is(err, ErrFormat) {
		t.Fatalf("a damaged secret key: %v", err)
	}
	old := bytes.Clone(f.ct)
	old[5] = plan.FormatVersion - 1
	if _, err := DecodeCiphertext(spec, KindInputCt, f.keys.Eval.ID, old); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "format version") {
		t.Fatalf("a file of the previous format version: %v", err)
	}
}
