// Package benchmarks measures what hecc costs on real models: compile,
// key generation, encryption, server evaluation and decryption times, the
// sizes of keys and ciphertexts, and how much accuracy encryption keeps.
// `hecc bench` and the Go benchmarks in this package both drive it.
//
// Everything goes through the public APIs of compiler and runtime, so the
// numbers follow the runtime as it is optimised. Only runtime imports
// Lattigo (docs/design.md): timing Lattigo's primitives for the --floor
// report needs a runtime method (see floor.go), which this package finds by
// an interface assertion instead of naming it.
package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"time"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/runtime"
)

// Model is one model to benchmark.
type Model struct {
	Name string
	Path string // the ONNX file
	// Options compile the model; Name is filled in from the model's.
	// Bundled models set Calibration from their calibration set.
	Options compiler.Options
	// Samples is a batch of inputs: the first axis indexes samples, the
	// rest is the model input's shape (with or without its batch axis).
	Samples *ir.Tensor
	// Labels are the samples' classes, or nil when they are unknown (no
	// accuracy is reported then).
	Labels []float64
	// Data names where the calibration and sample sets came from, for the
	// report.
	Data string
}

// Config is what to benchmark and how.
type Config struct {
	Models []Model
	// Samples is the number of inputs run encrypted per model (the first
	// ones of each sample set). Plaintext figures use the same inputs, so
	// that every accuracy column counts the same images.
	Samples int
	// MaxServerBytes bounds a model's predicted server memory, evaluation
	// keys and encoded weights: above it, the server keeps only the
	// weights that fit beside the keys and encodes the rest in each
	// evaluation (runtime.MaxWeightBytes), and the encrypted part of a
	// model whose keys alone exceed it is skipped: they would exhaust
	// memory long before the first sample.
	MaxServerBytes int64
	// Floor times Lattigo's primitives at each model's parameters and
	// reports the sum of their costs next to the measured latency.
	Floor bool
	// FloorReps is how many timed repetitions each primitive's median is
	// taken over (0: DefaultFloorReps).
	FloorReps int
	// Command is recorded in the report, to say how to reproduce it.
	Command string
	// Advise, if not nil, adds to a model's failure what the user can do
	// about it, in the words of the command that runs the benchmark.
	Advise func(error) error
}

// Defaults.
const (
	DefaultSamples = 10
	// DefaultMaxServerBytes runs LeNet-5 (logN 15) with all its weights
	// encoded once, and the logN 16 models whose keys fit with their
	// weights encoded in each evaluation: the benchmark process holds the
	// client's keys, the key file and the server's keys at once, two to
	// three times the server's own memory.
	DefaultMaxServerBytes = 6 << 30
	DefaultFloorReps      = 7
)

// Event reports progress. Run sends one with Done 0 when a stage starts,
// then one per step of stages that have steps (Total > 0).
type Event struct {
	Model       string
	Index, Of   int // this is model Index of Of (1-based)
	Stage       string
	Done, Total int
}

// The stages events name.
const (
	StageCompile   = "compile"
	StagePlaintext = "plaintext"
	StageKeygen    = "keygen"
	StageSetup     = "server setup"
	StageSamples   = "encrypted samples"
	StageFloor     = "floor"
)

// Run benchmarks every model of cfg in turn, calling progress (if not nil)
// as it goes. A model that fails is recorded with its error and the others
// still run; Run itself fails only on an unusable configuration.
func Run(cfg Config, progress func(Event)) (*Report, error) {
	if len(cfg.Models) == 0 {
		return nil, errors.New("no models to benchmark")
	}
	if cfg.Samples < 1 {
		return nil, fmt.Errorf("%d samples: at least one is needed", cfg.Samples)
	}
	if cfg.MaxServerBytes <= 0 {
		return nil, fmt.Errorf("a server memory limit of %d bytes leaves nothing to run", cfg.MaxServerBytes)
	}
	if cfg.FloorReps < 1 {
		cfg.FloorReps = DefaultFloorReps
	}
	if progress == nil {
		progress = func(Event) {}
	}
	rep := &Report{
		Machine:        Describe(),
		Date:           time.Now().UTC(),
		Command:        cfg.Command,
		Samples:        cfg.Samples,
		MaxServerBytes: cfg.MaxServerBytes,
		Floor:          cfg.Floor,
	}
	for i, m := range cfg.Models {
		b := &modelRun{cfg: cfg, m: m, res: &ModelResult{Name: m.Name, File: m.Path, Data: m.Data}}
		b.progress = func(stage string, done, total int) {
			progress(Event{Model: m.Name, Index: i + 1, Of: len(cfg.Models), Stage: stage, Done: done, Total: total})
		}
		if err := b.run(); err != nil {
			if cfg.Advise != nil {
				err = cfg.Advise(err)
			}
			b.res.Error = err.Error()
		}
		rep.Models = append(rep.Models, *b.res)
		// The model's keys and encoded circuit, gigabytes at logN ≥ 14,
		// are garbage now: return them to the system before the next
		// model generates its own, so that the peak is one model's.
		debug.FreeOSMemory()
	}
	rep.Machine.LoadAfter = loadAverage()
	return rep, nil
}

