package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	goruntime "runtime"
	"slices"
	"strings"

	"github.com/hecc-dev/hecc/benchmarks"
	"github.com/hecc-dev/hecc/params"
	"github.com/urfave/cli/v2"
)

// benchBatchFlags are the flags only hecc bench --batch reads.
func benchBatchFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "batch", Usage: "throughput instead: compile each model with --batch (and --circuit-privacy-bits), encrypt one full batch of its samples (repeated to fill it), evaluate it once and report inputs/s, sizes per input, agreement with the plaintext circuit and peak memory (--floor: and this machine's floor)"},
		&cli.IntFlag{Name: "batch-size", Usage: "with --batch: inputs per batch (default: every slot of the ring)"},
	}
}

// runBenchBatch is hecc bench --batch: each model's throughput circuit on
// one batch, reported as markdown (and JSON), with the machine's floor
// when --floor is given.
func runBenchBatch(c *cli.Context) error {
	size := c.Int("batch-size")
	if size < 0 {
		return usageError("--batch-size %d: expected a positive size", size)
	}
	security := c.Int("security")
	if !slices.Contains(params.Levels, security) {
		return usageError("--security %d: expected one of %v", security, params.Levels)
	}
	bits, err := circuitPrivacyBits(c)
	if err != nil {
		return err
	}
	models, err := benchModels(c)
	if err != nil {
		return err
	}
	machine := benchmarks.Describe()
	var results []*benchmarks.BatchResult
	for i, m := range models {
		m.Options.Security, m.Options.CircuitPrivacyBits = security, bits
		r, err := benchmarks.RunBatch(m, size, func(stage string) {
			fmt.Fprintf(os.Stderr, "hecc bench --batch: [%d/%d] %s: %s\n", i+1, len(models), m.Name, stage)
		})
		if err != nil {
			return fmt.Errorf("%s: %w", m.Name, privacyAdvice(c, err))
		}
		r.PeakRSS = maxRSS()
		results = append(results, r)
	}
	var roof *benchmarks.Roofline
	if c.Bool("floor") {
		fmt.Fprintf(os.Stderr, "hecc bench --batch: measuring memory bandwidth and multiply-add throughput\n")
		roof = benchmarks.MeasureRoofline(goruntime.GOMAXPROCS(0), 3)
	}
	command := strings.Join(append([]string{"hecc"}, os.Args[1:]...), " ")
	md := benchmarks.BatchMarkdown(results, machine, roof, command)
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
		j, err := json.MarshalIndent(struct {
			Results  []*benchmarks.BatchResult `json:"results"`
			Roofline *benchmarks.Roofline      `json:"roofline,omitempty"`
		}{results, roof}, "", "  ")
		if err != nil {
			return err
		}
		if err := writeFile(f, append(j, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}
