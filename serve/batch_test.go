package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var (
	tinyBatchOnce sync.Once
	tinyBatch     *runtime.Circuit
	tinyBatchErr  error
)

// batchCircuit is onnxtest's TinyCryptoNets compiled as a batch circuit
// of 8 inputs at 128-bit security.
func batchCircuit(t *testing.T) *runtime.Circuit {
	t.Helper()
	tinyBatchOnce.Do(func() {
		m, err := onnx.Decode(onnxtest.TinyCryptoNets(1))
		if err != nil {
			tinyBatchErr = err
			return
		}
		res, err := compiler.Compile(m, compiler.Options{Name: "tinybatch", Batch: true, BatchSize: 8, InputRange: &ir.Interval{Lo: -1, Hi: 1}})
		if err != nil {
			tinyBatchErr = err
			return
		}
		tinyBatch = &runtime.Circuit{Spec: res.Spec, Graph: res.Graph}
	})
	if tinyBatchErr != nil {
		t.Fatal(tinyBatchErr)
	}
	return tinyBatch
}

// images is n inputs of the circuit's input shape in [-1, 1].
func images(c *runtime.Circuit, n int, seed uint64) *ir.Tensor {
	shape := c.Spec.Input.Shape
	if len(shape) > 1 && shape[0] == 1 {
		shape = shape[1:]
	}
	t := ir.NewTensor(append([]int{n}, shape...)...)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range t.Data {
		t.Data[i] = 2*r.Float64() - 1
	}
	return t
}

// TestBatchQuery sends a batch of five inputs to a batch model over HTTP:
// one row per input comes back, each the plaintext circuit's.
func TestBatchQuery(t *testing.T) {
	c := batchCircuit(t)
	if c.Spec.Params.Security < 128 {
		t.Fatalf("the batch circuit is at %d-bit security", c.Spec.Params.Security)
	}
	ts := startServer(t, Config{Workers: 1, Queue: 1}, c)
	client, _ := NewClient(ts.url)
	var stages []string
	s, err := Open(context.Background(), client, "tinybatch", t.TempDir(), func(stage string, _ time.Duration) { stages = append(stages, stage) })
	if err != nil {
		t.Fatal(err)
	}
	if s.Info.Layout != plan.LayoutBatch || s.Info.Batch != 8 || s.Info.BatchMemoryBytes < int64(ts.models["tinybatch"].Sizes.InputCt) {
		t.Fatalf("GET /v1/models lists layout %q, batch %d, batch memory %d bytes", s.Info.Layout, s.Info.Batch, s.Info.BatchMemoryBytes)
	}
	const n = 5
	x := images(c, n, 3)
	ans, err := s.InferBatch(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"encrypt (5 inputs)", "upload (", "evaluate (", "download (", "decrypt"} {
		if !hasPrefix(stages, want) {
			t.Errorf("stages %q lack %q", stages, want)
		}
	}
	if ans.Scores.Shape[0] != n || ans.Output.Shape[0] != n || ans.EvalSeconds <= 0 {
		t.Fatalf("%v rows, output %v, eval %g s: expected %d rows and the server's time", ans.Scores.Shape, ans.Output.Shape, ans.EvalSeconds, n)
	}
	size := ir.NumElements(x.Shape[1:])
	row := len(ans.Scores.Data) / n
	step := max(c.Spec.OutputStep, 1e-3)
	for i := range n {
		one := &ir.Tensor{Shape: c.Spec.Input.Shape, Data: x.Data[i*size : (i+1)*size]}
		plain, err := ir.Interpret(c.Graph, map[string]*ir.Tensor{c.Spec.Input.Name: one})
		if err != nil {
			t.Fatal(err)
		}
		want := plain[c.Spec.Output.Name].Data
		if len(want) != row {
			t.Fatalf("row of %d values, the circuit outputs %d", row, len(want))
		}
		for k, w := range want {
			if got := ans.Scores.Data[i*row+k]; math.Abs(got-w) > 4*step {
				t.Errorf("input %d, output %d: encrypted %g, plaintext %g", i, k, got, w)
			}
		}
	}
	if _, err := s.InferBatch(context.Background(), images(c, 9, 4)); !errors.Is(err, runtime.ErrShape) {
		t.Errorf("a batch of 9 for a circuit of 8: %v", err)
	}
}

