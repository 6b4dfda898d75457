package main

import (
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
)

// TestServerMemoryLines: the server memory line adds the encoded weights
// to the keys when the circuit is known, and the largest cost names
// whichever of the two is larger.
func TestServerMemoryLines(t *testing.T) {
	spec := &plan.Spec{Params: params.InsecureTestSet(11, 2, 35)}
	for _, tc := range []struct {
		name               string
		sizes              runtime.Sizes
		memory, largestHas string
	}{
		{"spec only", runtime.Sizes{EvalKeysMemory: 3 << 20}, "3.00 MiB of evaluation keys per client; the circuit's encoded weights come on top", "evaluation keys 3.00 MiB: "},
		{"keys larger", runtime.Sizes{EvalKeysMemory: 3 << 20, Encoded: 1 << 20}, "4.00 MiB for one client: encoded weights 1.00 MiB, shared by every client, and evaluation keys 3.00 MiB, which each further client adds", "evaluation keys 3.00 MiB: "},
		{"weights larger", runtime.Sizes{EvalKeysMemory: 1 << 30, Encoded: 2 << 30}, "3.00 GiB for one client: encoded weights 2.00 GiB, shared by every client, and evaluation keys 1.00 GiB", "encoded weights 2.00 GiB: every diagonal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			for _, l := range summaryLines(nil, spec, tc.sizes) {
				got[l.what] = l.text
			}
			if !strings.HasPrefix(got["server memory"], tc.memory) {
				t.Errorf("server memory: %q, want it to start %q", got["server memory"], tc.memory)
			}
			if !strings.HasPrefix(got["largest cost"], tc.largestHas) {
				t.Errorf("largest cost: %q, want it to start %q", got["largest cost"], tc.largestHas)
			}
		})
	}
}
