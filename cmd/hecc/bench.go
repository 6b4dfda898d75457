package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hecc-dev/hecc/benchmarks"
	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/plan"
	"github.com/urfave/cli/v2"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "benchmark models end to end: compile, keygen, encrypt, evaluate, decrypt, accuracy",
		ArgsUsage: "[MODEL.onnx|BUNDLED-NAME ...]",
		Description: fmt.Sprintf(`Compiles each model, makes its keys, then encrypts, evaluates and decrypts the
first --samples inputs of its sample set one at a time, and prints a markdown
report: parameters, depth, the time of each stage (evaluation: median and
90th percentile, measured in this process with the keys already loaded), key
and ciphertext sizes, and the accuracy kept under encryption.

Without a model it benchmarks every bundled model (testdata/models, with the
calibration and sample sets its manifest names); a bundled model can also be
named alone. An ONNX file needs --calibration and --input (and --labels for
accuracy, unless --input is an .npz with an array y).

Every model is compiled as hecc compile does: with circuit privacy at
--circuit-privacy-bits (default %d) unless --no-circuit-privacy is given;
a model that cannot afford it is reported as failed, with the largest λ it
affords.

A model whose evaluation keys and encoded weights would take more than
--max-server-gib of the server's memory runs encrypted with only the
weights that fit beside its keys kept encoded, the rest encoded in each
evaluation (hecc run --max-weights-gib); one whose keys alone exceed it is
compiled and reported, but not run encrypted.

--floor also times each Lattigo primitive the circuit performs at its
parameters and prints the circuit's floor, Σ count × cost, next to the
measured latency: their ratio is the runtime's own overhead.

Examples:
  hecc bench --samples 10 --md report.md --json report.json --svg chart.svg
  hecc bench cryptonets --floor
  hecc bench model.onnx --calibration calib.npz --input test.npz
  hecc bench --no-circuit-privacy --samples 10`, plan.DefaultCircuitPrivacyBits),
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "samples", Value: benchmarks.DefaultSamples, Usage: "inputs to run encrypted per model"},
			&cli.StringFlag{Name: "calibration", Usage: "calibration inputs for ONNX files given as arguments (.npy, or .npz array x)"},
			&cli.StringFlag{Name: "input", Usage: "sample inputs for ONNX files given as arguments (.npy, or .npz array x)"},
			&cli.StringFlag{Name: "labels", Usage: "integer labels of --input (.npy, or .npz array y)"},
			&cli.StringFlag{Name: "md", Usage: "write the markdown report to `FILE`"},
			&cli.StringFlag{Name: "json", Usage: "write the report as JSON to `FILE`"},
			&cli.StringFlag{Name: "svg", Usage: "write a chart of latency per stage per model to `FILE`"},
			&cli.BoolFlag{Name: "floor", Usage: "time Lattigo's primitives and report the circuit's floor next to its latency"},
			&cli.IntFlag{Name: "floor-reps", Value: benchmarks.DefaultFloorReps, Usage: "timed repetitions per primitive and level (--floor)"},
			&cli.Float64Flag{Name: "max-server-gib", Value: float64(benchmarks.DefaultMaxServerBytes) / (1 << 30), Usage: "keep evaluation keys and encoded weights within this much memory: weights beyond it are encoded in each evaluation, models whose keys exceed it are not run encrypted"},
			&cli.IntFlag{Name: "security", Value: compiler.DefaultSecurity, Usage: "security level in bits: 128, 192 or 256"},
			&cli.StringFlag{Name: "testdata", Value: "testdata", Usage: "directory of the bundled models and samples"},
		}, append(circuitPrivacyFlags(), benchBatchFlags()...)...),
		Action: runBench,
	}
}

