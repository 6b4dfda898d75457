package benchmarks

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/runtime"
)

// tinyModel writes onnxtest's TinyCryptoNets (an 8×8 input, 3 classes) and
// returns it with three sample inputs in [-1, 1], compiled from that input
// range rather than calibration data.
func tinyModel(t *testing.T) Model {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tiny.onnx")
	if err := os.WriteFile(path, onnxtest.TinyCryptoNets(1), 0o644); err != nil {
		t.Fatal(err)
	}
	x := &ir.Tensor{Shape: []int{3, 1, 8, 8}}
	for _, v := range onnxtest.Weights(7, 3*64, 1) {
		x.Data = append(x.Data, float64(v))
	}
	return Model{
		Name:    "tiny",
		Path:    path,
		Options: compiler.Options{InputRange: &ir.Interval{Lo: -1, Hi: 1}},
		Samples: x,
		Labels:  []float64{0, 1, 2},
	}
}

// TestRun benchmarks the tiny model end to end (one key generation, about
// a second) and checks what each configuration leads to.
func TestRun(t *testing.T) {
	tiny := tinyModel(t)
	missing := tiny
	missing.Name, missing.Path = "missing", filepath.Join(t.TempDir(), "missing.onnx")
	fewLabels := tiny
	fewLabels.Labels = []float64{0}
	// A limit the keys fit in, and half the weights beside them.
	compiled, err := compiler.CompileFile(tiny.Path, tiny.Options)
	if err != nil {
		t.Fatal(err)
	}
	sizes, err := runtime.PredictCircuitSizes(&runtime.Circuit{Spec: compiled.Spec, Graph: compiled.Graph})
	if err != nil {
		t.Fatal(err)
	}
	halfWeights := int64(sizes.EvalKeysMemory) + sizes.Weights.Within(0).Values + int64(sizes.Encoded)/2
	cases := []struct {
		name  string
		cfg   Config
		check func(t *testing.T, m ModelResult)
	}{
		{"encrypted", Config{Models: []Model{tiny}, Samples: 2, MaxServerBytes: DefaultMaxServerBytes, Floor: true, FloorReps: 1},
			func(t *testing.T, m ModelResult) {
				if m.Error != "" || m.Skipped != "" || !m.ran() {
					t.Fatalf("error %q, skipped %q", m.Error, m.Skipped)
				}
				if m.EncodedBytes != m.PredictedEncodedBytes || m.EncodedBytes <= 0 || m.BuffersBytes <= 0 {
					t.Errorf("encoded weights %d bytes, %d predicted; buffers %d bytes", m.EncodedBytes, m.PredictedEncodedBytes, m.BuffersBytes)
				}
				if m.Agreement != (Score{2, 2}) || m.EncryptedAccuracy.Of != 2 || m.PlainAccuracy.Of != 2 {
					t.Errorf("agreement %v, encrypted accuracy %v, plaintext accuracy %v", m.Agreement, m.EncryptedAccuracy, m.PlainAccuracy)
				}
				// CKKS noise on O(1) values at a scale of 2^25 or more, and
				// half the output step decryption rounds to.
				bound := 1e-3
				if m.Spec != nil && m.Spec.OutputRounded {
					bound += m.Spec.OutputStep / 2
				}
				if !(m.MaxAbsError > 0 && m.MaxAbsError < bound) {
					t.Errorf("max abs error %g", m.MaxAbsError)
				}
				for name, v := range map[string]float64{"compile": m.CompileSeconds, "keygen": m.KeygenSeconds, "encrypt": m.EncryptSeconds,
					"eval": m.Eval.Median, "decrypt": m.DecryptSeconds, "eval keys": float64(m.EvalKeyBytes), "ciphertext": float64(m.InputCtBytes)} {
					if !(v > 0) {
						t.Errorf("%s: %g", name, v)
					}
				}
				if m.Eval.Min > m.Eval.Median || m.Eval.Median > m.Eval.P90 || m.Eval.P90 > m.Eval.Max {
					t.Errorf("eval latency %+v is not ordered", m.Eval)
				}
				if m.Params.LogN < 13 || m.Params.Security != 128 || m.Counts.CtMuls == 0 {
					t.Errorf("params %s, counts %+v", m.Params, m.Counts)
				}
				if f := m.Floor; f == nil || !(f.Seconds > 0 && f.OneCore > 0 && f.Ratio == f.OneCore/f.Seconds) {
					t.Errorf("floor %+v", f)
				}
			}},
		{"weights on demand", Config{Models: []Model{tiny}, Samples: 2, MaxServerBytes: halfWeights},
			func(t *testing.T, m ModelResult) {
				if m.Error != "" || m.Skipped != "" || m.Agreement != (Score{2, 2}) {
					t.Fatalf("error %q, skipped %q, agreement %v", m.Error, m.Skipped, m.Agreement)
				}
				if m.EncodedBytes > m.WeightBudgetBytes || m.EncodedBytes != m.PredictedEncodedBytes-m.OnDemandBytes || m.OnDemandBytes <= 0 || !(m.PredictedOnDemandSeconds > 0) {
					t.Errorf("encoded weights %d bytes within a budget of %d; %d predicted, %d of them on demand (%g s)",
						m.EncodedBytes, m.WeightBudgetBytes, m.PredictedEncodedBytes, m.OnDemandBytes, m.PredictedOnDemandSeconds)
				}
			}},
		{"skipped", Config{Models: []Model{tiny}, Samples: 3, MaxServerBytes: 1},
			func(t *testing.T, m ModelResult) {
				if !strings.Contains(m.Skipped, "exceeds the limit") || m.ran() || m.Error != "" {
					t.Fatalf("skipped %q, error %q", m.Skipped, m.Error)
				}
				if m.PredictedEvalKeyBytes <= 0 || m.PredictedEncodedBytes <= 0 || m.PlainAccuracy.Of != 3 || m.CompileSeconds <= 0 {
					t.Errorf("predicted keys %d, encoded weights %d, plaintext accuracy %v", m.PredictedEvalKeyBytes, m.PredictedEncodedBytes, m.PlainAccuracy)
				}
			}},
		{"missing model", Config{Models: []Model{missing}, Samples: 1, MaxServerBytes: 1},
			func(t *testing.T, m ModelResult) {
				if !strings.Contains(m.Error, "compile") {
					t.Fatalf("error %q", m.Error)
				}
			}},
		{"too few labels", Config{Models: []Model{fewLabels}, Samples: 2, MaxServerBytes: 1},
			func(t *testing.T, m ModelResult) {
				if !strings.Contains(m.Error, "1 labels for 2 samples") {
					t.Fatalf("error %q", m.Error)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var events []Event
			rep, err := Run(c.cfg, func(e Event) { events = append(events, e) })
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Models) != 1 || len(events) == 0 || events[0].Stage != StageCompile {
				t.Fatalf("%d results, events %v", len(rep.Models), events)
			}
			c.check(t, rep.Models[0])
			checkRenderings(t, rep)
		})
	}
}

