package serve

import (
	"context"
	"testing"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/runtime"
)

// TestModelWithinWeightsBudget: a model prepared with no weight kept
// encoded (hecc serve --max-weights-gib 0) holds only their values, shows
// them in its metrics, and answers as the plaintext circuit does.
func TestModelWithinWeightsBudget(t *testing.T) {
	c, x := compiled(t)
	m, err := NewModel(c, runtime.MaxWeightBytes(0))
	if err != nil {
		t.Fatal(err)
	}
	if mem := m.Prepared.Memory(); mem.Encoded != 0 || mem.OnDemand <= 0 {
		t.Fatalf("prepared within a budget of 0: %+v", mem)
	}
	store, err := NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Models: []*Model{m}, Keys: store, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ts := serveOn(t, srv, context.Background())
	s := session(t, ts, "cryptonets", t.TempDir())
	for i := range 2 {
		in := digit(x, i)
		ans, err := s.Infer(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := ir.Interpret(c.Graph, map[string]*ir.Tensor{c.Spec.Input.Name: in})
		if err != nil {
			t.Fatal(err)
		}
		if want := TopClasses(plain[c.Spec.Output.Name])[0]; ans.Top[0] != want {
			t.Errorf("digit %d: encrypted top class %d, plaintext circuit %d", i, ans.Top[0], want)
		}
	}
	families, err := ts.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var onDemand float64
	for _, f := range families {
		if f.GetName() != "hecc_prepared_circuit_bytes" {
			continue
		}
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "part" && l.GetValue() == "on_demand" {
					onDemand = metric.GetGauge().GetValue()
				}
			}
		}
	}
	if onDemand != float64(m.Prepared.Memory().OnDemand) {
		t.Errorf("hecc_prepared_circuit_bytes{part=on_demand} %g, the prepared circuit holds %d", onDemand, m.Prepared.Memory().OnDemand)
	}
}
