package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/compiler/tensorio"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
	"github.com/urfave/cli/v2"
)

func compileCommand() *cli.Command {
	return &cli.Command{
		Name:      "compile",
		Usage:     "compile an ONNX model into a circuit (.hec, for the server) and its spec (.spec, for the client)",
		ArgsUsage: "MODEL.onnx",
		Description: fmt.Sprintf(`Lowers the model to hecc's HE IR, composes consecutive linear layers, picks
the smallest secure CKKS parameters that fit the circuit's depth, precision and
size, and writes:

  model.hec   circuit, weights and parameters: keep it on the server
  model.spec  parameters, input/output layout and rotations, no weights:
              give it to the client for keygen, encrypt and decrypt

Value ranges size the first prime (and, for ReLU-like activations, the
interval they are approximated on): give sample inputs with --calibration, or
a bound on every input value with --input-range.

Every input value sits in one slot, so that whatever a client encrypts, a
query is one prediction. With --client-copies, when the model starts with a
2-D convolution, the client lays its input out with copies of its values so
that the convolution is cheap: in one ciphertext per kernel position when
they fit in --max-input-slots slots in all (the convolution then needs no
rotation and no key, the client uploads more), else in one ciphertext with a
copy per kernel row. The server cannot make a hostile client's copies agree:
use it only for a client trusted with more than one prediction per query.

Circuit privacy is on by default: the server floods each result with a fresh
encryption of zero whose error is 2^λ times the bound of its own (λ = %d
bits, --circuit-privacy-bits), so that the client learns nothing of the
weights from the result's noise. The parameters pay for the precision this
takes (a larger scale, two primes per level, sometimes a larger ring), hecc
run needs the client's public.key, and a model that cannot afford λ is
refused with the largest λ it affords. --no-circuit-privacy is for a client
trusted with the weights anyway.

Examples:
  hecc compile model.onnx -o model.hec --calibration samples.npy
  hecc compile model.onnx --input-range 0,1 --security 192
  hecc compile conv.onnx --bind W=weights.pb -o conv.hec
  hecc compile model.onnx --input-range 0,1 --no-circuit-privacy`, plan.DefaultCircuitPrivacyBits),
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "circuit file to write (default: MODEL.hec)"},
			&cli.StringFlag{Name: "spec", Usage: "spec file to write (default: the circuit's name with .spec)"},
			&cli.IntFlag{Name: "security", Value: compiler.DefaultSecurity, Usage: "security level in bits: 128, 192 or 256"},
			&cli.StringFlag{Name: "calibration", Usage: "sample inputs (.npy, or .npz: its array x, else all arrays): first axis indexes samples, the rest is the input shape"},
			&cli.StringFlag{Name: "input-range", Usage: "`LO,HI` bound on every input value, for interval arithmetic without calibration"},
			&cli.Float64Flag{Name: "margin", Value: compiler.DefaultMargin, Usage: "widen calibrated ranges by this fraction of their width"},
			&cli.StringSliceFlag{Name: "bind", Usage: "`NAME=FILE` freeze graph input NAME to the tensor in FILE (.npy or .pb); it stays on the server (repeatable)"},
			&cli.IntFlag{Name: "min-scale-bits", Value: compiler.DefaultMinLogScale, Usage: "least CKKS scale in bits (precision floor)"},
			&cli.IntFlag{Name: "degree", DefaultText: "the cheapest that meets the accuracy criterion", Usage: "fix the degree of every activation's polynomial"},
			&cli.StringFlag{Name: "criterion", Usage: "what the circuit must keep of the model's output on held-out calibration samples: top1 (a class vector's top class), threshold (one output's decision: 0.5 after a Sigmoid, else 0), tolerance (max |error| relative to the output's range), cosine (similarity, for embeddings); default: detected from the output"},
			&cli.Float64Flag{Name: "agreement", Value: passes.DefaultAgreement, Usage: "top1 and threshold: fraction of new inputs whose top class or decision the circuit must keep, as --confidence bounds it from the held-out calibration samples"},
			&cli.Float64Flag{Name: "headroom", Value: passes.DefaultHeadroom, Usage: "top1 and threshold: a held-out decision is at risk when the circuit's output error scaled by this factor flips it; the share at risk divided by the factor bounds the share of new inputs the circuit's error flips"},
			&cli.Float64Flag{Name: "confidence", Value: passes.DefaultConfidence, Usage: "top1 and threshold: confidence of the bound on agreement that --agreement is checked against"},
			&cli.Float64Flag{Name: "tolerance", Value: passes.DefaultTolerance, Usage: "tolerance: largest output error allowed, relative to the output's range over the calibration samples"},
			&cli.Float64Flag{Name: "cosine", Value: passes.DefaultCosine, Usage: "cosine: least cosine similarity allowed between the circuit's output and the model's"},
			&cli.IntFlag{Name: "max-depth", Value: 7, Usage: "most levels one activation's polynomial may take"},
			&cli.IntFlag{Name: "max-input-slots", Value: passes.DefaultMaxInputSlots, Usage: "with --client-copies: most slots the client's input may take over all its ciphertexts"},
			&cli.BoolFlag{Name: "client-copies", Usage: "let the client lay a first convolution's input out with copies of its values (fewer rotation keys; a hostile client then gets more than one prediction per query)"},
			&cli.StringFlag{Name: "input-scale", Usage: "`S` multiplies a raw input value (e.g. 1/255 for pixels) before --input-mean and --input-std; recorded in the spec, applied by hecc encrypt and hecc query"},
			&cli.StringFlag{Name: "input-mean", Usage: "`M[,M...]` subtracted from the scaled input: one value, or one per channel"},
			&cli.StringFlag{Name: "input-std", Usage: "`D[,D...]` divides the scaled, centred input: one value, or one per channel"},
			&cli.StringFlag{Name: "name", Usage: "model name recorded in the spec (default: the file name)"},
			&cli.BoolFlag{Name: "batch", Usage: "compile for throughput: every slot holds another input, each input value is a ciphertext, no rotation keys (hecc encrypt then takes inputs along a leading axis)"},
			&cli.IntFlag{Name: "batch-size", DefaultText: "every slot of the ring", Usage: "with --batch: the most inputs a batch holds (the ring is chosen to hold them)"},
			&cli.BoolFlag{Name: "ir", Usage: "print the IR after the passes"},
		}, circuitPrivacyFlags()...),
		Action: runCompile,
	}
}

