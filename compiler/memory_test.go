package compiler

import (
	"strings"
	"testing"
)

// TestServerMemory: keys and weights together are held to the budget, and
// the warning says what the memory goes to.
func TestServerMemory(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    ServerMemory
		over bool
	}{
		{"within", ServerMemory{Keys: 3 << 30, Encoded: 5 << 30, Budget: 8 << 30}, false},
		{"keys alone within", ServerMemory{Keys: 5 << 30, Encoded: 12 << 30, Budget: 16 << 30}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.m.Over(); got != tc.over {
				t.Fatalf("Over() = %v, want %v", got, tc.over)
			}
			w := tc.m.Warning()
			for _, want := range []string{gib(tc.m.Total()), "evaluation keys " + gib(tc.m.Keys), "encoded weights " + gib(tc.m.Encoded), gib(tc.m.Budget)} {
				if !strings.Contains(w, want) {
					t.Errorf("warning %q does not say %q", w, want)
				}
			}
		})
	}
}
