package compiler

import (
	"bufio"
	"context"
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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
	"github.com/hecc-dev/hecc/compiler/onnxpb"
	"github.com/hecc-dev/hecc/compiler/tensorio"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
	"google.golang.org/protobuf/proto"
)

// The conformance runner compiles every test of the ONNX backend test suite
// (Debian's libonnx-testdata; `make testdeps` installs it) and checks the
// circuit against the suite's reference outputs: in plaintext for every
// test hecc compiles, and encrypted for the tests marked pass+encrypted in
// testdata/conformance.txt (every passing test the runtime can evaluate:
// one output, values the test parameters' first prime holds). The list
// states the expected outcome of every test directory (pass, refuse with a
// given error, or deviate by at most a measured amount), so a regression, a
// changed error, a newly passing test or a new test in the suite all fail
// the runner until the list says so.
//
//	go test ./compiler -run Conformance -update-conformance   # rewrite the list
//	go test ./compiler -run Conformance -update-docs          # rewrite docs/operators.md

var (
	updateConformance = flag.Bool("update-conformance", false, "rewrite testdata/conformance.txt from the actual results, keeping the tags and reasons of unchanged outcomes")
	updateDocs        = flag.Bool("update-docs", false, "rewrite docs/operators.md from the conformance results")
)

const (
	onnxTestData    = onnxtest.BackendTestData
	conformanceList = "testdata/conformance.txt"
	operatorsDoc    = "../docs/operators.md"
)

// conformanceSuites are the directories of onnxTestData the runner covers;
// a test of the node suite is named by its directory, the others by
// suite/directory.
var conformanceSuites = []string{"node", "pytorch-converted", "pytorch-operator"}

// Outcomes of a test, as the list spells them.
const (
	statusPass      = "pass"
	statusEncrypted = "pass+encrypted"
	statusRefuse    = "refuse"
	statusDeviates  = "deviates"
	// statusBroken is a test that compiles but cannot be run or gives
	// outputs of the wrong shape: a bug, which no line accepts.
	statusBroken = "broken"
)

// Tags say why a test is refused or deviates.
const (
	// tagHELimit: impossible or unreasonable under CKKS as the test states
	// it (a comparison or rounding of encrypted values, a shape that depends
	// on encrypted values, encrypted indices addressing memory, randomness,
	// nothing to encrypt).
	tagHELimit = "he-limit"
	// tagNotImplemented: could be evaluated encrypted (a polynomial
	// approximation on a calibrated range, a layout, a decoder case) but
	// hecc does not do it.
	tagNotImplemented = "not-implemented"
	// tagSuiteData: the suite's own data is at fault (a reference rounded
	// beyond float32, inputs stored in another type or shape than the
	// model declares).
	tagSuiteData = "suite-data"
	// tagReview is what -update-conformance writes for a new refusal or
	// deviation; the parser rejects it, so a person must choose.
	tagReview = "review"
)

// Tolerances.
//
// The suite's reference outputs are float32 numbers computed by numpy from
// float32 inputs; the circuit computes in float64. For exact operators the
// difference is float32 rounding of the reference and of its intermediate
// sums, so an element may differ by plainRelTol of its magnitude, plus
// plainAbsTol for results that cancel to (nearly) zero.
//
// An approximated activation adds the error of its polynomial. The runner
// propagates each polynomial's bound MaxErr through the rest of the circuit
// (circuitErrorBound) and checks that the circuit stays within it, but that
// bound is the compiler's own claim and can be loose by orders of
// magnitude, so it is no tolerance: the list gives every test whose circuit
// holds an approximation a tolerance tol=E, tolFactor times the measured
// largest |circuit − reference|, and the runner fails when the deviation
// exceeds E or falls below E/tolFactor² (a stale, loose tolerance). A test
// listed as deviates is held to its tol=E the same way.
//
// Encrypted results are compared with the plaintext circuit. At scale
// Δ = 2^40 encoding, encryption, each rescale and each key switch (the
// rotations of the linear maps) add an error of order √N·σ/Δ, about 1e-10
// to 1e-9 for the rings used here (N ≤ 2^15, σ = 3.2), relative to the
// values' magnitude once they exceed 1; a polynomial amplifies its input's
// error by its slope, and a composite sign's steep stages by far more than
// a single fit. The runner logs the largest deviation it sees over all the
// encrypted tests; encRelTol of max(1, |y|) is a small multiple of it, and
// catches a wrong rotation or a mis-scaled plaintext, whose errors are of
// the order of the values themselves.
//
// Activations are approximated as hecc compile approximates them, by the
// degree search, calibrated on the test's own input, under the tolerance
// criterion at its default target: the node tests' outputs are tensors,
// not class scores (a [1, N] output would be read as one, and often ties).
const (
	plainRelTol = 1e-4
	plainAbsTol = 1e-5
	encRelTol   = 1e-6
	tolFactor   = 4
)

