package passes

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/ir"
)

// The simulator continues each candidate from the values it kept of
// earlier ones, and stops rivals that cannot win: the search must take the
// same path, candidate for candidate, and compile the same circuit bit
// for bit as when it keeps nothing but the committed forms' values.
func TestSimulatorStoreChangesNothing(t *testing.T) {
	cases := []struct {
		name  string
		graph func() *ir.Graph
		cfg   func() *Config
	}{
		// Top-class agreement: single fits, then composites.
		{"cnn", func() *ir.Graph { return fashionLike(3) }, func() *Config {
			return &Config{Ranges: &RangeSource{Samples: darkImages(600, 5), Margin: 0.1}}
		}},
		// A tolerance over four layers: the greedy rounds' rivals all complete.
		{"tolerance", func() *ir.Graph { return deepNet(4) }, func() *Config {
			return &Config{Ranges: &RangeSource{Samples: wideSamples(400, 5), Margin: 0.5},
				Approx: ApproxConfig{Criterion: Tolerance, Tolerance: 1e-3, MaxDepth: 5}}
		}},
		// Out of reach, held-out inputs beyond the intervals: the refusal
		// says how far each layer's inputs went.
		{"refused", func() *ir.Graph { return reluChain(4) }, func() *Config {
			return &Config{Ranges: &RangeSource{Samples: wideSamples(400, 7)}, Approx: ApproxConfig{Criterion: Tolerance, Tolerance: 1e-9, MaxDepth: 3}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			compile := func(store int64) ([]byte, string) {
				defer func(old int64) { simStoreBytes = old }(simStoreBytes)
				simStoreBytes = store
				g := tc.graph()
				var log []string
				tried := 0
				cfg := tc.cfg()
				cfg.Log = func(pass, msg string) { log = append(log, msg) }
				cfg.Progress = func(p SearchProgress) { tried = p.Tried }
				if err := Run(g, Pipeline, cfg); err != nil {
					log = append(log, err.Error())
				}
				data, err := ir.Encode(g)
				if err != nil {
					t.Fatal(err)
				}
				return data, fmt.Sprintf("%d candidates\n%s", tried, strings.Join(log, "\n"))
			}
			kept, keptLog := compile(simStoreBytes)
			none, noneLog := compile(0)
			if keptLog != noneLog {
				t.Errorf("keeping values, the search reported\n%s\nkeeping only the committed ones\n%s", keptLog, noneLog)
			}
			if !bytes.Equal(kept, none) {
				t.Error("keeping values compiled another circuit")
			}
		})
	}
}