// checkRenderings checks that every rendering of a report is well formed:
// the markdown table's rows have as many cells as its header, the JSON
// reads back, the SVG parses as XML.
func checkRenderings(t *testing.T, rep *Report) {
	t.Helper()
	md := rep.Markdown()
	var header int
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			header = 0
			continue
		}
		cells := strings.Count(line, "|")
		if header == 0 {
			header = cells
		} else if cells != header {
			t.Errorf("markdown row has %d cells, its header %d:\n%s", cells-1, header-1, line)
		}
	}
	for _, m := range rep.Models {
		if !strings.Contains(md, "| "+m.Name+" |") {
			t.Errorf("markdown has no row for %s:\n%s", m.Name, md)
		}
	}
	j, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Models) != len(rep.Models) || back.Models[0].Name != rep.Models[0].Name || back.Models[0].Eval != rep.Models[0].Eval {
		t.Errorf("JSON does not round-trip: %s", j)
	}
	svg := rep.SVG()
	dec := xml.NewDecoder(strings.NewReader(string(svg)))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("SVG: %v\n%s", err, svg)
		}
	}
}

func TestRunRefusesConfig(t *testing.T) {
	tiny := tinyModel(t)
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"no models", Config{Samples: 1, MaxServerBytes: 1}},
		{"no samples", Config{Models: []Model{tiny}, Samples: 0, MaxServerBytes: 1}},
		{"no key budget", Config{Models: []Model{tiny}, Samples: 1}},
	} {
		if _, err := Run(c.cfg, nil); err == nil {
			t.Errorf("%s: Run accepted %+v", c.name, c.cfg)
		}
	}
}

// fakeTimer costs each primitive (level+1) × its base: linear in the
// number of primes, as most primitives are.
type fakeTimer map[string]float64

func (f fakeTimer) PrimitiveSeconds(op string, level, reps int) (float64, error) {
	base, ok := f[op]
	if !ok {
		return 0, errors.New("unknown primitive")
	}
	return base * float64(level+1), nil
}