// conformanceCase is the outcome of one test directory.
type conformanceCase struct {
	name string
	ops  []string // operator types of the model (sorted), nil if it does not decode
	// refused is why the test did not compile: decoding the model or its
	// data, lowering or the passes failed.
	refused error
	// broken is why a compiled test could not be checked: the interpreter
	// failed, an output has the wrong shape, or something panicked.
	broken error
	// mismatch is the first output beyond the plaintext tolerance (of the
	// model with exact activations, or of the circuit beyond its bound).
	mismatch error
	// dev is the largest |circuit − reference| over the outputs and data
	// sets (the model's with exact activations, if larger); approx is set
	// when the circuit holds a polynomial approximation.
	dev    float64
	approx bool
	// encrypted is set when the test also ran encrypted; encErr says why
	// that failed.
	encrypted bool
	encErr    error
	// encDev is the largest difference between the encrypted and the
	// plaintext circuit, relative to max(1, the output's magnitude).
	encDev float64
	// encRefDev is the largest |encrypted result − reference|: the
	// list's tolerances hold the plaintext circuit's deviation, which
	// CKKS noise does not make vary from run to run.
	encRefDev float64
	seconds   float64
	// panicked holds the panic and its stack, if the test panicked.
	panicked string
}

func (c *conformanceCase) status() string {
	switch {
	case c.refused != nil:
		return statusRefuse
	case c.broken != nil:
		return statusBroken
	case c.mismatch != nil:
		return statusDeviates
	case c.encrypted && c.encErr == nil:
		return statusEncrypted
	}
	return statusPass
}

