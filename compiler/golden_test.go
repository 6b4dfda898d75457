package compiler

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
	"github.com/hecc-dev/hecc/compiler/tensorio"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
)

var update = flag.Bool("update", false, "rewrite the golden IR dumps in testdata/golden")

// goldenLogN is the ring degree the golden plans are made for: the largest
// the security table allows, which holds every layout the compiler makes.
const goldenLogN = 15

// goldenCalibration names the calibration set of the models whose ranges
// interval arithmetic from [0, 1] cannot bound (a deep net's intervals
// diverge; the regression's inputs are standardized, not pixels). Its first
// goldenSamples samples, with a fixed degree, keep the dump deterministic.
var goldenCalibration = map[string]string{
	"deep_mlp":      "mnist_calib.npz",
	"lenet_maxpool": "mnist_calib.npz",
	"diabetes_reg":  "diabetes_calib.npz",
}

const goldenSamples = 64

// goldenFails lists the bundled models the passes cannot take through at a
// fixed degree, with what they fail on; the test checks they still do, so
// that a fix adds their dump.
var goldenFails = map[string]string{
	// Five ReLU layers: at the fixed degree each polynomial's error feeds
	// the next one's input beyond its fitted interval (the default search
	// takes composite sign forms instead).
	"deep_mlp": "non-finite values",
}

func goldenRanges(t *testing.T, name string) *passes.RangeSource {
	set, ok := goldenCalibration[name]
	if !ok {
		// Interval arithmetic from MNIST's pixel range keeps the dumps
		// deterministic and cheap (calibration would search degrees).
		return &passes.RangeSource{Input: &ir.Interval{Lo: 0, Hi: 1}}
	}
	arrays, err := tensorio.ReadNPZ(filepath.Join("..", "testdata", "samples", set))
	if err != nil {
		t.Fatal(err)
	}
	x := arrays["x"]
	size := ir.NumElements(x.Shape[1:])
	samples := make([]*ir.Tensor, goldenSamples)
	for i := range samples {
		samples[i] = &ir.Tensor{Shape: append([]int{1}, x.Shape[1:]...), Data: x.Data[i*size : (i+1)*size]}
	}
	return &passes.RangeSource{Samples: samples, Margin: DefaultMargin}
}

// goldenModels are the models whose IR after every pass is kept as a
// golden file.
func goldenModels(t *testing.T) map[string][]byte {
	models := map[string][]byte{
		"tiny_cryptonets":         onnxtest.TinyCryptoNets(1),
		"dynamic_tiny_cryptonets": onnxtest.DynamicTinyCryptoNets(1),
		"poolnet":                 onnxtest.PoolNet(1),
	}
	bundled, _ := filepath.Glob("../testdata/models/*.onnx")
	for _, p := range bundled {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		models[strings.TrimSuffix(filepath.Base(p), ".onnx")] = b
	}
	return models
}

// TestGoldenIR dumps the IR after lowering and after each pass, verifying
// the graph at every step, and then the plan (plan.Plan.String). Run `go test ./compiler -run Golden -update`
// after an intended change and review the diff.
func TestGoldenIR(t *testing.T) {
	models := goldenModels(t)
	// Every golden file has its model: a bundled model gone missing fails
	// here instead of silently dropping its dump from the test.
	goldens, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.ir"))
	for _, path := range goldens {
		if name := strings.TrimSuffix(filepath.Base(path), ".ir"); models[name] == nil {
			t.Errorf("%s has no model (is testdata/models/%s.onnx missing?)", path, name)
		}
	}
	for name, data := range models {
		t.Run(name, func(t *testing.T) {
			m, err := onnx.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			low, err := Lower(m, LowerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			b.WriteString("== lowered\n" + low.Graph.String())
			cfg := &passes.Config{Ranges: goldenRanges(t, name), Approx: passes.ApproxConfig{Degree: 7}}
			for _, p := range passes.Pipeline {
				if err := p.Run(low.Graph, cfg); err != nil {
					if want, ok := goldenFails[name]; ok && strings.Contains(err.Error(), want) {
						return
					}
					t.Fatalf("pass %s: %v", p.Name, err)
				}
				if err := ir.Verify(low.Graph); err != nil {
					t.Fatalf("after pass %s: %v", p.Name, err)
				}
				b.WriteString("== after " + p.Name + "\n" + low.Graph.String())
			}
			if want, ok := goldenFails[name]; ok {
				t.Fatalf("the passes no longer fail with %q: remove it from goldenFails and run with -update", want)
			}
			// Only the ring degree enters the plan (the Galois elements):
			// one fixed degree keeps the dump independent of the
			// parameter choice.
			pl, err := plan.Build(name, low.Graph, params.InsecureTestSet(goldenLogN, low.Graph.Depth, 40))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "== plan at logN=%d\n%s", goldenLogN, pl)
			path := filepath.Join("testdata", "golden", name+".ir")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got := b.String(); got != string(want) {
				t.Fatalf("IR dump differs from %s (run with -update after an intended change):\n%s", path, firstDiff(got, string(want)))
			}
		})
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n  got:  %s\n  want: %s", i+1, a, b)
		}
	}
	return ""
}
