package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
)

// ErrNoSamples reports a model without sample inputs to fill a batch with.
var ErrNoSamples = errors.New("no sample inputs")

// BatchResult is one model's throughput benchmark: a full batch of its
// sample inputs (repeated to fill the batch) compiled with --batch,
// encrypted under the secret key, evaluated once and decrypted.
type BatchResult struct {
	Model  string `json:"model"`
	Params string `json:"params"`
	// CircuitPrivacyBits is λ when the results are flooded, else 0.
	CircuitPrivacyBits int `json:"circuit_privacy_bits,omitempty"`
	Batch              int `json:"batch"`
	// Distinct is how many different sample inputs fill the batch.
	Distinct      int     `json:"distinct_inputs"`
	InputsPerSec  float64 `json:"inputs_per_second"`
	EvalSeconds   float64 `json:"eval_seconds"` // one batch, keys loaded
	EncryptSecs   float64 `json:"encrypt_seconds"`
	DecryptSecs   float64 `json:"decrypt_seconds"`
	UploadPerIn   float64 `json:"upload_bytes_per_input"`
	DownloadPerIn float64 `json:"download_bytes_per_input"`
	EvalKeysFile  int     `json:"eval_keys_bytes"`
	EvalKeysMem   int     `json:"eval_keys_memory_bytes"`
	// Agreement is the fraction of the batch whose top class is the
	// plaintext circuit's; MaxError the largest difference of any output.
	Agreement float64 `json:"agreement"`
	MaxError  float64 `json:"max_abs_error"`
	Relins    int     `json:"relinearizations"`
	// PeakRSS is the process's peak resident memory once the run ended
	// (getrusage's maxrss; set by the caller, 0 if unknown).
	PeakRSS int64 `json:"peak_rss_bytes"`
	// Work is what the evaluation moved and multiplied, for the floor.
	Work BatchWork `json:"work"`
}

// BatchWork is what a batch evaluation costs at least: the affine maps'
// integer multiply-adds, and the bytes of every ciphertext each node reads
// and writes once. Relinearizations and rescales (NTTs) are not counted: a
// floor from it is a lower bound.
type BatchWork struct {
	MACs  float64 `json:"multiply_adds"`
	Bytes float64 `json:"bytes"`
}

// RunBatch benchmarks m in the batch layout on a batch of batch inputs (0:
// every slot of the ring); progress, if not nil, is told each stage.
func RunBatch(m Model, batch int, progress func(stage string)) (*BatchResult, error) {
	if progress == nil {
		progress = func(string) {}
	}
	progress(StageCompile)
	opts := m.Options
	opts.Name, opts.Batch, opts.BatchSize = m.Name, true, batch
	res, err := compiler.CompileFile(m.Path, opts)
	if err != nil {
		return nil, err
	}
	spec := res.Spec
	size := ir.NumElements(spec.Input.Shape)
	if m.Samples == nil || len(m.Samples.Data) < size {
		return nil, fmt.Errorf("%s: %w", m.Name, ErrNoSamples)
	}
	distinct := min(len(m.Samples.Data)/size, spec.Batch)
	x := &ir.Tensor{Shape: append([]int{spec.Batch}, spec.Input.Shape[1:]...), Data: make([]float64, spec.Batch*size)}
	if len(spec.Input.Shape) < 2 || spec.Input.Shape[0] != 1 {
		x.Shape = append([]int{spec.Batch}, spec.Input.Shape...)
	}
	for i := range spec.Batch {
		copy(x.Data[i*size:(i+1)*size], m.Samples.Data[i%distinct*size:])
	}
	progress(StageKeygen)
	keys, err := runtime.GenerateKeys(spec, nil)
	if err != nil {
		return nil, err
	}
	sizes, err := runtime.PredictSizes(spec)
	if err != nil {
		return nil, err
	}
	if spec.CircuitPrivacyBits > 0 {
		if err := keys.Eval.WithPublicKey(keys.Public); err != nil {
			return nil, err
		}
	}
	circuit := &runtime.Circuit{Spec: spec, Graph: res.Graph}
	srv, err := runtime.NewServer(circuit, keys.Eval)
	if err != nil {
		return nil, err
	}
	progress("encrypt")
	start := time.Now()
	upload, err := runtime.EncryptFile(spec, keys.Secret, x)
	if err != nil {
		return nil, err
	}
	encSecs := time.Since(start).Seconds()
	ct, err := runtime.DecodeCiphertext(spec, runtime.KindInputCt, keys.Secret.KeySet(), upload)
	if err != nil {
		return nil, err
	}
	progress("evaluate")
	start = time.Now()
	out, st, err := srv.RunConsuming(context.Background(), ct)
	if err != nil {
		return nil, err
	}
	evalSecs := time.Since(start).Seconds()
	download, err := runtime.EncodeCiphertext(spec, out)
	if err != nil {
		return nil, err
	}
	progress("decrypt")
	start = time.Now()
	got, err := runtime.Decrypt(spec, keys.Secret, out)
	if err != nil {
		return nil, err
	}
	decSecs := time.Since(start).Seconds()
	progress(StagePlaintext)
	outputs := ir.NumElements(spec.Output.Shape)
	agree, worst := 0, 0.0
	plain := make([][]float64, distinct)
	for i := range spec.Batch {
		j := i % distinct
		if plain[j] == nil {
			in := &ir.Tensor{Shape: spec.Input.Shape, Data: x.Data[j*size : (j+1)*size]}
			want, err := ir.Interpret(res.Graph, map[string]*ir.Tensor{spec.Input.Name: in})
			if err != nil {
				return nil, fmt.Errorf("input %d: plaintext circuit: %w", j, err)
			}
			plain[j] = want[spec.Output.Name].Data
		}
		row := got.Data[i*outputs : (i+1)*outputs]
		for k, v := range plain[j] {
			worst = max(worst, math.Abs(v-row[k]))
		}
		if argmax(&ir.Tensor{Data: row}) == argmax(&ir.Tensor{Data: plain[j]}) {
			agree++
		}
	}
	pl, err := plan.Rebuild(spec, res.Graph)
	if err != nil {
		return nil, err
	}
	n := float64(int(1) << spec.Params.LogN)
	return &BatchResult{
		Model:              m.Name,
		Params:             spec.Params.String(),
		CircuitPrivacyBits: spec.CircuitPrivacyBits,
		Batch:              spec.Batch,
		Distinct:           distinct,
		InputsPerSec:       float64(spec.Batch) / evalSecs,
		EvalSeconds:        evalSecs,
		EncryptSecs:        encSecs,
		DecryptSecs:        decSecs,
		UploadPerIn:        float64(len(upload)) / float64(spec.Batch),
		DownloadPerIn:      float64(len(download)) / float64(spec.Batch),
		EvalKeysFile:       sizes.EvalKeys,
		EvalKeysMem:        sizes.EvalKeysMemory,
		Agreement:          float64(agree) / float64(spec.Batch),
		MaxError:           worst,
		Relins:             st.KeySwitches,
		Work:               batchWork(pl, n),
	}, nil
}