func runBench(c *cli.Context) error {
	if c.Bool("batch") {
		return runBenchBatch(c)
	}
	cfg := benchmarks.Config{
		Samples:        c.Int("samples"),
		MaxServerBytes: int64(c.Float64("max-server-gib") * (1 << 30)),
		Floor:          c.Bool("floor"),
		FloorReps:      c.Int("floor-reps"),
		Command:        strings.Join(append([]string{"hecc"}, os.Args[1:]...), " "),
	}
	if cfg.Samples < 1 {
		return usageError("--samples %d: at least 1", cfg.Samples)
	}
	if cfg.MaxServerBytes <= 0 {
		return usageError("--max-server-gib %g: expected a positive size", c.Float64("max-server-gib"))
	}
	if cfg.FloorReps < 1 {
		return usageError("--floor-reps %d: at least 1", cfg.FloorReps)
	}
	security := c.Int("security")
	if !slices.Contains(params.Levels, security) {
		return usageError("--security %d: expected one of %v", security, params.Levels)
	}
	// A run can take many minutes: refuse an unwritable report before it.
	for _, flag := range []string{"md", "json", "svg"} {
		f := c.String(flag)
		if f == "" {
			continue
		}
		if st, err := os.Stat(f); err == nil && st.IsDir() {
			return usageError("--%s %s is a directory: expected a file name", flag, f)
		}
		if st, err := os.Stat(filepath.Dir(f)); err != nil || !st.IsDir() {
			return usageError("--%s %s: directory %s does not exist", flag, f, filepath.Dir(f))
		}
	}
	models, err := benchModels(c)
	if err != nil {
		return err
	}
	bits, err := circuitPrivacyBits(c)
	if err != nil {
		return err
	}
	for i := range models {
		models[i].Options.Security = security
		models[i].Options.CircuitPrivacyBits = bits
	}
	cfg.Models = models
	cfg.Advise = func(err error) error { return privacyAdvice(c, err) }
	update, done := benchProgress()
	rep, err := benchmarks.Run(cfg, update)
	done()
	if err != nil {
		return err
	}
	for i := range rep.Models {
		if rep.Models[i].Summary, err = benchSummary(&rep.Models[i]); err != nil {
			return err
		}
	}
	md := rep.Markdown()
	fmt.Print(md)
	if f := c.String("md"); f != "" {
		previous, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cannot read %s to keep its notes: %w", f, err)
		}
		if err := writeFile(f, []byte(benchmarks.KeepNotes(md, previous)), 0o644); err != nil {
			return err
		}
	}
	if f := c.String("json"); f != "" {
		j, err := rep.JSON()
		if err != nil {
			return err
		}
		if err := writeFile(f, j, 0o644); err != nil {
			return err
		}
	}
	if f := c.String("svg"); f != "" {
		if err := writeFile(f, rep.SVG(), 0o644); err != nil {
			return err
		}
	}
	if failed := rep.Failed(); len(failed) > 0 {
		return fmt.Errorf("bench failed for %s (see the report's notes)", strings.Join(failed, ", "))
	}
	return nil
}

// benchModels resolves the arguments: an existing file (or a name ending in
// .onnx) is the user's model, anything else names a bundled model; no
// argument means every bundled model.
func benchModels(c *cli.Context) ([]benchmarks.Model, error) {
	dir := c.String("testdata")
	var files, names []string
	for _, a := range c.Args().Slice() {
		if _, err := os.Stat(a); err == nil || strings.HasSuffix(a, ".onnx") {
			files = append(files, a)
		} else {
			names = append(names, a)
		}
	}
	var models []benchmarks.Model
	if len(names) > 0 || len(files) == 0 {
		bundled, err := benchmarks.Bundled(dir, names...)
		if errors.Is(err, benchmarks.ErrNoManifest) || errors.Is(err, benchmarks.ErrUnknownModel) {
			return nil, usageError("%v", err)
		} else if err != nil {
			return nil, err
		}
		models = bundled
	}
	if len(files) == 0 {
		return models, nil
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return nil, usageError("%s: no such model file", f)
		}
	}
	calibPath, inputPath := c.String("calibration"), c.String("input")
	if calibPath == "" || inputPath == "" {
		return nil, usageError("an ONNX model needs --calibration (to size its parameters) and --input (the samples to run)")
	}
	calib, err := readSamples(calibPath)
	if err != nil {
		return nil, fmt.Errorf("--calibration: %w", err)
	}
	samples, err := readSamples(inputPath)
	if err != nil {
		return nil, fmt.Errorf("--input: %w", err)
	}
	var labels []float64
	if l := c.String("labels"); l != "" {
		if labels, err = readLabels(l); err != nil {
			return nil, fmt.Errorf("--labels: %w", err)
		}
	} else if strings.HasSuffix(inputPath, ".npz") {
		// Sample sets keep their labels beside x; without y there is
		// simply no accuracy to report.
		labels, _ = readLabels(inputPath)
	}
	for _, f := range files {
		models = append(models, benchmarks.Model{
			Name:    strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)),
			Path:    f,
			Options: compiler.Options{Calibration: calib, Margin: compiler.DefaultMargin},
			Samples: samples,
			Labels:  labels,
			Data:    fmt.Sprintf("calibration %s, samples %s", calibPath, inputPath),
		})
	}
	return models, nil
}

// benchProgress draws a progress bar on stderr when it is a terminal, and
// otherwise writes one line per stage, which reads well in logs. Call done
// when the run ends.
func benchProgress() (update func(benchmarks.Event), done func()) {
	st, err := os.Stderr.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return func(e benchmarks.Event) {
			if e.Done == 0 {
				fmt.Fprintf(os.Stderr, "hecc bench: [%d/%d] %s: %s\n", e.Index, e.Of, e.Model, e.Stage)
			}
		}, func() {}
	}
	const width = 24
	return func(e benchmarks.Event) {
			line := fmt.Sprintf("[%d/%d] %s: %s", e.Index, e.Of, e.Model, e.Stage)
			if e.Total > 0 {
				filled := width * e.Done / e.Total
				line += fmt.Sprintf(" [%s%s] %d/%d", strings.Repeat("█", filled), strings.Repeat("░", width-filled), e.Done, e.Total)
			}
			// Carriage return and erase-line redraw in place.
			fmt.Fprintf(os.Stderr, "\r\033[K%s", line)
		}, func() {
			fmt.Fprint(os.Stderr, "\r\033[K")
		}
}
