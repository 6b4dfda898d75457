package serve

import (
	"errors"
	"testing"

	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
)

// A circuit that floods its results needs the client's public key, which
// the key upload does not carry: it is refused at load, not per query.
func TestNewModelRefusesFlooding(t *testing.T) {
	c := &runtime.Circuit{Spec: &plan.Spec{Model: "m", CircuitPrivacyBits: 8, FloodWidth: 1 << 30}}
	if _, err := NewModel(c); !errors.Is(err, runtime.ErrNoPublicKey) {
		t.Fatalf("serving a flooding circuit: %v, want runtime.ErrNoPublicKey", err)
	}
}
