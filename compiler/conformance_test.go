package compiler

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/compiler/tensorio"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
)

// The conformance runner compiles every test of the ONNX backend test suite
// (Debian's libonnx-testdata; `make testdeps` installs it) and checks the
// circuit against the suite's reference outputs: in plaintext for every
// test hecc supports, and encrypted for the tests marked pass+encrypted in
// testdata/conformance.txt (every passing test the runtime can evaluate:
// one output, values the test parameters' first prime holds). The list
// states the expected outcome of every test directory, so a regression, a
// newly passing test or a new test in the suite all fail the runner until
// the list says so.
//
//	go test ./compiler -run Conformance -update-conformance   # rewrite the list
//	go test ./compiler -run Conformance -update-docs          # rewrite docs/operators.md

var (
	updateConformance = flag.Bool("update-conformance", false, "rewrite testdata/conformance.txt from the actual results, keeping existing skip reasons")
	updateDocs        = flag.Bool("update-docs", false, "rewrite docs/operators.md from the conformance results")
)

const (
	onnxTestData    = "/usr/share/libonnx-testdata/data"
	conformanceList = "testdata/conformance.txt"
	operatorsDoc    = "../docs/operators.md"
)

// conformanceSuites are the directories of onnxTestData the runner covers;
// a test of the node suite is named by its directory, the others by
// suite/directory.
var conformanceSuites = []string{"node", "pytorch-converted", "pytorch-operator"}

// Statuses of the list.
const (
	statusPass      = "pass"
	statusEncrypted = "pass+encrypted"
	statusSkip      = "skip"
)

// Tolerances.
//
// The suite's reference outputs are float32 numbers computed by numpy from
// float32 inputs; the circuit computes in float64. For exact operators the
// difference is float32 rounding of the reference and of its intermediate
// sums, so an element may differ by plainRelTol of its magnitude, plus
// plainAbsTol for results that cancel to (nearly) zero.
//
// An approximated activation adds the error of its polynomial: the runner
// propagates each polynomial's rigorous bound MaxErr through the rest of the
// circuit (circuitErrorBound) and adds it to the tolerance.
//
// Encrypted results are compared with the plaintext circuit. At scale
// Δ = 2^40 encoding, encryption, each rescale and each key switch (the
// rotations of the linear maps) add an error of order √N·σ/Δ, about 1e-10
// to 1e-9 for the rings used here (N ≤ 2^15, σ = 3.2), relative to the
// values' magnitude once they exceed 1; a polynomial amplifies its input's
// error by its slope. The runner logs the largest deviation it sees: about
// 1e-8 of max(1, |y|) over all the encrypted tests. encRelTol, 1e-5 of
// max(1, |y|), leaves three orders of magnitude of margin, and still catches
// a wrong rotation or a mis-scaled plaintext, whose errors are of the order
// of the values themselves.
//
// Activations are approximated at a fixed degree: approx-activations
// otherwise searches for the cheapest degree that keeps a classifier's top
// class, which means nothing for the node tests (their outputs are not
// class scores, and often tie). Degree 15 costs 4 levels.
const (
	conformanceDegree = 15
	plainRelTol       = 1e-4
	plainAbsTol       = 1e-5
	encRelTol         = 1e-5
)

// conformanceCase is the outcome of one test directory.
type conformanceCase struct {
	name string
	ops  []string // operator types of the model (sorted), nil if it does not decode
	// err is why the test does not pass in plaintext (nil if it does).
	err error
	// encrypted is set when the test also ran encrypted; encErr says why
	// that failed.
	encrypted bool
	encErr    error
	// encDev is the largest difference between the encrypted and the
	// plaintext circuit, relative to max(1, the output's magnitude).
	encDev  float64
	seconds float64
	// panicked holds the panic and its stack, if the test panicked.
	panicked string
}

func (c *conformanceCase) status() string {
	switch {
	case c.err != nil:
		return statusSkip
	case c.encrypted && c.encErr == nil:
		return statusEncrypted
	}
	return statusPass
}

// expectation is one line of the list.
type expectation struct {
	status, reason string
}