func TestComputeFloor(t *testing.T) {
	timer := fakeTimer{runtime.PrimGiantStep: 1e-3, runtime.PrimRelinearize: 2e-3, runtime.PrimMul: 1e-4, runtime.PrimMulPlain: 1e-5, runtime.PrimRescale: 1e-4}
	// Rotations at levels 3 and 1 cost 4 and 2 ms each; relinearization
	// at level 2 costs 6 ms; rescales at 3, 2, 1 cost 0.4, 0.3, 0.2 ms.
	ops := []runtime.OpCount{
		{Op: runtime.PrimGiantStep, Level: 3, Count: 6}, {Op: runtime.PrimGiantStep, Level: 1, Count: 4},
		{Op: runtime.PrimRelinearize, Level: 2, Count: 1}, {Op: runtime.PrimMul, Level: 2, Count: 1},
		{Op: runtime.PrimMulPlain, Level: 3, Count: 20},
		{Op: runtime.PrimRescale, Level: 3, Count: 1}, {Op: runtime.PrimRescale, Level: 2, Count: 1}, {Op: runtime.PrimRescale, Level: 1, Count: 1},
	}
	want := map[string]float64{
		runtime.PrimGiantStep: 6*4e-3 + 4*2e-3, runtime.PrimRelinearize: 6e-3, runtime.PrimMul: 3e-4,
		runtime.PrimMulPlain: 20 * 4e-5, runtime.PrimRescale: 4e-4 + 3e-4 + 2e-4,
	}
	f, err := computeFloor(timer, ops, 0.5, 1)
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	got := map[string]float64{}
	for _, term := range f.Terms {
		got[term.Primitive] = term.Seconds
		total += term.Seconds
	}
	if len(got) != len(want) {
		t.Fatalf("terms %v, want %v", got, want)
	}
	for op, w := range want {
		if math.Abs(got[op]-w) > 1e-12 {
			t.Errorf("%s: %g s, want %g", op, got[op], w)
		}
	}
	if f.Terms[0].Primitive != runtime.PrimGiantStep || f.Terms[0].Count != 10 || len(f.Terms[0].Levels) != 2 {
		t.Errorf("rotation term %+v", f.Terms[0])
	}
	if math.Abs(f.Seconds-total) > 1e-12 || f.Measured != 0.5 {
		t.Errorf("floor %g s, measured %g; terms add up to %g", f.Seconds, f.Measured, total)
	}
	// A primitive the timer cannot time, or one the floor does not know,
	// is an error, not a made-up cost.
	if _, err := computeFloor(timer, []runtime.OpCount{{Op: runtime.PrimAdd, Count: 1}}, 1, 1); err == nil {
		t.Error("a timer error was not reported")
	}
	if _, err := computeFloor(timer, []runtime.OpCount{{Op: "teleport", Count: 1}}, 1, 1); err == nil {
		t.Error("an unknown primitive was ignored")
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, c := range []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{xs, 50, 5}, {xs, 90, 9}, {xs, 100, 10}, {xs, 0, 1},
		{[]float64{3}, 90, 3}, {[]float64{2, 1}, 50, 1}, {nil, 50, 0},
	} {
		if got := percentile(c.xs, c.p); got != c.want {
			t.Errorf("percentile(%v, %g) = %g, want %g", c.xs, c.p, got, c.want)
		}
	}
}

func TestChain(t *testing.T) {
	for _, c := range []struct {
		set  params.Set
		want string
	}{
		{params.Set{LogQ: []int{34, 29, 29, 29, 29, 29}, LogP: []int{35}}, "34+29×5, P 35"},
		{params.Set{LogQ: []int{50, 45, 45, 40}, LogP: []int{61, 61}}, "50+45×2+40, P 61×2"},
	} {
		if got := chain(c.set); got != c.want {
			t.Errorf("chain(%v) = %q, want %q", c.set.LogQ, got, c.want)
		}
	}
}

func TestDecadeLabel(t *testing.T) {
	for d, want := range map[float64]string{-5: "10 µs", -3: "1 ms", -1: "100 ms", 0: "1 s", 2: "100 s"} {
		if got := decadeLabel(d); got != want {
			t.Errorf("decadeLabel(%g) = %q, want %q", d, got, want)
		}
	}
}

func TestParseManifest(t *testing.T) {
	for _, c := range []struct {
		name, json string
		order      []string
		ok         bool
	}{
		{"order kept", `{"models": {"b": {"file": "b.onnx"}, "a": {"file": "a.onnx"}, "c": {}}}`, []string{"b", "a", "c"}, true},
		{"no models", `{"datasets": {}}`, nil, false},
		{"empty", `{"models": {}}`, nil, false},
		{"null", `{"models": null}`, nil, false},
		{"not an object", `{"models": [1]}`, nil, false},
		{"not JSON", `{"models": `, nil, false},
	} {
		order, entries, err := parseManifest([]byte(c.json))
		if (err == nil) != c.ok || !slices.Equal(order, c.order) {
			t.Errorf("%s: order %v, error %v", c.name, order, err)
		}
		if c.ok && entries["b"].File != "b.onnx" {
			t.Errorf("%s: entries %v", c.name, entries)
		}
	}
}

