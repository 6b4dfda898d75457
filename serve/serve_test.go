package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/compiler/tensorio"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/runtime"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const testdata = "../testdata"

var (
	compileOnce sync.Once
	cryptonets  *runtime.Circuit
	digits      *ir.Tensor
	// predicted is the latency the compile reported for cryptonets.
	predicted  float64
	compileErr error
)

// compiled is the bundled CryptoNets, compiled once for every test, and
// the bundled test digits.
func compiled(t *testing.T) (*runtime.Circuit, *ir.Tensor) {
	t.Helper()
	compileOnce.Do(func() {
		var calib, test map[string]*ir.Tensor
		if calib, compileErr = tensorio.ReadNPZ(filepath.Join(testdata, "samples", "mnist_calib.npz")); compileErr != nil {
			return
		}
		if test, compileErr = tensorio.ReadNPZ(filepath.Join(testdata, "samples", "mnist_test.npz")); compileErr != nil {
			return
		}
		digits = test["x"]
		var res *compiler.Result
		res, compileErr = compiler.CompileFile(filepath.Join(testdata, "models", "cryptonets.onnx"),
			compiler.Options{Name: "cryptonets", Calibration: calib["x"], Margin: compiler.DefaultMargin})
		if compileErr == nil {
			cryptonets = &runtime.Circuit{Spec: res.Spec, Graph: res.Graph}
			predicted = res.Report.Choice.Predicted
		}
	})
	if compileErr != nil {
		t.Fatal(compileErr)
	}
	return cryptonets, digits
}

func digit(x *ir.Tensor, i int) *ir.Tensor {
	size := ir.NumElements(x.Shape[1:])
	return &ir.Tensor{Shape: append([]int{1}, x.Shape[1:]...), Data: x.Data[i*size : (i+1)*size]}
}

// renamed is c under another model name: the same circuit, another compile.
func renamed(c *runtime.Circuit, name string) *runtime.Circuit {
	spec := *c.Spec
	spec.Model = name
	return &runtime.Circuit{Spec: &spec, Graph: c.Graph}
}

// testServer is a server listening on a free port of 127.0.0.1.
type testServer struct {
	*Server
	url    string
	stop   context.CancelFunc
	served chan error
}

func startServer(t *testing.T, cfg Config, circuits ...*runtime.Circuit) *testServer {
	t.Helper()
	for _, c := range circuits {
		m, err := NewModel(c)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Models = append(cfg.Models, m)
	}
	if cfg.Keys == nil {
		store, err := NewDirStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		cfg.Keys = store
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, srv, context.Background())
}

func serveOn(t *testing.T, srv *Server, parent context.Context) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(parent)
	ts := &testServer{Server: srv, url: "http://" + ln.Addr().String(), stop: cancel, served: make(chan error, 1)}
	go func() { ts.served <- srv.Serve(ctx, ln, "", "") }()
	t.Cleanup(func() {
		cancel()
		<-ts.served
	})
	return ts
}

// session opens a client session in keysDir (shared by the tests that
// query the same model, so keys are made once).
func session(t *testing.T, ts *testServer, model, keysDir string) *Session {
	t.Helper()
	c, err := NewClient(ts.url)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), c, model, keysDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	sharedKeysOnce sync.Once
	sharedKeysDir  string
)

// sharedKeys is a client key directory shared by the tests of this
// process: keygen once per model.
func sharedKeys(t *testing.T) string {
	sharedKeysOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hecc-serve-test-keys")
		if err != nil {
			t.Fatal(err)
		}
		sharedKeysDir = dir
	})
	return sharedKeysDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedKeysDir != "" {
		os.RemoveAll(sharedKeysDir)
	}
	os.Exit(code)
}