// conformanceDirs lists the test directories by name.
func conformanceDirs() (map[string]string, error) {
	dirs := map[string]string{}
	for _, suite := range conformanceSuites {
		matches, err := filepath.Glob(filepath.Join(onnxTestData, suite, "test_*"))
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			name := filepath.Base(m)
			if suite != "node" {
				name = suite + "/" + name
			}
			dirs[name] = m
		}
	}
	return dirs, nil
}

func TestConformance(t *testing.T) {
	if _, err := os.Stat(filepath.Join(onnxTestData, "node")); err != nil {
		t.Skipf("ONNX backend test data not found at %s (install Debian's libonnx-testdata: make testdeps)", onnxTestData)
	}
	dirs, err := conformanceDirs()
	if err != nil {
		t.Fatal(err)
	}
	want, err := readConformanceList(conformanceList)
	if err != nil && !*updateConformance {
		t.Fatal(err)
	}
	names := make([]string, 0, len(dirs))
	for name := range dirs {
		names = append(names, name)
	}
	sort.Strings(names)

	start := time.Now()
	var mu sync.Mutex
	results := map[string]*conformanceCase{}
	t.Run("tests", func(t *testing.T) {
		for _, name := range names {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				exp, listed := want[name]
				// Updating tries every test encrypted, so the list marks
				// pass+encrypted exactly the tests that hold encrypted.
				encrypt := exp.status == statusEncrypted || *updateConformance
				c := runConformanceCase(name, dirs[name], encrypt)
				mu.Lock()
				results[name] = c
				mu.Unlock()
				if c.panicked != "" {
					t.Errorf("panicked: %s", c.panicked)
				}
				if *updateConformance {
					return
				}
				checkExpectation(t, c, exp, listed)
			})
		}
	})
	if t.Failed() && !*updateConformance {
		t.Logf("update the list after an intended change: go test ./compiler -run Conformance -update-conformance")
	}
	for name := range want {
		if _, ok := dirs[name]; !ok && !*updateConformance {
			t.Errorf("%s lists %s, which the test data does not contain", conformanceList, name)
		}
	}
	summarizeConformance(t, results, time.Since(start))

	if *updateConformance {
		if err := writeConformanceList(conformanceList, results, want); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s: review the new skip reasons", conformanceList)
		want, _ = readConformanceList(conformanceList)
	}
	doc := operatorsMarkdown(results, want)
	if *updateDocs {
		if err := os.WriteFile(operatorsDoc, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	old, err := os.ReadFile(operatorsDoc)
	if err != nil || string(old) != doc {
		t.Errorf("%s is stale: regenerate it with `make coverage` (go test ./compiler -run Conformance -update-docs)", operatorsDoc)
	}
}

// checkExpectation fails t when a result disagrees with its line.
func checkExpectation(t *testing.T, c *conformanceCase, exp expectation, listed bool) {
	switch {
	case !listed:
		t.Errorf("not in %s; it would be: %s", conformanceList, listLine(c, expectation{}))
	case exp.status == statusSkip && c.err == nil:
		t.Errorf("passes but is listed as skipped (%s): update %s", exp.reason, conformanceList)
	case exp.status != statusSkip && c.err != nil:
		t.Errorf("expected to pass: %v", c.err)
	case exp.status == statusEncrypted && c.encErr != nil:
		t.Errorf("expected to pass encrypted: %v", c.encErr)
	}
}

func summarizeConformance(t *testing.T, results map[string]*conformanceCase, d time.Duration) {
	count := map[string]int{}
	var slow []*conformanceCase
	var encDev float64
	for _, c := range results {
		count[c.status()]++
		slow = append(slow, c)
		if c.status() == statusEncrypted {
			encDev = max(encDev, c.encDev)
		}
	}
	sort.Slice(slow, func(i, j int) bool { return slow[i].seconds > slow[j].seconds })
	var s []string
	for _, c := range slow[:min(5, len(slow))] {
		s = append(s, fmt.Sprintf("%s %.1fs", c.name, c.seconds))
	}
	t.Logf("%d tests in %.0fs: %d pass (%d of them encrypted too, deviating from the plaintext circuit by at most %.2g of max(1, |y|)), %d skipped; slowest: %s",
		len(results), d.Seconds(), count[statusPass]+count[statusEncrypted], count[statusEncrypted], encDev, count[statusSkip], strings.Join(s, ", "))
}

// runConformanceCase compiles and runs one test directory.
func runConformanceCase(name, dir string, encrypt bool) (c *conformanceCase) {
	start := time.Now()
	c = &conformanceCase{name: name}
	defer func() { c.seconds = time.Since(start).Seconds() }()
	// A panic is a bug wherever it comes from: record it (the caller fails
	// the test) and go on with the other tests.
	defer func() {
		if r := recover(); r != nil {
			c.panicked = fmt.Sprintf("%v\n%s", r, debug.Stack())
			if c.err == nil && !c.encrypted {
				c.err = fmt.Errorf("panic: %v", r)
			} else {
				c.encErr = fmt.Errorf("panic: %v", r)
			}
		}
	}()
	m, err := onnx.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		c.err = err
		return c
	}
	c.ops = modelOps(m)
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		c.err = errors.New("the test has no data set")
		return c
	}
	for _, set := range sets {
		g, x, wantOut, err := compileConformanceCase(m, set)
		if err != nil {
			c.err = err
			return c
		}
		inputs := map[string]*ir.Tensor{g.Inputs()[0].Name: x}
		// The model (polynomials evaluated as the activations they
		// replace) must match the reference tightly, and the circuit
		// within its approximation bound.
		exact, err := ir.InterpretWith(g, inputs, ir.InterpretOptions{Exact: true})
		if err != nil {
			c.err = err
			return c
		}
		got, err := ir.Interpret(g, inputs)
		if err != nil {
			c.err = err
			return c
		}
		bound := circuitErrorBound(g)
		for _, out := range g.Outputs() {
			if c.err = compareOutput(out, exact[out.Name], wantOut[out.Name], 0); c.err != nil {
				return c
			}
			if c.err = compareOutput(out, got[out.Name], wantOut[out.Name], bound[out]); c.err != nil {
				c.err = fmt.Errorf("the circuit exceeds its approximation bound %.3g: %w", bound[out], c.err)
				return c
			}
		}
		if encrypt {
			c.encrypted = true
			if c.encDev, c.encErr = runEncrypted(name, g, x, got, wantOut, bound); c.encErr != nil {
				return c
			}
		}
	}
	return c
}