// maxSerialisedKeys bounds the evaluation keys Run serialises to measure
// their real size. Serialising holds the encoded bytes (built by appending,
// then copied once more behind the file header) next to the keys
// themselves: several times their size at once, which is what exhausts
// memory first. Larger key sets report the runtime's prediction.
const maxSerialisedKeys = 1 << 30

// modelRun benchmarks one model, filling res as it goes so that a failure
// still reports what was measured before it.
type modelRun struct {
	cfg      Config
	m        Model
	res      *ModelResult
	progress func(stage string, done, total int)
}

// sampleRun is what one encrypted sample gave.
type sampleRun struct {
	encrypt, eval, decrypt float64
	output                 *ir.Tensor
}

func (b *modelRun) run() error {
	r, m := b.res, b.m
	b.progress(StageCompile, 0, 0)
	opts := m.Options
	opts.Name = m.Name
	start := time.Now()
	compiled, err := compiler.CompileFile(m.Path, opts)
	if err != nil {
		return fmt.Errorf("compile: %w", err)
	}
	r.CompileSeconds = time.Since(start).Seconds()
	circuit, spec := &runtime.Circuit{Spec: compiled.Spec, Graph: compiled.Graph}, compiled.Spec
	r.Params, r.LogSlots, r.Depth = spec.Params, spec.LogSlots, compiled.Report.Depth
	r.Compile, r.Spec = compiled.Report, spec
	sizes, err := runtime.PredictCircuitSizes(circuit)
	if err != nil {
		return err
	}
	r.GaloisKeys, r.Relin = sizes.GaloisKeys, sizes.RelinNeeded
	r.PredictedEvalKeyBytes, r.PredictedInputCtBytes = int64(sizes.EvalKeys), int64(sizes.InputCt)
	r.EvalKeyMemoryBytes, r.PredictedEncodedBytes = int64(sizes.EvalKeysMemory), int64(sizes.Encoded)

	if m.Samples == nil {
		return errors.New("no sample inputs")
	}
	inputs, err := compiler.SplitSamples(m.Samples, spec.Input.Shape)
	if err != nil {
		return fmt.Errorf("samples: %w", err)
	}
	if len(inputs) > b.cfg.Samples {
		inputs = inputs[:b.cfg.Samples]
	}
	if m.Labels != nil && len(m.Labels) < len(inputs) {
		return fmt.Errorf("%d labels for %d samples", len(m.Labels), len(inputs))
	}
	r.SamplesRun = len(inputs)
	plain, err := b.plaintext(circuit, inputs)
	if err != nil {
		return err
	}

	var budget []runtime.PrepareOption
	if server := r.EvalKeyMemoryBytes + r.PredictedEncodedBytes; server > b.cfg.MaxServerBytes {
		// The weights beyond what the keys leave, and the values of those
		// encoded on demand, are encoded in each evaluation.
		w := sizes.Weights
		room := b.cfg.MaxServerBytes - r.EvalKeyMemoryBytes - w.Within(0).Values
		if len(w) == 0 || room < 0 {
			r.Skipped = fmt.Sprintf("%s in the server's memory (evaluation keys %s, encoded weights %s) exceeds the limit of %s (--max-server-gib), and the keys leave no room for the weights",
				gib(server), gib(r.EvalKeyMemoryBytes), gib(r.PredictedEncodedBytes), gib(b.cfg.MaxServerBytes))
			return nil
		}
		kept := w.Within(room)
		r.WeightBudgetBytes, r.OnDemandBytes, r.PredictedOnDemandSeconds = room, kept.OnDemand, kept.Seconds
		budget = append(budget, runtime.MaxWeightBytes(room))
	}
	return b.encrypted(circuit, inputs, plain, budget)
}