// TestBatchOversized: a body beyond the batch spec's size gets 413,
// whether announced or streamed.
func TestBatchOversized(t *testing.T) {
	c := batchCircuit(t)
	ts := startServer(t, Config{}, c)
	s := session(t, ts, "tinybatch", t.TempDir())
	limit := ts.models["tinybatch"].Sizes.InputCt
	for _, chunked := range []bool{false, true} {
		var body io.Reader = bytes.NewReader(make([]byte, limit+1))
		if chunked {
			body = io.NopCloser(body) // hides the length
		}
		req, _ := http.NewRequest(http.MethodPost, ts.url+"/v1/models/tinybatch/infer", body)
		req.Header.Set(KeyIDHeader, s.KeyID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e apiError
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || e.Code != codeTooLarge {
			t.Errorf("chunked %v: %d %+v, expected 413 too_large", chunked, resp.StatusCode, e)
		}
	}
}

// TestBatchReadByWorker: a queued batch's body is not read until a worker
// takes it, so the server holds one batch input per worker.
func TestBatchReadByWorker(t *testing.T) {
	c := batchCircuit(t)
	m, err := NewModel(c)
	if err != nil {
		t.Fatal(err)
	}
	store, _ := NewDirStore(t.TempDir())
	srv, err := New(Config{Models: []*Model{m}, Keys: store, Workers: 1, Queue: 1, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	started, gate := make(chan struct{}, 4), make(chan struct{}, 4)
	srv.beforeRun = func() {
		started <- struct{}{}
		<-gate
	}
	// Counts what the handler reads of each request's body, by the
	// request's name, "a" or "b", in a test header.
	var read [2]atomic.Int64
	inner := srv.handler
	srv.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k := r.Header.Get("Test-Request"); k != "" {
			r.Body = &tally{ReadCloser: r.Body, n: &read[k[0]-'a']}
		}
		inner.ServeHTTP(w, r)
	})
	ts := serveOn(t, srv, context.Background())
	t.Cleanup(func() { close(gate) }) // before the server's: a failure must not leave a run blocked
	s := session(t, ts, "tinybatch", t.TempDir())
	sk, _ := runtime.DecodeSecretKey(s.Spec, s.secret)
	input, err := runtime.EncryptFile(s.Spec, sk, images(c, 2, 5))
	if err != nil {
		t.Fatal(err)
	}
	send := func(name string) chan reply {
		out := make(chan reply, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodPost, ts.url+"/v1/models/tinybatch/infer", bytes.NewReader(input))
			req.Header.Set(KeyIDHeader, s.KeyID)
			req.Header.Set("Test-Request", name)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				out <- reply{err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			out <- reply{resp.StatusCode, b, err}
		}()
		return out
	}
	a := send("a")
	<-started
	b := send("b")
	waitFor(t, "the queued batch", func() bool { return testutil.ToFloat64(srv.metrics.queueDepth) == 1 })
	if got := read[1].Load(); got != 0 {
		t.Fatalf("the server read %d bytes of a batch no worker has taken", got)
	}
	gate <- struct{}{}
	<-started
	gate <- struct{}{}
	for i, r := range []chan reply{a, b} {
		if got := <-r; got.err != nil || got.status != 200 {
			t.Fatalf("batch %d: %d %v %s", i, got.status, got.err, got.body)
		}
		if got := read[i].Load(); got != int64(len(input)) {
			t.Errorf("batch %d: the server read %d bytes of %d", i, got, len(input))
		}
	}
}

type tally struct {
	io.ReadCloser
	n *atomic.Int64
}

func (t *tally) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	t.n.Add(int64(n))
	return n, err
}