// expectation is one line of the list.
type expectation struct {
	status string
	tag    string  // refuse, deviates: tagHELimit, tagNotImplemented or tagSuiteData
	tol    float64 // pass with approximations, deviates: the largest |circuit − reference| accepted
	hasTol bool
	match  string // refuse: a substring of the error
	reason string // refuse (optional), deviates: why
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
	onnxtest.NeedBackendTestData(t, filepath.Join(onnxTestData, "node"))
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
				if !listed {
					t.Errorf("not in %s; it would be: %s", conformanceList, listLine(c, expectation{}))
				} else if err := checkExpectation(c, exp); err != nil {
					t.Error(err)
				}
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
		t.Logf("wrote %s: review the lines tagged %q", conformanceList, tagReview)
		if want, err = readConformanceList(conformanceList); err != nil {
			t.Fatal(err)
		}
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

// activationModels are the suite's whole models of one activation, which
// hecc must reproduce encrypted within maxActivationModelError of the
// reference: the accuracy a user compiling them with their own input as
// calibration gets, whatever the list's tolerances say.
var activationModels = []string{"ReLU", "LeakyReLU", "PReLU_2d", "Sigmoid", "Tanh", "Softplus"}

const maxActivationModelError = 1e-2

func TestConformanceActivationModels(t *testing.T) {
	onnxtest.NeedBackendTestData(t, filepath.Join(onnxTestData, "pytorch-converted"))
	for _, act := range activationModels {
		name := "pytorch-converted/test_" + act
		t.Run(act, func(t *testing.T) {
			c := runConformanceCase(name, filepath.Join(onnxTestData, name), true)
			switch {
			case c.status() != statusEncrypted:
				t.Fatalf("%s: want it evaluated encrypted, got %s (refused: %v; broken: %v; mismatch: %v; encrypted: %v)", name, c.status(), c.refused, c.broken, c.mismatch, c.encErr)
			case !c.approx:
				t.Fatalf("%s: the circuit holds no approximation", name)
			case !(c.encRefDev <= maxActivationModelError):
				t.Errorf("%s: encrypted, max |error| %.3g, over %g", name, c.encRefDev, maxActivationModelError)
			}
			t.Logf("%s: encrypted, max |error| %.2g (the plaintext circuit's %.2g)", name, c.encRefDev, c.dev)
		})
	}
}

// checkExpectation says how a result disagrees with its line, or nil.
func checkExpectation(c *conformanceCase, exp expectation) error {
	got := c.status()
	if got == statusBroken {
		return fmt.Errorf("compiled but could not be checked: %v", c.broken)
	}
	what := func() string {
		switch got {
		case statusRefuse:
			return fmt.Sprintf("refused: %v", c.refused)
		case statusDeviates:
			return fmt.Sprintf("compiled and deviates by %.3g: %v", c.dev, c.mismatch)
		}
		return "compiled and passes"
	}
	switch exp.status {
	case statusRefuse:
		if got != statusRefuse {
			return fmt.Errorf("listed as refuse (%q) but %s", exp.match, what())
		}
		if !strings.Contains(c.refused.Error(), exp.match) {
			return fmt.Errorf("refused with %q, expected an error containing %q", c.refused, exp.match)
		}
		return nil
	case statusDeviates:
		if got != statusDeviates {
			return fmt.Errorf("listed as deviates (tol=%.3g) but %s", exp.tol, what())
		}
		return checkTol(c, exp)
	}
	if got != statusPass && got != statusEncrypted {
		return fmt.Errorf("listed as %s but %s", exp.status, what())
	}
	if exp.status == statusEncrypted && c.encErr != nil {
		return fmt.Errorf("listed as %s but fails encrypted: %v", exp.status, c.encErr)
	}
	if c.approx != exp.hasTol {
		if c.approx {
			return fmt.Errorf("the circuit holds approximations (deviation %.3g): the line needs tol=", c.dev)
		}
		return fmt.Errorf("listed with tol=%.3g but the circuit is exact", exp.tol)
	}
	if exp.hasTol {
		return checkTol(c, exp)
	}
	return nil
}

// checkTol holds the measured deviation between the line's tolerance and
// tolFactor² below it.
func checkTol(c *conformanceCase, exp expectation) error {
	switch {
	case !(c.dev <= exp.tol):
		return fmt.Errorf("deviates by %.3g from the reference, more than the listed tol=%.3g", c.dev, exp.tol)
	case c.dev*tolFactor*tolFactor < exp.tol:
		return fmt.Errorf("deviates by %.3g from the reference, far below the listed tol=%.3g: lower it to %s", c.dev, exp.tol, formatTol(c.dev))
	}
	return nil
}

// formatTol is the tolerance the list gives a measured deviation.
func formatTol(dev float64) string {
	return strconv.FormatFloat(roundUp2(tolFactor*dev), 'g', 2, 64)
}

// roundUp2 rounds x > 0 up to two significant digits.
func roundUp2(x float64) float64 {
	if x <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(x))-1)
	return math.Ceil(x/p) * p
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
	t.Logf("%d tests in %.0fs: %d pass (%d of them encrypted too, deviating from the plaintext circuit by at most %.2g of max(1, |y|)), %d refused, %d deviate, %d broken; slowest: %s",
		len(results), d.Seconds(), count[statusPass]+count[statusEncrypted], count[statusEncrypted], encDev,
		count[statusRefuse], count[statusDeviates], count[statusBroken], strings.Join(s, ", "))
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
			if c.encrypted {
				c.encErr = fmt.Errorf("panic: %v", r)
			} else {
				c.broken = fmt.Errorf("panic: %v", r)
			}
		}
	}()
	m, err := onnx.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		c.refused = err
		return c
	}
	c.ops = modelOps(m)
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		c.refused = errors.New("the test has no data set")
		return c
	}
	type compiled struct {
		g       *ir.Graph
		x       *ir.Tensor
		wantOut map[string]*ir.Tensor
	}
	var circuits []compiled
	for _, set := range sets {
		g, x, wantOut, err := compileConformanceCase(m, set)
		if err != nil {
			c.refused = err
			return c
		}
		circuits = append(circuits, compiled{g, x, wantOut})
	}
	var plain []map[string]*ir.Tensor
	var bounds []map[*ir.Node]float64
	for _, k := range circuits {
		inputs := map[string]*ir.Tensor{k.g.Inputs()[0].Name: k.x}
		// The model (polynomials evaluated as the activations they
		// replace) must match the reference tightly, and the circuit
		// within its approximation bound.
		exact, err := ir.InterpretWith(k.g, inputs, ir.InterpretOptions{Exact: true})
		if err != nil {
			c.broken = err
			return c
		}
		got, err := ir.Interpret(k.g, inputs)
		if err != nil {
			c.broken = err
			return c
		}
		bound := circuitErrorBound(k.g)
		for _, out := range k.g.Outputs() {
			c.approx = c.approx || bound[out] > 0
			for _, v := range []struct {
				got   *ir.Tensor
				extra float64
				what  string
			}{{exact[out.Name], 0, "the model with exact activations"}, {got[out.Name], bound[out], fmt.Sprintf("the circuit (approximation bound %.3g)", bound[out])}} {
				dev, err := compareOutput(out, v.got, k.wantOut[out.Name], v.extra)
				if errors.Is(err, errShape) || (err != nil && !errors.Is(err, errMismatch)) {
					c.broken = err
					return c
				}
				c.dev = max(c.dev, dev)
				if err != nil && c.mismatch == nil {
					c.mismatch = fmt.Errorf("%s: %w", v.what, err)
				}
			}
		}
		plain = append(plain, got)
		bounds = append(bounds, bound)
	}
	if !encrypt || c.mismatch != nil {
		return c
	}
	c.encrypted = true
	for i, k := range circuits {
		dev, refDev, err := runEncrypted(name, k.g, k.x, plain[i], k.wantOut, bounds[i])
		c.encDev = max(c.encDev, dev)
		c.encRefDev = max(c.encRefDev, refDev)
		if err != nil {
			c.encErr = err
			return c
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
	ins, types, err := readTensors(set, "input", len(m.Graph.Inputs))
	if err != nil {
		return nil, nil, nil, err
	}
	// The values are read by the data set's type: one the model does not
	// declare means other values than the model's (bfloat16 stored as its
	// uint16 bits).
	for i, t := range types {
		if d := m.Graph.Inputs[i].ElemType; d != 0 && d != t {
			return nil, nil, nil, fmt.Errorf("the data set's input %d is %s, the model declares %s",
				i, onnxpb.TensorProto_DataType(t), onnxpb.TensorProto_DataType(d))
		}
	}
	outs, _, err := readTensors(set, "output", len(m.Graph.Outputs))
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
		Approx: passes.ApproxConfig{Criterion: passes.Tolerance},
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
// model declares (a test may give fewer, omitting optional inputs). It
// returns the tensors and their ONNX data types.
func readTensors(set, prefix string, want int) ([]*ir.Tensor, []int32, error) {
	files, _ := filepath.Glob(filepath.Join(set, prefix+"_*.pb"))
	if len(files) > want {
		return nil, nil, fmt.Errorf("the data set has %d %ss, the model declares %d", len(files), prefix, want)
	}
	out := make([]*ir.Tensor, len(files))
	types := make([]int32, len(files))
	for i := range files {
		data, err := os.ReadFile(filepath.Join(set, fmt.Sprintf("%s_%d.pb", prefix, i)))
		if err != nil {
			return nil, nil, err
		}
		if out[i], err = tensorio.ReadTensorProto(data); err != nil {
			return nil, nil, fmt.Errorf("%s %d: %w", prefix, i, err)
		}
		var tp onnxpb.TensorProto
		if err := proto.Unmarshal(data, &tp); err != nil {
			return nil, nil, fmt.Errorf("%s %d: %w", prefix, i, err)
		}
		types[i] = tp.GetDataType()
	}
	return out, types, nil
}

var (
	errShape    = errors.New("wrong output shape")
	errMismatch = errors.New("output beyond tolerance")
)

// compareOutput applies the output's post-processing and compares it with
// the reference within the plaintext tolerance plus extra. It returns the
// largest difference, and an error wrapping errShape or errMismatch.
func compareOutput(out *ir.Node, got, want *ir.Tensor, extra float64) (float64, error) {
	if want == nil {
		return 0, fmt.Errorf("%w: no reference for output %q", errShape, out.Name)
	}
	got, err := ir.ApplyPost(out.Post, got)
	if err != nil {
		return 0, err
	}
	return compareTensors(out.Name, got, want, func(w float64) float64 { return plainRelTol*math.Abs(w) + plainAbsTol + extra })
}

// compareTensors returns the largest |got − want| and an error for the
// first element beyond tol.
func compareTensors(name string, got, want *ir.Tensor, tol func(w float64) float64) (float64, error) {
	if got.Size() != want.Size() || !sameShape(got.Shape, want.Shape) {
		return math.Inf(1), fmt.Errorf("%w: output %q has shape %v, the reference %v", errShape, name, got.Shape, want.Shape)
	}
	var dev float64
	var err error
	for i, w := range want.Data {
		d := math.Abs(got.Data[i] - w)
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		dev = max(dev, d)
		if !(d <= tol(w)) && err == nil {
			err = fmt.Errorf("%w: output %q differs at %d: got %.7g, want %.7g (tolerance %.2g)", errMismatch, name, i, got.Data[i], w, tol(w))
		}
	}
	return dev, err
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

// maxConformanceKeyBytes bounds the evaluation keys of one encrypted test.
const maxConformanceKeyBytes = 2 << 30

// maxConformanceLogN bounds the ring of one encrypted test: a larger one's
// diagonals alone take gigabytes.
const maxConformanceLogN = 15

// runEncrypted evaluates g on x under CKKS with insecure test parameters
// and compares the decryption with the plaintext circuit (encRelTol) and,
// after post-processing, with the reference. It returns the deviation
// from the plaintext circuit relative to max(1, its magnitude), and the
// largest |decryption − reference|.
func runEncrypted(name string, g *ir.Graph, x *ir.Tensor, plain, want map[string]*ir.Tensor, bound map[*ir.Node]float64) (float64, float64, error) {
	outs := g.Outputs()
	if len(outs) != 1 {
		return 0, 0, fmt.Errorf("the runtime evaluates one output, the model has %d", len(outs))
	}
	logN := max(11, g.LogSlots+1)
	if logN > maxConformanceLogN {
		return 0, 0, fmt.Errorf("its layout needs a ring of 2^%d, over the 2^%d the runner checks encrypted", logN, maxConformanceLogN)
	}
	pl, err := plan.Build(name, g, params.InsecureTestSet(logN, g.Depth, 40))
	if err != nil {
		return 0, 0, err
	}
	spec := pl.Spec
	// Two tests run at once: a deep circuit's keys (a tree of maxima at
	// logN 15) would not fit beside another's, so it is checked in
	// plaintext only.
	sizes, err := runtime.PredictSizes(spec)
	if err != nil {
		return 0, 0, err
	}
	if sizes.EvalKeysMemory > maxConformanceKeyBytes {
		return 0, 0, fmt.Errorf("%d MiB of evaluation keys, over the %d MiB the runner allows a test", sizes.EvalKeysMemory>>20, maxConformanceKeyBytes>>20)
	}
	keys, err := runtime.GenerateKeys(spec, nil)
	if err != nil {
		return 0, 0, err
	}
	ct, err := runtime.Encrypt(spec, keys.Public, x)
	if err != nil {
		return 0, 0, err
	}
	srv, err := runtime.NewServer(&runtime.Circuit{Spec: spec, Graph: g}, keys.Eval)
	if err != nil {
		return 0, 0, err
	}
	res, _, err := srv.Run(context.Background(), ct)
	if err != nil {
		return 0, 0, err
	}
	got, err := runtime.Decrypt(spec, keys.Secret, res)
	if err != nil {
		return 0, 0, err
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
	if _, err := compareTensors(out.Name, got, p, func(float64) float64 { return encTol }); err != nil {
		return dev, 0, fmt.Errorf("encrypted result differs from the plaintext circuit: %w", err)
	}
	refDev, err := compareOutput(out, got, want[out.Name], bound[out]+encTol)
	return dev, refDev, err
}

// readConformanceList reads the list (its syntax is in conformanceHeader).
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
		name, exp, err := parseListLine(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s:%d: %s is listed twice", path, line, name)
		}
		out[name] = exp
	}
	return out, sc.Err()
}

// parseListLine reads `STATUS NAME [TAG] [tol=E] [| MATCH] [| REASON]`.
func parseListLine(text string) (string, expectation, error) {
	parts := strings.Split(text, " | ")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	head := strings.Fields(parts[0])
	if len(head) < 2 {
		return "", expectation{}, errors.New("want `STATUS NAME …`")
	}
	exp := expectation{status: head[0]}
	name, rest := head[1], head[2:]
	if len(rest) > 0 && (exp.status == statusRefuse || exp.status == statusDeviates) {
		exp.tag, rest = rest[0], rest[1:]
		if exp.tag != tagHELimit && exp.tag != tagNotImplemented && exp.tag != tagSuiteData {
			return "", expectation{}, fmt.Errorf("%s: tag %q: want %s, %s or %s", name, exp.tag, tagHELimit, tagNotImplemented, tagSuiteData)
		}
	}
	if len(rest) > 0 && strings.HasPrefix(rest[0], "tol=") {
		tol, err := strconv.ParseFloat(strings.TrimPrefix(rest[0], "tol="), 64)
		if err != nil || tol < 0 || math.IsInf(tol, 0) {
			return "", expectation{}, fmt.Errorf("%s: bad tolerance %q", name, rest[0])
		}
		exp.tol, exp.hasTol, rest = tol, true, rest[1:]
	}
	if len(rest) > 0 {
		return "", expectation{}, fmt.Errorf("%s: unexpected %q", name, strings.Join(rest, " "))
	}
	texts := parts[1:]
	switch exp.status {
	case statusPass, statusEncrypted:
		if len(texts) > 0 {
			return "", expectation{}, fmt.Errorf("%s: a pass has no reason", name)
		}
	case statusRefuse:
		if exp.tag == "" || len(texts) < 1 || len(texts) > 2 || texts[0] == "" || exp.hasTol {
			return "", expectation{}, fmt.Errorf("%s: want `refuse NAME TAG | ERROR SUBSTRING [| REASON]`", name)
		}
		exp.match = texts[0]
		if len(texts) == 2 {
			exp.reason = texts[1]
		}
	case statusDeviates:
		if exp.tag == "" || !exp.hasTol || len(texts) != 1 || texts[0] == "" {
			return "", expectation{}, fmt.Errorf("%s: want `deviates NAME TAG tol=E | REASON`", name)
		}
		exp.reason = texts[0]
	default:
		return "", expectation{}, fmt.Errorf("%s: unknown status %q", name, exp.status)
	}
	return name, exp, nil
}

const conformanceHeader = `# Expected outcome of every ONNX backend test (libonnx-testdata) in hecc's
# conformance runner (compiler/conformance_test.go), one line per test:
#
#   pass NAME [tol=E]
#       the plaintext circuit matches the reference outputs; a circuit with
#       polynomial approximations deviates from them by at most E
#   pass+encrypted NAME [tol=E]
#       and so does its encrypted evaluation
#   refuse NAME TAG | ERROR SUBSTRING [| REASON]
#       hecc refuses to compile the test, with an error containing the
#       substring; REASON says why when the error does not
#   deviates NAME TAG tol=E | REASON
#       hecc compiles and runs the test, and its outputs differ from the
#       reference by at most E (and beyond the tolerance of a pass)
#
# TAG is he-limit (impossible or unreasonable under CKKS as the test states
# it: comparing, rounding or testing encrypted values, shapes or memory
# addresses that depend on encrypted values, randomness, nothing to
# encrypt), not-implemented (could be evaluated encrypted: a polynomial
# approximation on a calibrated range, a layout, a decoder case) or
# suite-data (the suite's data is at fault: a rounded reference, inputs
# stored in another type or shape than the model declares).
# Each E is 4 (tolFactor) times the deviation measured when the line was
# written; the runner fails when the deviation exceeds E or drops below
# E/16. It fails on any test that disagrees with its line. Regenerate with
#   go test ./compiler -run Conformance -update-conformance
# which keeps the tags and reasons of unchanged outcomes and writes the tag
# "review" (which this parser rejects) on the others: choose by hand.
#   grep -c '^refuse .* he-limit ' compiler/testdata/conformance.txt
`

// listLine is the line of the list for c; old is its previous line, whose
// tag, error substring and reason stay while the outcome is the same.
func listLine(c *conformanceCase, old expectation) string {
	tol := ""
	if c.approx || c.status() == statusDeviates {
		tol = " tol=" + formatTol(c.dev)
	}
	tag, reason := tagReview, ""
	if old.status == c.status() {
		tag, reason = old.tag, old.reason
	}
	switch s := c.status(); s {
	case statusRefuse:
		match := old.match
		if old.status != statusRefuse || !strings.Contains(c.refused.Error(), match) {
			match, tag = errorCore(c.refused), tagReview
		}
		line := fmt.Sprintf("refuse %s %s | %s", c.name, tag, match)
		if reason != "" {
			line += " | " + reason
		}
		return line
	case statusDeviates:
		if reason == "" {
			reason = errorCore(c.mismatch)
		}
		return fmt.Sprintf("deviates %s %s%s | %s", c.name, tag, tol, reason)
	case statusBroken:
		return fmt.Sprintf("# broken %s: %s", c.name, errorCore(c.broken))
	default:
		return s + " " + c.name + tol
	}
}

// writeConformanceList writes passing tests by name, then refused and
// deviating tests grouped by tag and reason.
func writeConformanceList(path string, results map[string]*conformanceCase, old map[string]expectation) error {
	var pass, other []string
	for _, c := range results {
		line := listLine(c, old[c.name])
		if s := c.status(); s == statusPass || s == statusEncrypted {
			pass = append(pass, line)
		} else {
			other = append(other, line)
		}
	}
	nameOf := func(l string) string { return strings.Fields(l)[1] }
	sort.Slice(pass, func(i, j int) bool { return nameOf(pass[i]) < nameOf(pass[j]) })
	// Group by status, tag, and what follows the first " | ".
	key := func(l string) string {
		f := strings.Fields(l)
		_, after, _ := strings.Cut(l, " | ")
		return f[0] + " " + f[2] + " " + after + " " + f[1]
	}
	sort.Slice(other, func(i, j int) bool { return key(other[i]) < key(other[j]) })
	var b strings.Builder
	b.WriteString(conformanceHeader)
	b.WriteString("\n# Passing tests.\n")
	for _, l := range pass {
		b.WriteString(l + "\n")
	}
	b.WriteString("\n# Refused and deviating tests, grouped by tag and reason.\n")
	for _, l := range other {
		b.WriteString(l + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

var nodePrefix = regexp.MustCompile(`^cannot compile node "[^"]*" \([^,]+, opset \d+\): `)

// errorCore is the part of an error a list line quotes: without the node's
// name and opset, the test data's path and the list of supported operators,
// on one line, at most 160 bytes, and still a substring of the error.
func errorCore(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, onnxTestData); i >= 0 {
		if j := strings.Index(s[i:], ": "); j >= 0 {
			s = s[i+j+2:]
		}
	}
	if m := nodePrefix.FindString(s); m != "" {
		s = s[len(m):]
	}
	if i := strings.Index(s, "; supported operators:"); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexAny(s, "\n|"); i >= 0 {
		s = s[:i]
	}
	for len(s) > 160 {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return strings.TrimSpace(s)
}