func TestBundled(t *testing.T) {
	models, err := Bundled("../testdata", "mlp", "fashion_cnn")
	if err != nil {
		t.Fatal(err)
	}
	if len(models) != 2 || models[0].Name != "mlp" || models[1].Name != "fashion_cnn" {
		t.Fatalf("models %v", models)
	}
	if models[0].Samples == models[1].Samples {
		t.Error("MNIST and Fashion-MNIST models share a sample set")
	}
	// Every model is listed by default, with a full test set.
	all, err := Bundled("../testdata")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 10 {
		t.Errorf("%d bundled models listed by default, want 10", len(all))
	}
	for _, m := range all {
		if _, err := os.Stat(m.Path); err != nil {
			t.Error(err)
		}
		switch {
		case m.Samples == nil || m.Options.Calibration == nil:
			t.Errorf("%s: test samples or calibration set missing", m.Name)
		case m.Labels == nil && m.Options.Approx.Criterion == passes.Tolerance:
			// A regression: its targets are not class labels.
		case m.Samples.Shape[0] != 1000 || len(m.Labels) != m.Samples.Shape[0]:
			t.Errorf("%s: want 1000 test samples with their labels", m.Name)
		}
	}
	reg, err := Bundled("../testdata", "diabetes_reg")
	if err != nil {
		t.Fatal(err)
	}
	if reg[0].Labels != nil || reg[0].Options.Approx.Criterion != passes.Tolerance {
		t.Errorf("a regression has labels %v and criterion %q", reg[0].Labels, reg[0].Options.Approx.Criterion)
	}
	if _, err := Bundled("../testdata", "resnet"); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("unknown model: %v", err)
	}
	if _, err := Bundled(t.TempDir()); !errors.Is(err, ErrNoManifest) {
		t.Errorf("no manifest: %v", err)
	}
}

// TestRenderings renders reports that no short run produces: a model that
// never compiled, and floors with and without the runtime's timer.
func TestRenderings(t *testing.T) {
	set := params.Set{LogN: 13, LogQ: []int{34, 29}, LogP: []int{35}, LogScale: 29, Security: 128}
	ran := ModelResult{Name: "ran", Params: set, Agreement: Score{1, 1}, Eval: Latency{Median: 0.5, P90: 0.6, Min: 0.4, Max: 0.7},
		Floor: &Floor{Seconds: 0.25, OneCore: 0.5, Measured: 0.3, Ratio: 2, Terms: []FloorTerm{{Primitive: runtime.PrimGiantStep, Count: 10, Seconds: 0.2}}}}
	notRun := ran
	notRun.Name, notRun.Floor = "notrun", nil
	for _, c := range []struct {
		name   string
		models []ModelResult
		want   []string
	}{
		{"compile failed", []ModelResult{{Name: "broken", Error: "compile: bad model"}}, []string{"**broken** failed: compile: bad model"}},
		{"skipped", []ModelResult{{Name: "big", Params: set, PredictedEvalKeyBytes: 3 << 29, EvalKeyMemoryBytes: 3 << 30, Skipped: "too big"}}, []string{"| ≈1536.00 | 3072.00 |", "skipped: too big"}},
		{"floor", []ModelResult{ran, notRun}, []string{"| ran | 0.250 | 0.500 | 0.300 | 2.00 | – | 10: 200 ms |"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep := &Report{Samples: 1, Floor: true, Models: c.models}
			checkRenderings(t, rep)
			md := rep.Markdown()
			for _, w := range c.want {
				if !strings.Contains(md, w) {
					t.Errorf("markdown lacks %q:\n%s", w, md)
				}
			}
		})
	}
}

func TestKeepNotes(t *testing.T) {
	const md = "# hecc benchmark\n\n| table |\n"
	notes := NotesHeading + "\n\n- 2026-12-01: a note.\n"
	tests := []struct {
		name, previous, want string
	}{
		{"no previous file", "", md},
		{"no notes", "# hecc benchmark\n\n| old table |\n", md},
		{"notes kept", "# hecc benchmark\n\n| old table |\n\n" + notes, md + "\n" + notes},
		{"notes only", notes, md + "\n" + notes},
		{"heading inside a line", "text " + NotesHeading + "\n", md},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := KeepNotes(md, []byte(tc.previous)); got != tc.want {
				t.Errorf("KeepNotes(md, %q) = %q, want %q", tc.previous, got, tc.want)
			}
		})
	}
}
