package main

import (
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/compiler"
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

// TestServerMemoryOnDemand: with the circuit's weights known, the server
// memory line says what the server holds with every weight encoded on
// demand and what that costs; over the compile's budget, which budget of
// weights fits it and what encoding the rest costs.
func TestServerMemoryOnDemand(t *testing.T) {
	// Kept first: 2 plaintexts of 1 GiB, 2 s each; then 4 of 2 GiB, 1 s each.
	weights := plan.Weights{
		{Count: 2, Bytes: 1 << 30, Values: 1 << 20, Seconds: 2},
		{Count: 4, Bytes: 2 << 30, Values: 1 << 20, Seconds: 1},
	}
	sizes := runtime.Sizes{EvalKeysMemory: 3 << 30, Encoded: 10 << 30, Weights: weights}
	for _, tc := range []struct {
		name  string
		rep   *compiler.Report
		has   []string
		lacks string
	}{
		{"within the budget", &compiler.Report{Memory: compiler.ServerMemory{Keys: 3 << 30, Encoded: 10 << 30, Budget: 16 << 30}},
			[]string{"at 0, 3.01 GiB for one client (the keys and the weights' values, 6.00 MiB), ≈ 8.0 s more CPU"}, "within the"},
		{"over the budget", &compiler.Report{Memory: compiler.ServerMemory{Keys: 3 << 30, Encoded: 10 << 30, Budget: 8 << 30}},
			// 5 GiB less the values leave room for the two 1 GiB plaintexts
			// and one of 2 GiB: three of 2 GiB encoded on demand, 3 s.
			[]string{"at 0, 3.01 GiB", "within the 8.00 GiB budget, --max-weights-gib 4.99: 6.00 GiB of the weights encoded in each evaluation, ≈ 3.0 s more CPU"}, ""},
		{"keys over the budget", &compiler.Report{Memory: compiler.ServerMemory{Keys: 3 << 30, Encoded: 10 << 30, Budget: 2 << 30}},
			[]string{"the keys alone exceed the 2.00 GiB budget"}, "within the"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := serverMemoryText(tc.rep, sizes)
			for _, want := range tc.has {
				if !strings.Contains(got, want) {
					t.Errorf("%q lacks %q", got, want)
				}
			}
			if tc.lacks != "" && strings.Contains(got, tc.lacks) {
				t.Errorf("%q says %q", got, tc.lacks)
			}
		})
	}
}