// encrypted is the client and server side of the benchmark: keys, the
// server's preparation (within the weights budget, if any), each sample
// encrypted, evaluated and decrypted, and the floor.
func (b *modelRun) encrypted(circuit *runtime.Circuit, inputs []*ir.Tensor, plain []plainOutputs, budget []runtime.PrepareOption) error {
	r, spec := b.res, circuit.Spec
	b.progress(StageKeygen, 0, r.GaloisKeys)
	start := time.Now()
	keys, err := runtime.GenerateKeys(spec, func(done, total int) { b.progress(StageKeygen, done, total) })
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	r.KeygenSeconds = time.Since(start).Seconds()
	r.EvalKeyBytes = r.PredictedEvalKeyBytes
	if r.EvalKeyMemoryBytes <= maxSerialisedKeys {
		ek, err := runtime.EncodeEvalKeys(spec, keys.Eval)
		if err != nil {
			return fmt.Errorf("keygen: %w", err)
		}
		r.EvalKeyBytes, r.EvalKeysSerialised = int64(len(ek)), true
	}

	if spec.CircuitPrivacyBits > 0 {
		if err := keys.Eval.WithPublicKey(keys.Public); err != nil {
			return fmt.Errorf("keygen: %w", err)
		}
	}
	b.progress(StageSetup, 0, 0)
	start = time.Now()
	prepared, err := runtime.Prepare(circuit, budget...)
	if err != nil {
		return fmt.Errorf("server setup: %w", err)
	}
	srv, err := prepared.WithKeys(keys.Eval)
	if err != nil {
		return fmt.Errorf("server setup: %w", err)
	}
	r.SetupSeconds = time.Since(start).Seconds()
	r.EncodedBytes = prepared.Memory().Encoded

	var runs []sampleRun
	var ops []runtime.OpCount // of the first evaluation, for the floor
	var rerun func() error    // evaluates the first input again
	b.progress(StageSamples, 0, len(inputs))
	for i, in := range inputs {
		var s sampleRun
		start = time.Now()
		ct, err := runtime.Encrypt(spec, keys.Public, in)
		if err != nil {
			return fmt.Errorf("sample %d: encrypt: %w", i, err)
		}
		s.encrypt = time.Since(start).Seconds()
		if i == 0 {
			rerun = func() error { _, _, err := srv.Run(context.Background(), ct); return err }
			data, err := runtime.EncodeCiphertext(spec, ct)
			if err != nil {
				return fmt.Errorf("sample %d: %w", i, err)
			}
			r.InputCtBytes = int64(len(data))
		}
		start = time.Now()
		out, st, err := srv.Run(context.Background(), ct)
		if err != nil {
			return fmt.Errorf("sample %d: evaluate: %w", i, err)
		}
		s.eval = time.Since(start).Seconds()
		if i == 0 {
			r.Counts = Counts{KeySwitches: st.KeySwitches, Rescales: st.Rescales, PtMuls: st.PtMuls, CtMuls: st.CtMuls}
			ops = st.Ops
			data, err := runtime.EncodeCiphertext(spec, out)
			if err != nil {
				return fmt.Errorf("sample %d: %w", i, err)
			}
			r.OutputCtBytes = int64(len(data))
		}
		start = time.Now()
		if s.output, err = runtime.Decrypt(spec, keys.Secret, out); err != nil {
			return fmt.Errorf("sample %d: decrypt: %w", i, err)
		}
		s.decrypt = time.Since(start).Seconds()
		runs = append(runs, s)
		b.progress(StageSamples, i+1, len(inputs))
	}
	b.summarise(runs, plain)
	r.BuffersBytes = prepared.Memory().Buffers

	if b.cfg.Floor {
		b.progress(StageFloor, 0, 0)
		f, err := computeFloor(srv, ops, r.Eval.Median, b.cfg.FloorReps)
		if err != nil {
			return fmt.Errorf("floor: %w", err)
		}
		// The floor is timed on one core; the overhead is the same
		// evaluation on one core over it.
		if f.OneCore, err = oneCoreSeconds(srv, rerun, r.Eval.Median); err != nil {
			return fmt.Errorf("floor: %w", err)
		}
		f.Ratio = f.OneCore / f.Seconds
		r.Floor = f
	}
	return nil
}