func runCompile(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("compile takes one ONNX file (see hecc compile --help)")
	}
	model := c.Args().First()
	opts := compiler.Options{
		Name:        c.String("name"),
		Security:    c.Int("security"),
		Margin:      c.Float64("margin"),
		MinLogScale: c.Int("min-scale-bits"),
		Binds:       map[string]*ir.Tensor{},
		Approx: passes.ApproxConfig{Degree: c.Int("degree"), Agreement: c.Float64("agreement"), Tolerance: c.Float64("tolerance"),
			Cosine: c.Float64("cosine"), MaxDepth: c.Int("max-depth"), Headroom: c.Float64("headroom"),
			Confidence: c.Float64("confidence")},
		MaxInputSlots: c.Int("max-input-slots"),
		ClientCopies:  c.Bool("client-copies"),
		Progress:      searchProgress(os.Stderr),
		Batch:         c.Bool("batch"),
		BatchSize:     c.Int("batch-size"),
	}
	bits, err := circuitPrivacyBits(c)
	if err != nil {
		return err
	}
	opts.CircuitPrivacyBits = bits
	if opts.BatchSize < 0 || (opts.BatchSize > 0 && !opts.Batch) {
		return usageError("--batch-size %d: expected a positive size, with --batch", opts.BatchSize)
	}
	crit, err := passes.ParseCriterion(c.String("criterion"))
	if err != nil {
		return usageError("--criterion: %v", err)
	}
	opts.Approx.Criterion = crit
	if t := opts.Approx.Tolerance; !(t > 0) {
		return usageError("--tolerance %g: expected a positive fraction of the output's range", t)
	}
	if s := opts.Approx.Cosine; !(s > 0 && s <= 1) {
		return usageError("--cosine %g: expected a similarity in (0, 1]", s)
	}
	if opts.MaxInputSlots < 1 {
		return usageError("--max-input-slots %d: expected at least 1", opts.MaxInputSlots)
	}
	if a := opts.Approx.Agreement; a <= 0 || a > 1 {
		return usageError("--agreement %g: expected a fraction in (0, 1]", a)
	}
	if h := opts.Approx.Headroom; !(h >= 1 && h <= 100) {
		return usageError("--headroom %g: expected a factor from 1 to 100", h)
	}
	if p := opts.Approx.Confidence; !(p >= 0.5 && p < 1) {
		return usageError("--confidence %g: expected a probability in [0.5, 1)", p)
	}
	if d := opts.Approx.Degree; d < 0 || d > 1023 {
		return usageError("--degree %d: expected 1 to 1023", d)
	}
	if b := opts.MinLogScale; b < 10 || b > compiler.MaxLogScale {
		return usageError("--min-scale-bits %d: expected 10 to %d", b, compiler.MaxLogScale)
	}
	if s := opts.Security; !slices.Contains(params.Levels, s) {
		if s < params.Levels[0] {
			return fmt.Errorf("%w: --security %d: hecc keeps %d bits or more (one of %v)", params.ErrInsecure, s, params.Levels[0], params.Levels)
		}
		return usageError("--security %d: expected one of %v", s, params.Levels)
	}
	if opts.Name == "" {
		opts.Name = strings.TrimSuffix(filepath.Base(model), filepath.Ext(model))
	}
	for _, b := range c.StringSlice("bind") {
		name, file, ok := strings.Cut(b, "=")
		if !ok || name == "" || file == "" {
			return usageError("--bind %q: expected NAME=FILE", b)
		}
		t, err := tensorio.ReadFile(file)
		if err != nil {
			return fmt.Errorf("--bind %s: %w", name, err)
		}
		opts.Binds[name] = t
	}
	if r := c.String("input-range"); r != "" {
		iv, err := parseRange(r)
		if err != nil {
			return usageError("--input-range %q: %v", r, err)
		}
		opts.InputRange = iv
	}
	if f := c.String("calibration"); f != "" {
		t, err := readSamples(f)
		if err != nil {
			return fmt.Errorf("--calibration: %w", err)
		}
		opts.Calibration = t
	}
	scaling, err := inputScaling(c)
	if err != nil {
		return err
	}
	res, err := compiler.CompileFile(model, opts)
	if err != nil {
		return privacyAdvice(c, err)
	}
	if scaling != nil {
		res.Spec.InputScaling = scaling
		if err := res.Spec.Validate(); err != nil {
			return usageError("--input-scale, --input-mean, --input-std: %v", err)
		}
	}
	out := c.String("output")
	if out == "" {
		out = replaceExt(model, ".hec")
	}
	specPath := c.String("spec")
	if specPath == "" {
		specPath = replaceExt(out, ".spec")
	}
	hec, err := runtime.EncodeCircuit(&runtime.Circuit{Spec: res.Spec, Graph: res.Graph})
	if err != nil {
		return err
	}
	spec, err := runtime.EncodeSpec(res.Spec)
	if err != nil {
		return err
	}
	sizes, err := runtime.PredictCircuitSizes(&runtime.Circuit{Spec: res.Spec, Graph: res.Graph})
	if err != nil {
		return err
	}
	// The circuit holds the weights: readable by its owner only.
	if err := writeFile(out, hec, 0o600); err != nil {
		return err
	}
	if err := writeFile(specPath, spec, 0o644); err != nil {
		return err
	}
	fmt.Print(summary(res.Report, res.Spec, sizes), res.Report.Text(), sizes.Text())
	if sc := res.Spec.InputScaling; sc != nil {
		fmt.Printf("  input scaling: %s, applied by hecc encrypt and hecc query\n", scalingText(sc))
	}
	if c.Bool("ir") {
		fmt.Print(res.Graph)
	}
	fmt.Printf("wrote %s (server) and %s (client), compile %s\n", out, specPath, res.Spec.ShortFingerprint())
	return nil
}

