package benchmarks

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"testing"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/runtime"
)

// The Go benchmarks cover the bundled models stage by stage, named
// Benchmark<Stage>/model=<name>/logN=<n> so that benchstat can compare
// commits:
//
//	go test -run '^$' -bench . -benchtime 3x ./benchmarks | tee new.txt
//	benchstat old.txt new.txt
//
// Models whose predicted server memory (evaluation keys and encoded
// weights) exceeds -max-server-gib (pass it after
// -args) are skipped with the reason. Compiling, key generation and a first
// evaluation happen once per model, outside the timers, and are shared by
// the benchmarks that need them.
var maxServerGiB = flag.Float64("max-server-gib", float64(DefaultMaxServerBytes)/(1<<30), "skip models whose evaluation keys and encoded weights would take more memory")

// fixture is one bundled model, compiled, then (on first need) with keys,
// and an encrypted first sample to evaluate and decrypt. The ciphertexts
// stay inside closures: only runtime names Lattigo's types.
type fixture struct {
	model    Model
	compiled *compiler.Result
	circuit  *runtime.Circuit
	sizes    runtime.Sizes
	input    *ir.Tensor // the first sample
	skip     string     // why the encrypted stages are skipped

	keyOnce sync.Once
	keys    *runtime.Keys
	stats   *runtime.Stats
	run     func() error // evaluates the encrypted first sample
	decrypt func() error // decrypts its result
	err     error
}

var (
	bundledOnce   sync.Once
	bundledModels []Model
	bundledErr    error
	fixtures      sync.Map // model name → *fixture
)

// forEachModel runs bench as b.Run("model=X/logN=N") for every bundled
// model, compiling each once for all benchmarks. withKeys also makes keys,
// a server and a first encrypted run, and skips models over the key limit.
func forEachModel(b *testing.B, withKeys bool, bench func(b *testing.B, f *fixture)) {
	bundledOnce.Do(func() { bundledModels, bundledErr = Bundled("../testdata") })
	if bundledErr != nil {
		b.Fatal(bundledErr)
	}
	for _, m := range bundledModels {
		b.Run("model="+m.Name, func(b *testing.B) {
			f := compiledFixture(b, m)
			b.Run(fmt.Sprintf("logN=%d", f.circuit.Spec.Params.LogN), func(b *testing.B) {
				if withKeys {
					if f.skip != "" {
						b.Skip(f.skip)
					}
					f.keyOnce.Do(f.prepare)
					if f.err != nil {
						b.Fatal(f.err)
					}
				}
				bench(b, f)
			})
		})
	}
}

func compiledFixture(b *testing.B, m Model) *fixture {
	if f, ok := fixtures.Load(m.Name); ok {
		return f.(*fixture)
	}
	opts := m.Options
	opts.Name = m.Name
	res, err := compiler.CompileFile(m.Path, opts)
	if err != nil {
		b.Fatal(err)
	}
	inputs, err := compiler.SplitSamples(m.Samples, res.Spec.Input.Shape)
	if err != nil {
		b.Fatal(err)
	}
	circuit := &runtime.Circuit{Spec: res.Spec, Graph: res.Graph}
	sizes, err := runtime.PredictCircuitSizes(circuit)
	if err != nil {
		b.Fatal(err)
	}
	f := &fixture{model: m, compiled: res, circuit: circuit, sizes: sizes, input: inputs[0]}
	if server := int64(sizes.EvalKeysMemory + sizes.Encoded); server > int64(*maxServerGiB*(1<<30)) {
		f.skip = fmt.Sprintf("%s in the server's memory (evaluation keys %s, encoded weights %s) exceeds -max-server-gib %g",
			gib(server), gib(int64(sizes.EvalKeysMemory)), gib(int64(sizes.Encoded)), *maxServerGiB)
	}
	fixtures.Store(m.Name, f)
	return f
}

// prepare makes what the encrypted stages start from.
func (f *fixture) prepare() {
	c := f.circuit
	if f.keys, f.err = runtime.GenerateKeys(c.Spec, nil); f.err != nil {
		return
	}
	srv, err := runtime.NewServer(c, f.keys.Eval)
	if err != nil {
		f.err = err
		return
	}
	ct, err := runtime.Encrypt(c.Spec, f.keys.Public, f.input)
	if err != nil {
		f.err = err
		return
	}
	out, stats, err := srv.Run(context.Background(), ct)
	if err != nil {
		f.err = err
		return
	}
	f.stats = stats
	f.run = func() error { _, _, err := srv.Run(context.Background(), ct); return err }
	f.decrypt = func() error { _, err := runtime.Decrypt(c.Spec, f.keys.Secret, out); return err }
}

func BenchmarkCompile(b *testing.B) {
	forEachModel(b, false, func(b *testing.B, f *fixture) {
		opts := f.model.Options
		opts.Name = f.model.Name
		for b.Loop() {
			if _, err := compiler.CompileFile(f.model.Path, opts); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(f.compiled.Report.Depth), "depth")
	})
}

func BenchmarkKeygen(b *testing.B) {
	forEachModel(b, true, func(b *testing.B, f *fixture) {
		spec := f.circuit.Spec
		for b.Loop() {
			if _, err := runtime.GenerateKeys(spec, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(f.sizes.EvalKeys), "evalkey-bytes")
		b.ReportMetric(float64(f.sizes.GaloisKeys), "galois-keys")
	})
}

func BenchmarkEncrypt(b *testing.B) {
	forEachModel(b, true, func(b *testing.B, f *fixture) {
		spec := f.circuit.Spec
		for b.Loop() {
			if _, err := runtime.Encrypt(spec, f.keys.Public, f.input); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(f.sizes.InputCt), "ct-bytes")
	})
}

func BenchmarkRun(b *testing.B) {
	forEachModel(b, true, func(b *testing.B, f *fixture) {
		for b.Loop() {
			if err := f.run(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(f.stats.KeySwitches), "keyswitches/op")
		b.ReportMetric(float64(f.stats.Rescales), "rescales/op")
	})
}

func BenchmarkDecrypt(b *testing.B) {
	forEachModel(b, true, func(b *testing.B, f *fixture) {
		for b.Loop() {
			if err := f.decrypt(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
