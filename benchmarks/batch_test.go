package benchmarks

import (
	"context"
	"fmt"
	"testing"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/runtime"
)

// BenchmarkBatchRun evaluates the bundled CryptoNets compiled with --batch
// on a full batch (its test samples repeated to fill every slot) and
// reports inputs/s, seconds per batch, the upload per input under the
// secret key, the evaluation keys' file and memory, and the fraction of
// the batch whose top class is the exact model's:
//
//	go test -run '^$' -bench BatchRun -benchtime 3x ./benchmarks
func BenchmarkBatchRun(b *testing.B) {
	models, err := Bundled("../testdata", "cryptonets")
	if err != nil {
		b.Fatal(err)
	}
	m := models[0]
	opts := m.Options
	opts.Name, opts.Batch = m.Name, true
	res, err := compiler.CompileFile(m.Path, opts)
	if err != nil {
		b.Fatal(err)
	}
	spec := res.Spec
	b.Run(fmt.Sprintf("model=%s/logN=%d", m.Name, spec.Params.LogN), func(b *testing.B) {
		keys, err := runtime.GenerateKeys(spec, nil)
		if err != nil {
			b.Fatal(err)
		}
		srv, err := runtime.NewServer(&runtime.Circuit{Spec: spec, Graph: res.Graph}, keys.Eval)
		if err != nil {
			b.Fatal(err)
		}
		sizes, err := runtime.PredictSizes(spec)
		if err != nil {
			b.Fatal(err)
		}
		size := ir.NumElements(spec.Input.Shape)
		samples := len(m.Samples.Data) / size
		one := spec.Input.Shape[1:]
		x := &ir.Tensor{Shape: append([]int{spec.Batch}, one...), Data: make([]float64, spec.Batch*size)}
		for i := range spec.Batch {
			copy(x.Data[i*size:(i+1)*size], m.Samples.Data[i%samples*size:])
		}
		upload, err := runtime.EncryptFile(spec, keys.Secret, x)
		if err != nil {
			b.Fatal(err)
		}
		ct, err := runtime.DecodeCiphertext(spec, runtime.KindInputCt, keys.Secret.KeySet(), upload)
		if err != nil {
			b.Fatal(err)
		}
		var out *runtime.Ciphertext
		b.ResetTimer()
		for range b.N {
			if out, _, err = srv.Run(context.Background(), ct); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		perBatch := b.Elapsed().Seconds() / float64(b.N)
		got, err := runtime.Decrypt(spec, keys.Secret, out)
		if err != nil {
			b.Fatal(err)
		}
		outputs := ir.NumElements(spec.Output.Shape)
		exactTop := make([]int, samples)
		for i := range exactTop {
			in := &ir.Tensor{Shape: spec.Input.Shape, Data: m.Samples.Data[i*size : (i+1)*size]}
			exact, err := ir.InterpretWith(res.Graph, map[string]*ir.Tensor{spec.Input.Name: in}, ir.InterpretOptions{Exact: true})
			if err != nil {
				b.Fatal(err)
			}
			exactTop[i] = argmax(exact[spec.Output.Name])
		}
		agree := 0
		for i := range spec.Batch {
			row := &ir.Tensor{Shape: []int{outputs}, Data: got.Data[i*outputs : (i+1)*outputs]}
			if argmax(row) == exactTop[i%samples] {
				agree++
			}
		}
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(float64(spec.Batch)/perBatch, "inputs/s")
		b.ReportMetric(perBatch, "s/batch")
		b.ReportMetric(float64(len(upload))/float64(spec.Batch)/1024, "upload-KiB/input")
		b.ReportMetric(float64(sizes.EvalKeys)/(1<<20), "evalkeys-file-MiB")
		b.ReportMetric(float64(sizes.EvalKeysMemory)/(1<<20), "evalkeys-mem-MiB")
		b.ReportMetric(100*float64(agree)/float64(spec.Batch), "%agreement")
	})
}