// TestEndToEnd runs the whole flow over HTTP for CryptoNets: model list,
// spec, keygen, key upload, encrypted inferences, decryption; then a second
// session that finds its keys on disk and on the server.
func TestEndToEnd(t *testing.T) {
	c, x := compiled(t)
	ts := startServer(t, Config{Workers: 2, Queue: 4}, c)
	keys := t.TempDir()
	var stages []string
	client, _ := NewClient(ts.url)
	s, err := Open(context.Background(), client, "cryptonets", keys, func(stage string, _ time.Duration) { stages = append(stages, stage) })
	if err != nil {
		t.Fatal(err)
	}
	if !hasPrefix(stages, "keygen") || !hasPrefix(stages, "upload") {
		t.Fatalf("first session's stages %v: expected keygen and upload", stages)
	}
	if st, err := os.Stat(filepath.Join(s.dir, "secret.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret.key: %v, mode %v", err, st.Mode())
	}
	s.Progress = nil // the inferences below run concurrently
	// Four inferences at once on two workers, which share one prepared
	// key set.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := digit(x, i)
			ans, err := s.Infer(context.Background(), in)
			if err != nil {
				errs <- err
				return
			}
			plain, err := ir.Interpret(c.Graph, map[string]*ir.Tensor{c.Spec.Input.Name: in})
			if err != nil {
				errs <- err
				return
			}
			if want := TopClasses(plain[c.Spec.Output.Name])[0]; ans.Top[0] != want {
				errs <- fmt.Errorf("digit %d: encrypted top class %d, plaintext circuit %d", i, ans.Top[0], want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	stages = nil
	again, err := Open(context.Background(), client, "cryptonets", keys, func(stage string, _ time.Duration) { stages = append(stages, stage) })
	if err != nil {
		t.Fatal(err)
	}
	if hasPrefix(stages, "keygen") || hasPrefix(stages, "upload") || again.KeyID != s.KeyID {
		t.Fatalf("second session's stages %v, key %s (first %s): expected the same keys, neither made nor uploaded", stages, again.KeyID, s.KeyID)
	}

	models, err := client.Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fp := c.Spec.Fingerprint()
	if len(models) != 1 || models[0].Name != "cryptonets" || models[0].Fingerprint != fmt.Sprintf("%x", fp) || models[0].Sizes.EvalKeys == 0 {
		t.Fatalf("models %+v", models)
	}
	if got := models[0].PredictedSeconds; !(got > 0) || math.Abs(got-predicted) > 1e-9*predicted {
		t.Fatalf("predicted latency %g s listed, the compile reported %g s", got, predicted)
	}
	if got := testutil.ToFloat64(ts.metrics.requests.WithLabelValues("POST /v1/models/{name}/infer", "200")); got != 4 {
		t.Fatalf("%v inferences answered 200 in the metrics, expected 4", got)
	}
	if got := testutil.ToFloat64(ts.metrics.cacheHits); got != 4 {
		t.Fatalf("%v key cache hits, expected 4 (the upload parsed the keys)", got)
	}
	resp, err := http.Get(ts.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, series := range []string{"hecc_evaluation_seconds_count{model=\"cryptonets\"} 4", "hecc_queue_depth 0", "hecc_key_cache_sets 1", "process_resident_memory_bytes"} {
		if !strings.Contains(string(body), series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
}

func hasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// TestErrors checks each error status and code.
func TestErrors(t *testing.T) {
	c, x := compiled(t)
	other := renamed(c, "other")
	ts := startServer(t, Config{}, c, other)
	s := session(t, ts, "cryptonets", sharedKeys(t))
	so := session(t, ts, "other", sharedKeys(t))
	input, err := s.Encrypt(digit(x, 0))
	if err != nil {
		t.Fatal(err)
	}
	evalKeys, err := os.ReadFile(filepath.Join(s.dir, "eval.keys"))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := os.ReadFile(filepath.Join(s.dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	foreign := append([]byte(nil), evalKeys...)
	foreign[10] ^= 1 // the fingerprint of a compile the server does not serve
	m := ts.models["cryptonets"]

	infer := func(model, key string) string { return "POST /v1/models/" + model + "/infer " + key }
	tests := []struct {
		name   string
		req    string // METHOD PATH [KEY-ID]
		body   io.Reader
		length int64 // Content-Length to announce; -1 for chunked
		status int
		code   string
	}{
		{"unknown model", infer("nope", s.KeyID), bytes.NewReader(input), int64(len(input)), 404, codeUnknownModel},
		{"unknown model's spec", "GET /v1/models/nope/spec", nil, 0, 404, codeUnknownModel},
		{"unknown route", "GET /v2/models", nil, 0, 404, "not_found"},
		{"no key id", infer("cryptonets", ""), bytes.NewReader(input), int64(len(input)), 400, codeMalformed},
		{"malformed key id", infer("cryptonets", "xyz"), bytes.NewReader(input), int64(len(input)), 400, codeMalformed},
		{"unknown key id", infer("cryptonets", strings.Repeat("ab", 32)), bytes.NewReader(input), int64(len(input)), 404, codeUnknownKey},
		{"unknown key", "GET /v1/keys/" + strings.Repeat("ab", 32), nil, 0, 404, codeUnknownKey},
		{"key set of another model", infer("other", s.KeyID), bytes.NewReader(input), int64(len(input)), 409, codeWrongCompile},
		{"input of another compile", infer("other", so.KeyID), bytes.NewReader(input), int64(len(input)), 409, codeWrongCompile},
		{"garbage input", infer("cryptonets", s.KeyID), strings.NewReader("not a ciphertext"), 16, 400, codeMalformed},
		{"truncated input", infer("cryptonets", s.KeyID), bytes.NewReader(input[:len(input)/2]), int64(len(input) / 2), 400, codeMalformed},
		{"oversized input announced", infer("cryptonets", s.KeyID), bytes.NewReader(make([]byte, m.Sizes.InputCt+1)), int64(m.Sizes.InputCt + 1), 413, codeTooLarge},
		{"oversized input chunked", infer("cryptonets", s.KeyID), bytes.NewReader(make([]byte, m.Sizes.InputCt+1)), -1, 413, codeTooLarge},
		{"oversized keys announced", "PUT /v1/keys", bytes.NewReader(append(evalKeys, 0)), int64(len(evalKeys) + 1), 413, codeTooLarge},
		{"oversized keys chunked", "PUT /v1/keys", bytes.NewReader(append(evalKeys, 0)), -1, 413, codeTooLarge},
		{"truncated keys", "PUT /v1/keys", bytes.NewReader(evalKeys[:len(evalKeys)-1]), -1, 400, codeMalformed},
		{"keys of another compile", "PUT /v1/keys", bytes.NewReader(foreign), int64(len(foreign)), 409, codeWrongCompile},
		{"a secret key", "PUT /v1/keys", bytes.NewReader(secret), int64(len(secret)), 400, codeMalformed},
		{"not a hecc file", "PUT /v1/keys", strings.NewReader(strings.Repeat("x", 100)), 100, 400, codeMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields := strings.Fields(tt.req)
			req, err := http.NewRequest(fields[0], ts.url+fields[1], tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.body != nil {
				req.ContentLength = tt.length
				if tt.length < 0 {
					req.Body = io.NopCloser(tt.body) // hides the length: chunked
				}
			}
			if len(fields) > 2 {
				req.Header.Set(KeyIDHeader, fields[2])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e apiError
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatalf("status %d, body not a JSON error: %v", resp.StatusCode, err)
			}
			if resp.StatusCode != tt.status || e.Code != tt.code || e.Error == "" {
				t.Fatalf("got %d %+v, expected %d %s", resp.StatusCode, e, tt.status, tt.code)
			}
		})
	}
	// Neither a refused upload nor a bad request leaves a key set behind.
	ids, err := ts.keys.List()
	if err != nil || len(ids) != 2 {
		t.Fatalf("the store holds %v (%v), expected the two sessions' key sets", ids, err)
	}
}

// blockedServer is a server whose evaluations wait in beforeRun until
// release is called once per evaluation; started reports each one.
func blockedServer(t *testing.T, cfg Config) (ts *testServer, started chan struct{}, release func()) {
	t.Helper()
	c, _ := compiled(t)
	m, err := NewModel(c)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Models = []*Model{m}
	if cfg.Keys == nil {
		cfg.Keys, _ = NewDirStore(t.TempDir())
	}
	cfg.Logger = testLogger(t)
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	started = make(chan struct{}, 16)
	gate := make(chan struct{}, 16)
	srv.beforeRun = func() {
		started <- struct{}{}
		<-gate
	}
	return serveOn(t, srv, context.Background()), started, func() { gate <- struct{}{} }
}

// post sends an inference and returns its status, or the client's error.
func post(ctx context.Context, ts *testServer, s *Session, input []byte) (int, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.url+"/v1/models/cryptonets/infer", bytes.NewReader(input))
	req.Header.Set(KeyIDHeader, s.KeyID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

type reply struct {
	status int
	body   []byte
	err    error
}

func postAsync(ctx context.Context, ts *testServer, s *Session, input []byte) chan reply {
	out := make(chan reply, 1)
	go func() {
		st, b, err := post(ctx, ts, s, input)
		out <- reply{st, b, err}
	}()
	return out
}

// waitFor polls cond: the server's state changes in its own goroutines.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestBusy fills the only worker and the queue: the next request gets 503
// with Retry-After.
func TestBusy(t *testing.T) {
	_, x := compiled(t)
	ts, started, release := blockedServer(t, Config{Workers: 1, Queue: 1})
	s := session(t, ts, "cryptonets", sharedKeys(t))
	input, _ := s.Encrypt(digit(x, 0))
	running := postAsync(context.Background(), ts, s, input)
	<-started
	queued := postAsync(context.Background(), ts, s, input)
	waitFor(t, "the queued job", func() bool { return testutil.ToFloat64(ts.metrics.queueDepth) == 1 })
	req, _ := http.NewRequest(http.MethodPost, ts.url+"/v1/models/cryptonets/infer", bytes.NewReader(input))
	req.Header.Set(KeyIDHeader, s.KeyID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q: expected 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	release()
	release()
	for _, r := range []chan reply{running, queued} {
		if got := <-r; got.err != nil || got.status != 200 {
			t.Fatalf("%d %v", got.status, got.err)
		}
	}
}

// TestClientLeaves: a client that leaves while its job is queued has the
// job dropped, never run; one that leaves mid-run has its evaluation
// stopped, and its worker serves the next request.
func TestClientLeaves(t *testing.T) {
	_, x := compiled(t)
	ts, started, release := blockedServer(t, Config{Workers: 1, Queue: 2})
	s := session(t, ts, "cryptonets", sharedKeys(t))
	input, _ := s.Encrypt(digit(x, 0))

	ctxA, leaveA := context.WithCancel(context.Background())
	a := postAsync(ctxA, ts, s, input)
	<-started
	ctxB, leaveB := context.WithCancel(context.Background())
	b := postAsync(ctxB, ts, s, input)
	waitFor(t, "the queued job", func() bool { return testutil.ToFloat64(ts.metrics.queueDepth) == 1 })
	leaveB()
	leaveA()
	for _, r := range []chan reply{a, b} {
		if got := <-r; !errors.Is(got.err, context.Canceled) {
			t.Fatalf("a client that left got %d %v", got.status, got.err)
		}
	}
	// Both handlers notice their clients left; only then does A's run go on.
	waitFor(t, "the server to see both clients leave", func() bool {
		return testutil.ToFloat64(ts.metrics.requests.WithLabelValues("POST /v1/models/{name}/infer", "499")) == 2
	})
	release()
	waitFor(t, "A's worker to give up its run", func() bool {
		return testutil.ToFloat64(ts.metrics.abandoned.WithLabelValues("running", "canceled")) == 1
	})
	// Its run stopped: no evaluation finished, none was timed.
	if n := testutil.CollectAndCount(ts.metrics.evaluation); n != 0 {
		t.Fatalf("the evaluation of a client that left ran to its end (%d series timed)", n)
	}
	c := postAsync(context.Background(), ts, s, input)
	<-started // only C's run starts: B was dropped
	release()
	if got := <-c; got.err != nil || got.status != 200 {
		t.Fatalf("the request after the clients left: %d %v", got.status, got.err)
	}
	if got := testutil.ToFloat64(ts.metrics.abandoned.WithLabelValues("queued", "canceled")); got != 1 {
		t.Errorf("%v queued jobs dropped, expected 1", got)
	}
	if got := testutil.ToFloat64(ts.metrics.abandoned.WithLabelValues("running", "canceled")); got != 1 {
		t.Errorf("%v running evaluations stopped, expected 1", got)
	}
	select {
	case <-started:
		t.Fatal("the dropped job ran")
	default:
	}
}

// TestShutdownDuringEvaluation sends SIGTERM while an evaluation runs: it
// finishes and is answered, new requests are refused, Serve returns.
func TestShutdownDuringEvaluation(t *testing.T) {
	_, x := compiled(t)
	c, _ := compiled(t)
	m, _ := NewModel(c)
	store, _ := NewDirStore(t.TempDir())
	srv, err := New(Config{Models: []*Model{m}, Keys: store, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	started, gate := make(chan struct{}, 4), make(chan struct{})
	srv.beforeRun = func() {
		started <- struct{}{}
		<-gate
	}
	// As hecc serve does: SIGTERM cancels the context Serve runs under.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	ts := serveOn(t, srv, ctx)
	s := session(t, ts, "cryptonets", sharedKeys(t))
	input, _ := s.Encrypt(digit(x, 0))
	running := postAsync(context.Background(), ts, s, input)
	<-started
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server to drain", srv.draining.Load)
	waitFor(t, "the listener to close", func() bool {
		_, err := http.Get(ts.url + "/healthz")
		return err != nil
	})
	close(gate)
	got := <-running
	if got.err != nil || got.status != 200 {
		t.Fatalf("the evaluation under way at SIGTERM: %d %v", got.status, got.err)
	}
	if _, err := s.Decrypt(got.body); err != nil {
		t.Fatalf("its result: %v", err)
	}
	if err := <-ts.served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	ts.served <- nil // for the cleanup
}

// TestDeadline: a request whose deadline passes while it waits gets 504.
func TestDeadline(t *testing.T) {
	_, x := compiled(t)
	ts, started, release := blockedServer(t, Config{Workers: 1, Queue: 1, Timeout: 50 * time.Millisecond})
	s := session(t, ts, "cryptonets", sharedKeys(t))
	input, _ := s.Encrypt(digit(x, 0))
	r := postAsync(context.Background(), ts, s, input)
	<-started
	got := <-r
	release()
	var e apiError
	if json.Unmarshal(got.body, &e); got.status != http.StatusGatewayTimeout || e.Code != codeDeadline {
		t.Fatalf("%d %s: expected 504 deadline", got.status, got.body)
	}
}

// TestMaxKeySets: a store full of key sets drops the least recently used.
func TestMaxKeySets(t *testing.T) {
	c, _ := compiled(t)
	ts := startServer(t, Config{MaxKeySets: 1}, c, renamed(c, "other"))
	a := session(t, ts, "cryptonets", sharedKeys(t))
	b := session(t, ts, "other", sharedKeys(t))
	for _, tt := range []struct {
		s    *Session
		want bool
	}{{a, false}, {b, true}} {
		has, err := ts.Server.cfg.Keys.Stat(tt.s.KeyID)
		if (err == nil) != tt.want {
			t.Fatalf("key set of %s: %v %v, held %v expected", tt.s.Model, has, err, tt.want)
		}
	}
}

// TestKeyCacheEvicts: the least recently used key set goes first.
func TestKeyCacheEvicts(t *testing.T) {
	c := newKeyCache(100, nil)
	loads := 0
	get := func(id string, size int64) bool {
		_, hit, err := c.get(context.Background(), id, func() (*runtime.Server, int64, error) {
			loads++
			return nil, size, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return hit
	}
	get("a", 40)
	get("b", 40)
	get("a", 40) // a is now the most recent
	get("c", 40) // evicts b
	for _, tt := range []struct {
		id  string
		hit bool
	}{{"a", true}, {"c", true}, {"b", false}} {
		if hit := get(tt.id, 40); hit != tt.hit {
			t.Errorf("%s: hit %v, expected %v", tt.id, hit, tt.hit)
		}
	}
	if get("huge", 101); get("huge", 101) {
		t.Error("a key set above the budget was kept")
	}
}

// TestKeyCacheCountsKeys: the key cache counts what a key set costs, its
// keys (runtime.Server.Memory), not the prepared circuit every key set
// shares: a budget of two and a half key sets keeps two, the least
// recently used evicted, and the metrics show the prepared circuit apart.
func TestKeyCacheCountsKeys(t *testing.T) {
	c, _ := compiled(t)
	m, err := NewModel(c)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := runtime.GenerateKeys(c.Spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := m.Prepared.WithKeys(keys.Eval)
	if err != nil {
		t.Fatal(err)
	}
	perSet := srv.Memory().Keys
	encoded := m.Prepared.Memory().Encoded
	if perSet <= int64(m.Sizes.EvalKeysMemory) || encoded <= 0 {
		t.Fatalf("a key set counts %d bytes (keys alone %d), the prepared circuit %d", perSet, m.Sizes.EvalKeysMemory, encoded)
	}
	store, err := NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	served, err := New(Config{Models: []*Model{m}, Keys: store, KeyCacheBytes: perSet * 5 / 2, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ts := serveOn(t, served, context.Background())
	var ids []string
	for range 3 {
		ids = append(ids, session(t, ts, "cryptonets", t.TempDir()).KeyID)
	}
	ts.cache.mu.Lock()
	_, first := ts.cache.entries[ids[0]]
	held := len(ts.cache.entries)
	ts.cache.mu.Unlock()
	if first || held != 2 {
		t.Fatalf("the cache holds %d key sets (the first: %v); the last two expected", held, first)
	}
	if got := testutil.ToFloat64(ts.metrics.cacheBytes); got != float64(2*perSet) {
		t.Fatalf("hecc_key_cache_bytes %v, expected %d", got, 2*perSet)
	}
	families, err := ts.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string]float64{}
	for _, f := range families {
		if f.GetName() == "hecc_prepared_circuit_bytes" {
			for _, metric := range f.GetMetric() {
				for _, l := range metric.GetLabel() {
					if l.GetName() == "part" {
						parts[l.GetValue()] = metric.GetGauge().GetValue()
					}
				}
			}
		}
	}
	if parts["encoded"] != float64(encoded) || parts["buffers"] <= 0 {
		t.Fatalf("hecc_prepared_circuit_bytes %v: encoded %d and some buffers expected", parts, encoded)
	}
}

// testLogger discards the logs: the server's goroutines may log after a
// test's end, where t.Log panics.
func testLogger(*testing.T) *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