// searchProgress shows the degree search on w once it has run for
// progressAfter, at most once per progressEvery, and its end when it ran
// that long: a compile that takes seconds stays quiet.
func searchProgress(w io.Writer) func(passes.SearchProgress) {
	const progressAfter, progressEvery = 2 * time.Second, 5 * time.Second
	var last time.Duration
	shown := false
	return func(p passes.SearchProgress) {
		if p.Done {
			if shown || p.Elapsed >= progressAfter {
				fmt.Fprintf(w, "approximation search done: %d candidates in %.1f s\n", p.Tried, p.Elapsed.Seconds())
			}
			return
		}
		if p.Elapsed < progressAfter || (shown && p.Elapsed-last < progressEvery) {
			return
		}
		shown, last = true, p.Elapsed
		fmt.Fprintf(w, "approximation search: %d candidates tried, %.0f s; best so far %s\n", p.Tried, p.Elapsed.Seconds(), p.Best)
	}
}

// inputScaling reads --input-scale, --input-mean and --input-std: nil
// when none is given, else the scaling with 1, 0 and 1 for those missing.
// The compile's calibration samples are the model's inputs, already scaled.
func inputScaling(c *cli.Context) (*plan.InputScaling, error) {
	if !c.IsSet("input-scale") && !c.IsSet("input-mean") && !c.IsSet("input-std") {
		return nil, nil
	}
	sc := &plan.InputScaling{Scale: 1, Mean: []float64{0}, Std: []float64{1}}
	var err error
	if f := c.String("input-scale"); f != "" {
		var v []float64
		if v, err = parseNumbers(f); err != nil || len(v) != 1 {
			return nil, usageError("--input-scale %q: expected a number such as 1/255", f)
		}
		sc.Scale = v[0]
	}
	if f := c.String("input-mean"); f != "" {
		if sc.Mean, err = parseNumbers(f); err != nil {
			return nil, usageError("--input-mean %q: %v", f, err)
		}
	}
	if f := c.String("input-std"); f != "" {
		if sc.Std, err = parseNumbers(f); err != nil {
			return nil, usageError("--input-std %q: %v", f, err)
		}
	}
	return sc, nil
}