func modelOps(m *onnx.Model) []string {
	seen := map[string]bool{}
	for _, n := range m.Graph.Nodes {
		op := n.OpType
		if n.Domain != "" {
			op = n.Domain + "." + op
		}
		seen[op] = true
	}
	ops := make([]string, 0, len(seen))
	for op := range seen {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// errNothingToEncrypt marks tests whose inputs are all shapes or indices.
var errNothingToEncrypt = errors.New("no numeric input to encrypt: every input is a bool flag, a string or a sequence")

// compileConformanceCase reads a data set, encrypts the first
// floating-point graph input and binds every other input to its test value
// (weights passed as inputs stay with the server), lowers the model and runs
// the passes calibrated on the test input. It returns the circuit, the
// encrypted input's value and the reference outputs by name.
func compileConformanceCase(m *onnx.Model, set string) (*ir.Graph, *ir.Tensor, map[string]*ir.Tensor, error) {
	ins, err := readTensors(set, "input", len(m.Graph.Inputs))
	if err != nil {
		return nil, nil, nil, err
	}
	outs, err := readTensors(set, "output", len(m.Graph.Outputs))
	if err != nil {
		return nil, nil, nil, err
	}
	enc := encryptedInput(m, len(ins))
	if enc < 0 {
		return nil, nil, nil, errNothingToEncrypt
	}
	binds := map[string]*ir.Tensor{}
	for i, t := range ins {
		if i != enc {
			binds[m.Graph.Inputs[i].Name] = t
		}
	}
	low, err := Lower(m, LowerOptions{Binds: binds})
	if err != nil {
		return nil, nil, nil, err
	}
	g := low.Graph
	x := ins[enc]
	if x.Size() != g.Inputs()[0].Size() {
		return nil, nil, nil, fmt.Errorf("input %q has shape %v in the data set, %v in the model", g.Inputs()[0].Name, x.Shape, g.Inputs()[0].Shape)
	}
	x = &ir.Tensor{Shape: g.Inputs()[0].Shape, Data: x.Data}
	cfg := &passes.Config{
		Ranges: &passes.RangeSource{Samples: []*ir.Tensor{x}, Margin: DefaultMargin},
		Approx: passes.ApproxConfig{Degree: conformanceDegree},
	}
	if err := passes.Run(g, passes.Pipeline, cfg); err != nil {
		return nil, nil, nil, err
	}
	want := map[string]*ir.Tensor{}
	for i, o := range m.Graph.Outputs {
		want[o.Name] = outs[i]
	}
	return g, x, want, nil
}

// encryptedInput chooses the input the runner encrypts among the first n:
// input 0 if it is numeric (the tests put the data first), else the first
// floating-point one (float, float16, double, bfloat16, or of unknown type),
// else the first integer one (CKKS computes on integers as reals); bool
// inputs are flags. It returns -1 when there is none.
func encryptedInput(m *onnx.Model, n int) int {
	float := func(t int32) bool { return t == 0 || t == 1 || t == 10 || t == 11 || t == 16 }
	integer := func(t int32) bool { return t >= 2 && t <= 7 || t == 12 || t == 13 }
	ins := m.Graph.Inputs[:n]
	if n > 0 && (float(ins[0].ElemType) || integer(ins[0].ElemType)) {
		return 0
	}
	for _, accept := range []func(int32) bool{float, integer} {
		for i, in := range ins {
			if accept(in.ElemType) {
				return i
			}
		}
	}
	return -1
}

// readTensors reads prefix_0.pb … in a data set; want is how many the
// model declares (a test may give fewer, omitting optional inputs).
func readTensors(set, prefix string, want int) ([]*ir.Tensor, error) {
	files, _ := filepath.Glob(filepath.Join(set, prefix+"_*.pb"))
	if len(files) > want {
		return nil, fmt.Errorf("the data set has %d %ss, the model declares %d", len(files), prefix, want)
	}
	out := make([]*ir.Tensor, len(files))
	for i := range files {
		data, err := os.ReadFile(filepath.Join(set, fmt.Sprintf("%s_%d.pb", prefix, i)))
		if err != nil {
			return nil, err
		}
		if out[i], err = tensorio.ReadTensorProto(data); err != nil {
			return nil, fmt.Errorf("%s %d: %w", prefix, i, err)
		}
	}
	return out, nil
}

// compareOutput applies the output's post-processing and compares it with
// the reference within the plaintext tolerance plus extra.
func compareOutput(out *ir.Node, got, want *ir.Tensor, extra float64) error {
	if want == nil {
		return fmt.Errorf("no reference for output %q", out.Name)
	}
	got, err := ir.ApplyPost(out.Post, got)
	if err != nil {
		return err
	}
	return compareTensors(out.Name, got, want, func(w float64) float64 { return plainRelTol*math.Abs(w) + plainAbsTol + extra })
}

func compareTensors(name string, got, want *ir.Tensor, tol func(w float64) float64) error {
	if got.Size() != want.Size() || !sameShape(got.Shape, want.Shape) {
		return fmt.Errorf("output %q has shape %v, the reference %v", name, got.Shape, want.Shape)
	}
	for i, w := range want.Data {
		if d := math.Abs(got.Data[i] - w); !(d <= tol(w)) {
			return fmt.Errorf("output %q differs at %d: got %.7g, want %.7g (tolerance %.2g)", name, i, got.Data[i], w, tol(w))
		}
	}
	return nil
}

// sameShape compares shapes, taking a scalar and a one-element vector as
// the same (the IR has no rank-0 tensors).
func sameShape(a, b []int) bool {
	if slices.Equal(a, b) {
		return true
	}
	return ir.NumElements(a) == 1 && ir.NumElements(b) == 1 && len(a) <= 1 && len(b) <= 1
}

// circuitErrorBound bounds, for every node, the largest difference between
// the circuit's value and the model's over the node's elements, when the
// circuit's input is the calibration sample (so every polynomial's input
// lies in the interval its MaxErr holds on, the calibration margin covering
// the small error its input already carries):
//
//	affine  ‖W‖∞ · e(x)                     (largest row sum of |W|)
//	poly    MaxErr + Lip(p) · e(x)          (|p(x')−f(x)| ≤ |p(x')−p(x)| + |p(x)−f(x)|)
//	add     e(a) + e(b)
//	mul     |a'|·e(b) + (|b'|+e(b))·e(a)   (a', b' the circuit's values, bounded by their ranges)
//
// Lip(p) is bounded by Markov's inequality: |T_k'| ≤ k² on [-1, 1].
func circuitErrorBound(g *ir.Graph) map[*ir.Node]float64 {
	e := map[*ir.Node]float64{}
	for _, n := range g.Nodes {
		switch n.Op {
		case ir.OpAffine:
			e[n] = rowNorm(n.Linear) * e[n.Inputs[0]]
		case ir.OpPoly:
			e[n] = n.Poly.MaxErr + polyLipschitz(n.Poly, n.Inputs[0].Range.MaxAbs()+e[n.Inputs[0]])*e[n.Inputs[0]]
		case ir.OpAdd:
			e[n] = e[n.Inputs[0]] + e[n.Inputs[1]]
		case ir.OpMul:
			a, b := n.Inputs[0], n.Inputs[1]
			e[n] = a.Range.MaxAbs()*e[b] + (b.Range.MaxAbs()+e[b])*e[a]
		case ir.OpOutput:
			e[n] = e[n.Inputs[0]]
		}
	}
	return e
}

func rowNorm(l *ir.Linear) float64 {
	if l.Identity {
		return 1
	}
	var worst float64
	for r := range l.Rows {
		var s float64
		l.Row(r, func(_ int, v float64) { s += math.Abs(v) })
		worst = max(worst, s)
	}
	return worst
}

// polyLipschitz bounds |p'| where |x| ≤ r (monomial basis) or on p's
// interval (Chebyshev basis).
func polyLipschitz(p *ir.Polynomial, r float64) float64 {
	var lip float64
	for k, c := range p.Coeffs {
		if p.Basis == ir.Chebyshev {
			lip += float64(k*k) * math.Abs(c)
		} else if k > 0 {
			lip += float64(k) * math.Abs(c) * math.Pow(r, float64(k-1))
		}
	}
	if p.Basis == ir.Chebyshev {
		lip *= 2 / p.Interval.Width()
	}
	return lip
}

// runEncrypted evaluates g on x under CKKS with insecure test parameters
// and compares the decryption with the plaintext circuit (encRelTol) and,
// after post-processing, with the reference. It returns the deviation
// from the plaintext circuit relative to max(1, its magnitude).
func runEncrypted(name string, g *ir.Graph, x *ir.Tensor, plain, want map[string]*ir.Tensor, bound map[*ir.Node]float64) (float64, error) {
	outs := g.Outputs()
	if len(outs) != 1 {
		return 0, fmt.Errorf("the runtime evaluates one output, the model has %d", len(outs))
	}
	logN := max(11, g.LogSlots+1)
	pl, err := plan.Build(name, g, params.InsecureTestSet(logN, g.Depth, 40))
	if err != nil {
		return 0, err
	}
	spec := pl.Spec
	keys, err := runtime.GenerateKeys(spec, nil)
	if err != nil {
		return 0, err
	}
	ct, err := runtime.Encrypt(spec, keys.Public, x)
	if err != nil {
		return 0, err
	}
	srv, err := runtime.NewServer(&runtime.Circuit{Spec: spec, Graph: g}, keys.Eval)
	if err != nil {
		return 0, err
	}
	res, _, err := srv.Run(ct)
	if err != nil {
		return 0, err
	}
	got, err := runtime.Decrypt(spec, keys.Secret, res)
	if err != nil {
		return 0, err
	}
	out := outs[0]
	p := plain[out.Name]
	var scale, dev float64
	for i, v := range p.Data {
		scale = max(scale, math.Abs(v))
		dev = max(dev, math.Abs(got.Data[i]-v))
	}
	dev /= max(1, scale)
	encTol := encRelTol * max(1, scale)
	if err := compareTensors(out.Name, got, p, func(float64) float64 { return encTol }); err != nil {
		return dev, fmt.Errorf("encrypted result differs from the plaintext circuit: %w", err)
	}
	return dev, compareOutput(out, got, want[out.Name], bound[out]+encTol)
}

// The list: one line per test, `pass NAME`, `pass+encrypted NAME` or
// `skip NAME  REASON`; # starts a comment.
func readConformanceList(path string) (map[string]expectation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w (create it with -update-conformance)", err)
	}
	defer f.Close()
	out := map[string]expectation{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) < 2 {
			return nil, fmt.Errorf("%s:%d: want `STATUS NAME [REASON]`", path, line)
		}
		status, name := fields[0], fields[1]
		reason := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(text, status)), name))
		switch {
		case status != statusPass && status != statusEncrypted && status != statusSkip:
			return nil, fmt.Errorf("%s:%d: unknown status %q", path, line, status)
		case (status == statusSkip) != (reason != ""):
			return nil, fmt.Errorf("%s:%d: a skip needs a reason, a pass has none", path, line)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s:%d: %s is listed twice", path, line, name)
		}
		out[name] = expectation{status: status, reason: reason}
	}
	return out, sc.Err()
}

