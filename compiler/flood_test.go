package compiler

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/hecc-dev/hecc/compiler/tensorio"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/plan"
)

// TestCircuitPrivacyBits: the compiler pays for a flood with scale and
// records it, on two primes per level for λ = 40; beyond the largest λ the
// model affords it refuses with ErrCircuitPrivacy and names that λ, which
// does compile.
func TestCircuitPrivacyBits(t *testing.T) {
	compile := func(bits int) (*Result, error) {
		return CompileFile("../testdata/models/cryptonets.onnx", Options{Name: "cryptonets", InputRange: &ir.Interval{Lo: 0, Hi: 1}, CircuitPrivacyBits: bits})
	}
	off, err := compile(0)
	if err != nil {
		t.Fatal(err)
	}
	if off.Spec.CircuitPrivacyBits != 0 || off.Spec.FloodWidth != 0 || off.Report.Privacy != nil {
		t.Fatalf("compiled without flooding, the spec records λ = %d, width %g", off.Spec.CircuitPrivacyBits, off.Spec.FloodWidth)
	}
	_, err = compile(plan.MaxCircuitPrivacyBits)
	if !errors.Is(err, ErrCircuitPrivacy) {
		t.Fatalf("λ = %d: %v, want ErrCircuitPrivacy", plan.MaxCircuitPrivacyBits, err)
	}
	m := regexp.MustCompile(`at most (\d+) bits`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("the refusal names no largest λ: %v", err)
	}
	most, _ := strconv.Atoi(m[1])
	if most < 1 {
		t.Fatalf("cryptonets affords no flooding: %v", err)
	}
	on, err := compile(most)
	if err != nil {
		t.Fatalf("λ = %d, the largest the refusal named: %v", most, err)
	}
	s := on.Spec
	width := on.Graph.Outputs()[0].Range.Width()
	if s.CircuitPrivacyBits != most || s.FloodWidth == 0 || !s.OutputRounded || !plan.OutputStepUsable(s.OutputStep, width) {
		t.Errorf("λ = %d: the spec records λ = %d, width %g, step %g (rounded %v) for an output range of width %g", most, s.CircuitPrivacyBits, s.FloodWidth, s.OutputStep, s.OutputRounded, width)
	}
	if s.Params.LogScale <= off.Spec.Params.LogScale || on.Report.Privacy.Off.LogScale != off.Spec.Params.LogScale {
		t.Errorf("flooding at %d bits runs at scale 2^%d, 2^%d without (recorded as 2^%d)", most, s.Params.LogScale, off.Spec.Params.LogScale, on.Report.Privacy.Off.LogScale)
	}
	forty, err := compile(40)
	if err != nil {
		t.Fatal(err)
	}
	if p := forty.Spec.Params; p.PrimesPerLevel() != 2 || p.Validate() != nil || off.Spec.Params.PrimesPerLevel() != 1 {
		t.Errorf("λ = 40 compiles to %s (%v), %s without", p, p.Validate(), off.Spec.Params)
	}
	if _, err := compile(most + 1); !errors.Is(err, ErrCircuitPrivacy) {
		t.Errorf("λ = %d, one above the largest named: %v, want ErrCircuitPrivacy", most+1, err)
	}
}

// TestBatchCircuitPrivacyBits (CryptoNets calibrated, as hecc bench
// --batch compiles it): a batch circuit pays for its flood with scale too,
// its output then on the circuit's scale rather than below it, with every
// prime past the base level's within the batch kernels' split path (39
// bits) rather than at the largest scale the ring affords; for λ = 40 on
// two primes per level, the base level's within it too.
func TestBatchCircuitPrivacyBits(t *testing.T) {
	calib, err := tensorio.ReadNPZ("../testdata/samples/mnist_calib.npz")
	if err != nil {
		t.Fatal(err)
	}
	compile := func(bits int) *Result {
		t.Helper()
		res, err := CompileFile("../testdata/models/cryptonets.onnx", Options{Name: "cryptonets", Batch: true, Calibration: calib["x"], Margin: DefaultMargin, CircuitPrivacyBits: bits})
		if err != nil {
			t.Fatalf("λ = %d: %v", bits, err)
		}
		return res
	}
	off := compile(0)
	if off.Spec.Params.LogOutputScale == 0 {
		t.Fatalf("unflooded, the batch circuit's output lands on its scale: %s", off.Spec.Params)
	}
	for _, bits := range []int{8, 40} {
		on := compile(bits)
		s, p := on.Spec, on.Spec.Params
		width := on.Graph.Outputs()[0].Range.Width()
		if !s.Batched() || s.CircuitPrivacyBits != bits || s.FloodWidth == 0 || !s.OutputRounded || !plan.OutputStepUsable(s.OutputStep, width) {
			t.Errorf("λ = %d: layout %q, the spec records λ = %d, width %g, step %g (rounded %v) for an output range of width %g", bits, s.Layout, s.CircuitPrivacyBits, s.FloodWidth, s.OutputStep, s.OutputRounded, width)
		}
		if p.LogScale <= off.Spec.Params.LogScale || on.Report.Privacy.Off.LogScale != off.Spec.Params.LogScale {
			t.Errorf("λ = %d runs at scale 2^%d, 2^%d without (recorded as 2^%d)", bits, p.LogScale, off.Spec.Params.LogScale, on.Report.Privacy.Off.LogScale)
		}
		if p.LogOutputScale != 0 || slices.Max(p.LogQ[p.PrimesPerLevel():]) > 39 {
			t.Errorf("λ = %d compiles to %s", bits, p)
		}
		if bits == 40 && (p.PrimesPerLevel() != 2 || slices.Max(p.LogQ) > 39) {
			t.Errorf("λ = 40 compiles to %s", p)
		}
		t.Logf("λ = %d: %s, output step %g", bits, p, s.OutputStep)
	}
}