// batchWork counts what evaluating pl's graph moves and multiplies on a
// ring of degree n: an affine map multiplies and adds every weight over
// each polynomial and limb of its input (three polynomials for a product
// left unrelinearized, summed one level up), and every node reads its
// inputs and writes its result once.
func batchWork(pl *plan.Plan, n float64) BatchWork {
	var w BatchWork
	set := pl.Spec.Params
	held := func(v *ir.Node) (polys, limbs float64) {
		if pl.Unrelinearized[v] {
			return 3, float64(set.Limbs(v.Level + 1))
		}
		return 2, float64(set.Limbs(v.Level))
	}
	for _, v := range pl.Graph.Nodes {
		if v.Op == ir.OpInput || v.Op == ir.OpOutput {
			continue
		}
		polys, limbs := held(v)
		w.Bytes += float64(v.Size()) * polys * limbs * n * 8
		for _, in := range v.Inputs {
			p, l := held(in)
			w.Bytes += float64(in.Size()) * p * l * n * 8
		}
		if v.Op == ir.OpAffine && !v.Linear.Identity {
			p, l := held(v.Inputs[0])
			w.MACs += float64(v.Linear.NNZ()) * p * l * n
		}
	}
	return w
}

// BatchMarkdown is the throughput report of results measured on machine
// (Describe, its LoadAfter set when they ended), with the floor m implies
// when m is not nil.
func BatchMarkdown(results []*BatchResult, machine Machine, m *Roofline, command string) string {
	var b strings.Builder
	b.WriteString("# hecc throughput benchmark\n\n")
	fmt.Fprintf(&b, "`%s`: each model compiled with `--batch`, a full batch of its sample inputs (the sample set in order, repeated to fill the batch) encrypted under the secret key, evaluated once in this process with the keys loaded, and decrypted. Agreement: inputs whose top class is the plaintext circuit's, over the whole batch.\n\n", command)
	machine.LoadAfter = loadAverage()
	fmt.Fprintf(&b, "Machine: %s.\n\n", machine)
	b.WriteString("| model | parameters | batch (distinct) | inputs/s | s/batch | encrypt s | decrypt s | upload/input | download/input | eval keys file / memory | agreement | max abs error | relinearizations | peak RSS |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %s | %d (%d) | %.0f | %.2f | %.2f | %.2f | %.1f KiB | %.2f KiB | %.2f / %.2f MiB | %.2f%% | %.2g | %d | %s |\n",
			r.label(), r.Params, r.Batch, r.Distinct, r.InputsPerSec, r.EvalSeconds, r.EncryptSecs, r.DecryptSecs,
			r.UploadPerIn/1024, r.DownloadPerIn/1024, float64(r.EvalKeysFile)/(1<<20), float64(r.EvalKeysMem)/(1<<20),
			100*r.Agreement, r.MaxError, r.Relins, peak(r.PeakRSS))
	}
	if m == nil {
		return b.String()
	}
	fmt.Fprintf(&b, "\nFloor: this machine streams %.1f GB/s (read and write, %d goroutines) and does %.2f G multiply-adds/s in the accumulation kernel (%d goroutines, operands in cache). A batch's floor is the larger of its multiply-adds and its bytes (each ciphertext read and written once per node) at those rates; it leaves out the NTTs of relinearizations and rescales.\n\n", m.Bandwidth/1e9, m.Workers, m.MACRate/1e9, m.Workers)
	b.WriteString("| model | multiply-adds | bytes | floor s | measured / floor |\n|---|---|---|---|---|\n")
	for _, r := range results {
		floor := m.Floor(r.Work)
		fmt.Fprintf(&b, "| %s | %.3g | %.3g GB | %.2f | %.1f× |\n", r.label(), r.Work.MACs, r.Work.Bytes/1e9, floor, r.EvalSeconds/floor)
	}
	return b.String()
}

// label is the model's name, with its λ when its results are flooded.
func (r *BatchResult) label() string {
	if r.CircuitPrivacyBits > 0 {
		return fmt.Sprintf("%s, flooded (λ = %d)", r.Model, r.CircuitPrivacyBits)
	}
	return r.Model
}

func peak(bytes int64) string {
	if bytes == 0 {
		return "unknown"
	}
	return gib(bytes)
}