const conformanceHeader = `# Expected outcome of every ONNX backend test (libonnx-testdata) in hecc's
# conformance runner (compiler/conformance_test.go):
#   pass NAME             the plaintext circuit matches the reference outputs
#   pass+encrypted NAME   and so does its encrypted evaluation
#   skip NAME  REASON     hecc refuses the test, for REASON
# The runner fails when a test disagrees with its line. Regenerate with
#   go test ./compiler -run Conformance -update-conformance
# which keeps the reasons of tests still skipped; review new reasons by hand.
`

func listLine(c *conformanceCase, old expectation) string {
	switch s := c.status(); s {
	case statusSkip:
		reason := old.reason
		if old.status != statusSkip {
			reason = skipReason(c.err)
		}
		return fmt.Sprintf("skip %s  %s", c.name, reason)
	default:
		return s + " " + c.name
	}
}

// writeConformanceList writes passing tests by name, then skipped tests
// grouped by reason.
func writeConformanceList(path string, results map[string]*conformanceCase, old map[string]expectation) error {
	var pass, skip []string
	for _, c := range results {
		line := listLine(c, old[c.name])
		if c.err != nil {
			skip = append(skip, line)
		} else {
			pass = append(pass, line)
		}
	}
	sort.Slice(pass, func(i, j int) bool { return strings.Fields(pass[i])[1] < strings.Fields(pass[j])[1] })
	reasonOf := func(l string) string { return l[len("skip ")+len(strings.Fields(l)[1]):] }
	sort.Slice(skip, func(i, j int) bool {
		ri, rj := reasonOf(skip[i]), reasonOf(skip[j])
		if ri != rj {
			return ri < rj
		}
		return skip[i] < skip[j]
	})
	var b strings.Builder
	b.WriteString(conformanceHeader)
	b.WriteString("\n# Passing tests.\n")
	for _, l := range pass {
		b.WriteString(l + "\n")
	}
	b.WriteString("\n# Skipped tests, grouped by reason.\n")
	for _, l := range skip {
		b.WriteString(l + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

var nodePrefix = regexp.MustCompile(`^cannot compile node "[^"]*" \(([^,]+), opset \d+\): `)

// skipReason makes a one-line reason out of an error: the node's name and
// opset and the list of supported operators are dropped.
func skipReason(err error) string {
	s := err.Error()
	if m := nodePrefix.FindStringSubmatch(s); m != nil {
		s = m[1] + ": " + s[len(m[0]):]
	}
	if i := strings.Index(s, "; supported operators:"); i >= 0 {
		s = s[:i]
	}
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}
