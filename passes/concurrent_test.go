package passes

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/hecc-dev/hecc/ir"
)

// Calibration and the degree search interpret one graph from a worker per
// core. Under -race (make test runs this by name) several workers must
// read it without a race, and the circuit must be the one a single worker
// compiles, bit for bit: ranges, degrees and coefficients.
func TestConcurrentCalibrationAndDegreeSearch(t *testing.T) {
	compile := func(procs int) []byte {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		g := reluNet(11)
		cfg := &Config{Ranges: &RangeSource{Samples: samples(64, 12, 5), Margin: 0.1}, Approx: ApproxConfig{Agreement: 0.95}}
		if err := Run(g, Pipeline, cfg); err != nil {
			t.Fatal(err)
		}
		if g.Counts()["poly"] == 0 {
			t.Fatalf("no activation was approximated:\n%s", g)
		}
		data, err := ir.Encode(g)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	if one, four := compile(1), compile(4); !bytes.Equal(one, four) {
		t.Fatal("four workers compiled another circuit than one worker")
	}
}