// parseNumbers reads comma-separated numbers, each a decimal or a
// fraction A/B.
func parseNumbers(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		num, den, frac := strings.Cut(strings.TrimSpace(f), "/")
		v, err := strconv.ParseFloat(num, 64)
		if err == nil && frac {
			var d float64
			if d, err = strconv.ParseFloat(den, 64); err == nil {
				v /= d
			}
		}
		if err != nil {
			return nil, fmt.Errorf("expected numbers separated by commas, got %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseRange(s string) (*ir.Interval, error) {
	lo, hi, ok := strings.Cut(s, ",")
	if !ok {
		return nil, fmt.Errorf("expected LO,HI")
	}
	l, err1 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
	h, err2 := strconv.ParseFloat(strings.TrimSpace(hi), 64)
	if err1 != nil || err2 != nil || !(l < h) {
		return nil, fmt.Errorf("expected two numbers LO < HI")
	}
	return &ir.Interval{Lo: l, Hi: h}, nil
}

// readSamples reads a batch of inputs: one .npy, or from an .npz the array
// named x if there is one (sample sets keep labels beside it as y), else
// every array concatenated along the first axis.
func readSamples(path string) (*ir.Tensor, error) {
	if strings.HasSuffix(path, ".npz") {
		arrays, err := tensorio.ReadNPZ(path)
		if err != nil {
			return nil, err
		}
		if x, ok := arrays["x"]; ok {
			return x, nil
		}
		names := make([]string, 0, len(arrays))
		for n := range arrays {
			names = append(names, n)
		}
		sort.Strings(names)
		var out *ir.Tensor
		for _, n := range names {
			a := arrays[n]
			if len(a.Shape) == 0 {
				return nil, fmt.Errorf("%s: array %q is a scalar", path, n)
			}
			if out == nil {
				out = a.Clone()
				continue
			}
			if fmt.Sprint(a.Shape[1:]) != fmt.Sprint(out.Shape[1:]) {
				return nil, fmt.Errorf("%s: array %q has shape %v, the first has %v", path, n, a.Shape, out.Shape)
			}
			out.Shape[0] += a.Shape[0]
			out.Data = append(out.Data, a.Data...)
		}
		if out == nil {
			return nil, fmt.Errorf("%s holds no arrays", path)
		}
		return out, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := tensorio.ReadNPY(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// scalingText writes an input scaling as the formula it applies.
func scalingText(sc *plan.InputScaling) string {
	num := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
	list := func(v []float64) string {
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = num(x)
		}
		if len(v) == 1 {
			return parts[0]
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	text := fmt.Sprintf("(x·%s − %s) / %s", num(sc.Scale), list(sc.Mean), list(sc.Std))
	if len(sc.Mean) > 1 || len(sc.Std) > 1 {
		text += " by channel"
	}
	return text
}