// plainOutputs are a sample's outputs in plaintext: the model as trained
// (activations exact) and the circuit (activations approximated).
type plainOutputs struct{ exact, circuit *ir.Tensor }

func (b *modelRun) plaintext(c *runtime.Circuit, inputs []*ir.Tensor) ([]plainOutputs, error) {
	r, spec := b.res, c.Spec
	b.progress(StagePlaintext, 0, len(inputs))
	out := make([]plainOutputs, len(inputs))
	for i, x := range inputs {
		in := map[string]*ir.Tensor{spec.Input.Name: x}
		exact, err := ir.InterpretWith(c.Graph, in, ir.InterpretOptions{Exact: true})
		if err != nil {
			return nil, fmt.Errorf("sample %d: plaintext model: %w", i, err)
		}
		circ, err := ir.Interpret(c.Graph, in)
		if err != nil {
			return nil, fmt.Errorf("sample %d: plaintext circuit: %w", i, err)
		}
		out[i] = plainOutputs{exact[spec.Output.Name], circ[spec.Output.Name]}
		if b.m.Labels != nil {
			r.PlainAccuracy.add(argmax(out[i].exact) == int(b.m.Labels[i]))
			r.CircuitAccuracy.add(argmax(out[i].circuit) == int(b.m.Labels[i]))
		}
		b.progress(StagePlaintext, i+1, len(inputs))
	}
	return out, nil
}

// summarise turns the encrypted runs into the report's figures: latency
// medians and the comparison with the plaintext circuit, which differs from
// the encrypted result by CKKS noise alone.
func (b *modelRun) summarise(runs []sampleRun, plain []plainOutputs) {
	r := b.res
	var enc, eval, dec []float64
	for i, s := range runs {
		enc, eval, dec = append(enc, s.encrypt), append(eval, s.eval), append(dec, s.decrypt)
		got, want := argmax(s.output), argmax(plain[i].circuit)
		r.Agreement.add(got == want)
		if b.m.Labels != nil {
			r.EncryptedAccuracy.add(got == int(b.m.Labels[i]))
		}
		for k, v := range plain[i].circuit.Data {
			r.MaxAbsError = math.Max(r.MaxAbsError, math.Abs(s.output.Data[k]-v))
		}
	}
	r.EncryptSeconds, r.DecryptSeconds = percentile(enc, 50), percentile(dec, 50)
	r.Eval = Latency{Median: percentile(eval, 50), P90: percentile(eval, 90), Min: slices.Min(eval), Max: slices.Max(eval)}
}

// argmax is the index of the largest output: the predicted class of a
// classifier (post-processing such as softmax is monotone and keeps it).
func argmax(t *ir.Tensor) int {
	best := 0
	for i, v := range t.Data {
		if v > t.Data[best] {
			best = i
		}
	}
	return best
}

// percentile is the nearest-rank p-th percentile: a value that was actually
// measured, which is what a p90 over ten runs can honestly claim.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

func gib(n int64) string { return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30)) }

// oneCoreSeconds is the median of runs of run with one worker: three of
// them, or one when an evaluation takes longer than slow seconds.
func oneCoreSeconds(srv *runtime.Server, run func() error, median float64) (float64, error) {
	const slow = 5
	workers := srv.Workers
	defer func() { srv.Workers = workers }()
	srv.Workers = 1
	runs := make([]float64, 3)
	if median > slow {
		runs = runs[:1]
	}
	for i := range runs {
		start := time.Now()
		if err := run(); err != nil {
			return 0, fmt.Errorf("one-core evaluation: %w", err)
		}
		runs[i] = time.Since(start).Seconds()
	}
	slices.Sort(runs)
	return runs[len(runs)/2], nil
}
