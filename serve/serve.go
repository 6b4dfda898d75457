// Package serve is encrypted inference as a service: an HTTP server that
// holds compiled models (.hec), takes each client's evaluation keys once,
// and evaluates encrypted inputs with them, and the client that talks to
// it. The server never holds a key that decrypts anything; it sees
// ciphertexts, evaluation and public keys and the spec's public facts
// only.
//
// The API (JSON errors {"error", "code"} throughout):
//
//	GET  /v1/models                  the models: name, fingerprint, shapes, parameters, sizes
//	GET  /v1/models/{name}/spec      the model's .spec file
//	PUT  /v1/keys                    upload eval.keys; 201 {"id"} (200 if already held)
//	GET  /v1/keys/{id}               200 {"id", "model", "public_key"} if the server holds the key set, else 404
//	PUT  /v1/keys/{id}/public        upload the key set's public.key, which a flooding circuit needs
//	POST /v1/models/{name}/infer     header Hecc-Key-Id, body the input .ct; answers the result .ct
//	GET  /healthz, /metrics          liveness; Prometheus metrics
//	GET  /ui/                        the browser client, when Config.UI holds it
//
// A key set's id is the hex SHA-256 of its file. Evaluations run on a
// bounded pool of workers (one evaluation already uses every core); a full
// queue answers 503 with Retry-After.
package serve

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hecc-dev/hecc/runtime"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// KeyIDHeader carries the key set an inference request evaluates with.
const KeyIDHeader = "Hecc-Key-Id"

// Defaults of Config.
const (
	DefaultWorkers       = 1
	DefaultQueue         = 8
	DefaultKeyCacheBytes = 8 << 30
	DefaultMaxKeySets    = 1000
	DefaultTimeout       = 5 * time.Minute
)

// Config says what a Server serves and within which limits.
type Config struct {
	Models []*Model
	Keys   KeyStore
	// KeyCacheBytes bounds the memory of the parsed key sets kept between
	// requests (runtime.Server.Memory: each set's keys; the prepared
	// circuits they share are not in it).
	KeyCacheBytes int64
	// Workers evaluations run at once; Queue more wait for a worker.
	Workers, Queue int
	// MaxKeySets is how many key sets the store keeps: uploading one more
	// removes the least recently used.
	MaxKeySets int
	// Timeout is every inference request's deadline, queueing included.
	Timeout time.Duration
	Logger  *slog.Logger
	// UI, when set, holds the browser client (UIFiles), served at /ui/.
	UI fs.FS
}

// Server is the HTTP service. Create it with New, serve it with Serve or
// mount Handler; Close stops its workers.
type Server struct {
	cfg     Config
	models  map[string]*Model
	byPrint map[[32]byte]*Model
	maxKeys int64 // the largest key file of any model
	keys    KeyStore
	cache   *keyCache
	metrics *metrics
	log     *slog.Logger
	handler http.Handler

	jobs     chan *job
	workers  sync.WaitGroup
	draining atomic.Bool
	closed   sync.Once

	keyMu      sync.Mutex
	keyPrint   map[string][32]byte // key id → fingerprint of its compile, as read from its file
	uploadLock sync.Mutex          // one store eviction at a time

	evalMu   sync.Mutex
	evalMean map[*Model]float64 // seconds, for Retry-After

	// beforeRun, when set (tests), runs in the worker just before an
	// evaluation.
	beforeRun func()
}

// New makes a Server and starts its workers.
func New(cfg Config) (*Server, error) {
	if len(cfg.Models) == 0 {
		return nil, errors.New("no model to serve")
	}
	if cfg.Keys == nil {
		return nil, errors.New("no key store")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Queue < 0 {
		cfg.Queue = 0
	}
	if cfg.KeyCacheBytes <= 0 {
		cfg.KeyCacheBytes = DefaultKeyCacheBytes
	}
	if cfg.MaxKeySets <= 0 {
		cfg.MaxKeySets = DefaultMaxKeySets
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.UI != nil {
		if err := CheckUI(cfg.UI); err != nil {
			return nil, err
		}
	}
	s := &Server{
		cfg: cfg, models: map[string]*Model{}, byPrint: map[[32]byte]*Model{},
		keys: cfg.Keys, metrics: newMetrics(), log: cfg.Logger,
		jobs: make(chan *job, cfg.Queue), keyPrint: map[string][32]byte{}, evalMean: map[*Model]float64{},
	}
	for _, m := range cfg.Models {
		if _, dup := s.models[m.Name]; dup {
			return nil, fmt.Errorf("two models are named %q: recompile one with another --name", m.Name)
		}
		s.models[m.Name] = m
		s.byPrint[m.Fingerprint] = m
		s.maxKeys = max(s.maxKeys, int64(m.Sizes.EvalKeys))
		s.metrics.watchPrepared(m)
	}
	s.cache = newKeyCache(cfg.KeyCacheBytes, func(b int64, n int) {
		s.metrics.cacheBytes.Set(float64(b))
		s.metrics.cacheSets.Set(float64(n))
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", s.listModels)
	mux.HandleFunc("GET /v1/models/{name}/spec", s.getSpec)
	mux.HandleFunc("PUT /v1/keys", s.putKeys)
	mux.HandleFunc("GET /v1/keys/{id}", s.getKey)
	mux.HandleFunc("PUT /v1/keys/{id}/public", s.putPublic)
	mux.HandleFunc("POST /v1/models/{name}/infer", s.infer)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	if cfg.UI != nil {
		mux.Handle("GET /ui/", uiHandler(cfg.UI))
		mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
	})
	s.handler = s.observe(mux)
	for range cfg.Workers {
		s.workers.Add(1)
		go s.work()
	}
	return s, nil
}

// Handler is the service's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers on ln until ctx is done, then shuts down gracefully:
// evaluations under way finish and are answered, new requests are refused.
// With certFile and keyFile it serves TLS.
func (s *Server) Serve(ctx context.Context, ln net.Listener, certFile, keyFile string) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		if certFile != "" {
			errc <- hs.ServeTLS(ln, certFile, keyFile)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	s.log.Info("serving", "addr", ln.Addr().String(), "models", len(s.models), "workers", s.cfg.Workers, "queue", s.cfg.Queue)
	select {
	case err := <-errc:
		s.Close()
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down: finishing the evaluations under way")
	s.draining.Store(true)
	// An evaluation cannot outlast its request's deadline by more than
	// one run; give it that long.
	grace, cancel := context.WithTimeout(context.Background(), 2*s.cfg.Timeout)
	defer cancel()
	err := hs.Shutdown(grace)
	s.Close()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// Close refuses new work and waits for the workers to finish theirs.
func (s *Server) Close() {
	s.closed.Do(func() {
		s.draining.Store(true)
		close(s.jobs)
		s.workers.Wait()
	})
}

// observe wraps every request: an id, its route's metrics and one log line.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID()
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		body := &countingReader{r: r.Body}
		r.Body = body
		log := s.log.With("request", id)
		r = r.WithContext(context.WithValue(r.Context(), logKey{}, log))
		w.Header().Set("Hecc-Request-Id", id)
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "unmatched"
		}
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
		s.metrics.bytesIn.WithLabelValues(route).Add(float64(body.n.Load()))
		s.metrics.bytesOut.WithLabelValues(route).Add(float64(rec.n))
		log.Info("request", "method", r.Method, "route", route, "status", rec.status,
			"bytes_in", body.n.Load(), "bytes_out", rec.n, "seconds", time.Since(start).Seconds())
	})
}

type logKey struct{}

// logger is the request's logger, which carries its id.
func (s *Server) logger(r *http.Request) *slog.Logger {
	if l, ok := r.Context().Value(logKey{}).(*slog.Logger); ok {
		return l
	}
	return s.log
}

func requestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type recorder struct {
	http.ResponseWriter
	status  int
	n       int64
	written bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.written {
		r.status, r.written = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) Write(b []byte) (int, error) {
	r.written = true
	n, err := r.ResponseWriter.Write(b)
	r.n += int64(n)
	return n, err
}

// statusClientLeft is what the metrics and logs record for a request whose
// client left before its answer (nginx's 499).
const statusClientLeft = 499

// clientLeft records that the client left: nothing is written to it.
func clientLeft(w http.ResponseWriter) {
	if r, ok := w.(*recorder); ok {
		r.status, r.written = statusClientLeft, true
	}
}

type countingReader struct {
	r io.ReadCloser
	n atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Error: msg, Code: code})
}

// The error codes, each with its status.
const (
	codeMalformed    = "malformed"     // 400
	codeUnknownModel = "unknown_model" // 404
	codeUnknownKey   = "unknown_key"   // 404
	codeWrongCompile = "wrong_compile" // 409
	codeWrongKeySet  = "wrong_key_set" // 409
	codeTooLarge     = "too_large"     // 413
	codeBusy         = "busy"          // 503
	codeShutdown     = "shutting_down" // 503
	codeDeadline     = "deadline"      // 504
	codeInternal     = "internal"      // 500
	// 428: an inference on a circuit that floods its results while the
	// server holds no public key of the key set.
	codePublicKeyRequired = "public_key_required"
)

func (s *Server) listModels(w http.ResponseWriter, _ *http.Request) {
	infos := []ModelInfo{}
	for _, m := range s.cfg.Models {
		infos = append(infos, m.Info())
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": infos})
}

func (s *Server) model(w http.ResponseWriter, r *http.Request) *Model {
	name := r.PathValue("name")
	m, ok := s.models[name]
	if !ok {
		writeError(w, http.StatusNotFound, codeUnknownModel, fmt.Sprintf("no model %q on this server (GET /v1/models lists them)", name))
		return nil
	}
	return m
}

func (s *Server) getSpec(w http.ResponseWriter, r *http.Request) {
	m := s.model(w, r)
	if m == nil {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(m.SpecBytes)))
	w.Header().Set("Hecc-Fingerprint", hex.EncodeToString(m.Fingerprint[:]))
	w.Write(m.SpecBytes)
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	m, err := s.keyModel(id)
	if err != nil {
		s.keyError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, KeyInfo{ID: id, Model: m.Name, PublicKey: s.holdsPublic(id), PublicKeyRequired: m.Circuit.Spec.CircuitPrivacyBits > 0})
}

// KeyInfo is what GET /v1/keys/{id} says of a stored key set.
type KeyInfo struct {
	ID    string `json:"id"`
	Model string `json:"model"`
	// PublicKey says whether the server holds the key set's public key,
	// which PublicKeyRequired says the model needs (it floods its results).
	PublicKey         bool `json:"public_key"`
	PublicKeyRequired bool `json:"public_key_required"`
}

// holdsPublic says whether the store holds the public key of key set id.
func (s *Server) holdsPublic(id string) bool {
	f, err := s.keys.OpenPublic(id)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// keyModel is the model the stored key set id was made for.
func (s *Server) keyModel(id string) (*Model, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: %q is not a key id (64 lower-case hex digits)", errMalformed, id)
	}
	s.keyMu.Lock()
	fp, ok := s.keyPrint[id]
	s.keyMu.Unlock()
	if !ok {
		f, err := s.keys.Open(id)
		if err != nil {
			return nil, err
		}
		head := make([]byte, runtime.HeaderSize)
		_, err = io.ReadFull(f, head)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("stored key set %s is unreadable: %w", id, err)
		}
		copy(fp[:], head[6:])
		s.keyMu.Lock()
		s.keyPrint[id] = fp
		s.keyMu.Unlock()
	}
	m, ok := s.byPrint[fp]
	if !ok {
		return nil, fmt.Errorf("%w: key set %s belongs to compile %s, which this server no longer serves", ErrNoKey, id, hex.EncodeToString(fp[:6]))
	}
	return m, nil
}

var errMalformed = errors.New("malformed request")

func (s *Server) keyError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errMalformed):
		writeError(w, http.StatusBadRequest, codeMalformed, err.Error())
	case errors.Is(err, ErrNoKey):
		writeError(w, http.StatusNotFound, codeUnknownKey, "the server holds no such key set: upload eval.keys with PUT /v1/keys")
	default:
		writeError(w, http.StatusInternalServerError, codeInternal, "cannot read the key store")
	}
}

// putKeys stores an uploaded eval.keys. Its header names the compile, and
// so the exact size the file must have, before the rest is read.
func (s *Server) putKeys(w http.ResponseWriter, r *http.Request) {
	log := s.logger(r)
	if r.ContentLength > s.maxKeys {
		writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("%d bytes is more than the evaluation keys of any model here (at most %d)", r.ContentLength, s.maxKeys))
		return
	}
	head := make([]byte, runtime.HeaderSize)
	if _, err := io.ReadFull(r.Body, head); err != nil {
		writeError(w, http.StatusBadRequest, codeMalformed, "the body is shorter than a hecc file header")
		return
	}
	switch kind, err := runtime.PeekKind(head); {
	case err != nil:
		writeError(w, http.StatusBadRequest, codeMalformed, "the body is not a hecc evaluation-keys file")
		return
	case kind == runtime.KindSecretKey:
		writeError(w, http.StatusBadRequest, codeMalformed, "this is a secret key: it must never leave the client; upload eval.keys")
		return
	case kind != runtime.KindEvalKeys:
		writeError(w, http.StatusBadRequest, codeMalformed, fmt.Sprintf("expected evaluation keys, got a %s", kind))
		return
	}
	var fp [32]byte
	copy(fp[:], head[6:])
	m, ok := s.byPrint[fp]
	if !ok {
		writeError(w, http.StatusConflict, codeWrongCompile, fmt.Sprintf("these keys were made for compile %s, which this server does not serve: make keys from a spec it serves", hex.EncodeToString(fp[:6])))
		return
	}
	want := int64(m.Sizes.EvalKeys)
	if r.ContentLength > want {
		writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("%d bytes: the evaluation keys of %s take %d", r.ContentLength, m.Name, want))
		return
	}
	pending, err := s.keys.Create()
	if err != nil {
		log.Error("key store", "err", err)
		writeError(w, http.StatusInternalServerError, codeInternal, "cannot store the keys")
		return
	}
	h := sha256.New()
	out := io.MultiWriter(pending, h)
	out.Write(head)
	n, err := io.Copy(out, io.LimitReader(r.Body, want-runtime.HeaderSize+1))
	n += runtime.HeaderSize
	switch {
	case err != nil:
		pending.Abort()
		writeError(w, http.StatusBadRequest, codeMalformed, "the upload broke off")
		return
	case n > want:
		pending.Abort()
		writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("more than the %d bytes the evaluation keys of %s take", want, m.Name))
		return
	case n < want:
		pending.Abort()
		writeError(w, http.StatusBadRequest, codeMalformed, fmt.Sprintf("%d bytes: the evaluation keys of %s take %d", n, m.Name, want))
		return
	}
	id := hex.EncodeToString(h.Sum(nil))
	log = log.With("model", m.Name, "key", id)
	if _, err := s.keys.Stat(id); err == nil {
		pending.Abort()
		s.keys.Touch(id)
		writeJSON(w, http.StatusOK, map[string]string{"id": id, "model": m.Name})
		return
	}
	if err := pending.Commit(id); err != nil {
		log.Error("key store", "err", err)
		writeError(w, http.StatusInternalServerError, codeInternal, "cannot store the keys")
		return
	}
	s.keyMu.Lock()
	s.keyPrint[id] = fp
	s.keyMu.Unlock()
	// Parsing checks every key against the spec, and leaves the set ready
	// for the first inference.
	// Keys of a flooding circuit parse whole before the missing public
	// key stops the load: they are valid, and loaded again once it comes.
	if _, _, err := s.cache.get(r.Context(), id, func() (*runtime.Server, int64, error) { return s.loadKeys(m, id) }); err != nil && !errors.Is(err, runtime.ErrNoPublicKey) {
		s.forget(id)
		if r.Context().Err() != nil {
			return
		}
		log.Info("refused keys", "err", err)
		writeError(w, http.StatusBadRequest, codeMalformed, fmt.Sprintf("invalid evaluation keys: %v", err))
		return
	}
	s.metrics.cacheMisses.Inc()
	s.evictStore(id, log)
	log.Info("stored keys", "bytes", n)
	writeJSON(w, http.StatusCreated, map[string]string{"id": id, "model": m.Name})
}

// loadKeys parses a stored key set, with its public key if the store
// holds it, and attaches it to the model's prepared circuit.
func (s *Server) loadKeys(m *Model, id string) (*runtime.Server, int64, error) {
	f, err := s.keys.Open(id)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	ek, err := runtime.ReadEvalKeys(f, m.Circuit.Spec)
	if err != nil {
		return nil, 0, err
	}
	pk, err := s.readPublic(m, id)
	switch {
	case err == nil:
		if err := ek.WithPublicKey(pk); err != nil {
			return nil, 0, err
		}
	case !errors.Is(err, runtime.ErrNoPublicKey):
		return nil, 0, err
	}
	srv, err := m.Prepared.WithKeys(ek)
	if err != nil {
		return nil, 0, err
	}
	return srv, srv.Memory().Keys, nil
}

// readPublic parses the stored public key of key set id.
func (s *Server) readPublic(m *Model, id string) (*runtime.PublicKey, error) {
	f, err := s.keys.OpenPublic(id)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(m.Sizes.PublicKey)+1))
	if err != nil {
		return nil, err
	}
	return runtime.DecodePublicKey(m.Circuit.Spec, data)
}

// putPublic stores the public key of a stored key set: a circuit that
// floods its results encrypts the flood under it. It must be of the eval
// keys' compile and key set, and of the spec's exact size, announced or
// read.
func (s *Server) putPublic(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	m, err := s.keyModel(id)
	if err != nil {
		s.keyError(w, err)
		return
	}
	log := s.logger(r).With("model", m.Name, "key", id)
	want := int64(m.Sizes.PublicKey)
	if r.ContentLength > want {
		writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("%d bytes: the public key of %s takes %d", r.ContentLength, m.Name, want))
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, want+1))
	switch {
	case err != nil:
		writeError(w, http.StatusBadRequest, codeMalformed, "the upload broke off")
		return
	case int64(len(data)) > want:
		writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("more than the %d bytes the public key of %s takes", want, m.Name))
		return
	}
	switch kind, err := runtime.PeekKind(data); {
	case err != nil:
		writeError(w, http.StatusBadRequest, codeMalformed, "the body is not a hecc public-key file")
		return
	case kind == runtime.KindSecretKey:
		writeError(w, http.StatusBadRequest, codeMalformed, "this is a secret key: it must never leave the client; upload public.key")
		return
	case kind != runtime.KindPublicKey:
		writeError(w, http.StatusBadRequest, codeMalformed, fmt.Sprintf("expected a public key, got a %s", kind))
		return
	}
	if !bytes.Equal(data[6:38], m.Fingerprint[:]) {
		writeError(w, http.StatusConflict, codeWrongCompile, fmt.Sprintf("this public key was made for compile %s, key set %s for compile %s (%s)", hex.EncodeToString(data[6:12]), id, hex.EncodeToString(m.Fingerprint[:6]), m.Name))
		return
	}
	keySet, err := s.keySet(id)
	if err != nil {
		s.keyError(w, err)
		return
	}
	if got, _ := runtime.PeekKeySet(data); got != keySet {
		writeError(w, http.StatusConflict, codeWrongKeySet, fmt.Sprintf("this public key is of key set %s, the evaluation keys %s of key set %s: upload the public.key of the keygen that made them", got, id, keySet))
		return
	}
	if _, err := runtime.DecodePublicKey(m.Circuit.Spec, data); err != nil {
		writeError(w, http.StatusBadRequest, codeMalformed, fmt.Sprintf("invalid public key: %v", err))
		return
	}
	status := http.StatusOK
	if !s.holdsPublic(id) {
		if err := s.keys.PutPublic(id, data); err != nil {
			log.Error("key store", "err", err)
			writeError(w, http.StatusInternalServerError, codeInternal, "cannot store the public key")
			return
		}
		status = http.StatusCreated
		// A key set cached without it is loaded again, with it, and left
		// ready for the first inference.
		s.cache.remove(id)
		if _, _, err := s.cache.get(r.Context(), id, func() (*runtime.Server, int64, error) { return s.loadKeys(m, id) }); err != nil {
			if r.Context().Err() != nil {
				return
			}
			log.Error("cannot load the key set with its public key", "err", err)
			writeError(w, http.StatusInternalServerError, codeInternal, "cannot load the key set with its public key")
			return
		}
		s.metrics.cacheMisses.Inc()
		log.Info("stored public key", "bytes", len(data))
	}
	writeJSON(w, status, KeyInfo{ID: id, Model: m.Name, PublicKey: true, PublicKeyRequired: m.Circuit.Spec.CircuitPrivacyBits > 0})
}

// keySet is the key set of the stored evaluation keys id, from their
// file's header.
func (s *Server) keySet(id string) (runtime.KeySetID, error) {
	f, err := s.keys.Open(id)
	if err != nil {
		return runtime.KeySetID{}, err
	}
	defer f.Close()
	head := make([]byte, runtime.HeaderSize)
	if _, err := io.ReadFull(f, head); err != nil {
		return runtime.KeySetID{}, fmt.Errorf("stored key set %s is unreadable: %w", id, err)
	}
	return runtime.PeekKeySet(head)
}

// forget removes a key set from the store and the cache.
func (s *Server) forget(id string) {
	s.keys.Remove(id)
	s.cache.remove(id)
	s.keyMu.Lock()
	delete(s.keyPrint, id)
	s.keyMu.Unlock()
}

// evictStore removes the least recently used key sets beyond MaxKeySets,
// never keep (the one just stored).
func (s *Server) evictStore(keep string, log *slog.Logger) {
	s.uploadLock.Lock()
	defer s.uploadLock.Unlock()
	ids, err := s.keys.List()
	if err != nil {
		log.Error("key store", "err", err)
		return
	}
	for _, id := range ids {
		if len(ids) <= s.cfg.MaxKeySets {
			return
		}
		if id == keep {
			continue
		}
		s.forget(id)
		ids = ids[1:]
		log.Info("evicted keys", "evicted", id)
	}
}

// job is one inference waiting for a worker.
type job struct {
	ctx   context.Context
	model *Model
	keyID string
	// granted is closed when a worker takes the job; the worker then waits
	// for input, which the handler sends once it has decoded the body (nil
	// if it refused it). A batch model's body is read only then, so that
	// the server holds at most one batch input per worker.
	granted chan struct{}
	input   chan *runtime.Ciphertext // buffered
	done    chan result              // buffered: a worker never waits for the handler
}

type result struct {
	ct      *runtime.Ciphertext
	seconds float64
	err     error
}

func (s *Server) work() {
	defer s.workers.Done()
	for j := range s.jobs {
		s.metrics.queueDepth.Dec()
		if err := j.ctx.Err(); err != nil {
			s.metrics.abandoned.WithLabelValues("queued", reason(err)).Inc()
			continue
		}
		close(j.granted)
		var in *runtime.Ciphertext
		select {
		case in = <-j.input:
		case <-j.ctx.Done():
			s.metrics.abandoned.WithLabelValues("queued", reason(j.ctx.Err())).Inc()
			continue
		}
		if in == nil {
			continue // the handler refused the body and answered
		}
		s.metrics.running.Inc()
		j.done <- s.evaluate(j, in)
		s.metrics.running.Dec()
	}
}

func reason(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "deadline"
	}
	return "canceled"
}

// evaluate runs one job on its decoded input. A job whose client leaves or
// whose deadline passes mid-run stops at the evaluation's next node or
// giant step, and frees its worker.
func (s *Server) evaluate(j *job, in *runtime.Ciphertext) result {
	srv, hit, err := s.cache.get(j.ctx, j.keyID, func() (*runtime.Server, int64, error) { return s.loadKeys(j.model, j.keyID) })
	if err != nil {
		return result{err: err}
	}
	if hit {
		s.metrics.cacheHits.Inc()
	} else {
		s.metrics.cacheMisses.Inc()
	}
	if s.beforeRun != nil {
		s.beforeRun()
	}
	// The input's key set is checked against the stored keys' only here,
	// once they are loaded.
	if srv.KeySet() != in.KeySet() {
		return result{err: fmt.Errorf("%w: the input was encrypted with key set %s, the stored keys %s are key set %s", runtime.ErrKeySet, in.KeySet(), j.keyID, srv.KeySet())}
	}
	out, st, err := srv.RunConsuming(j.ctx, in)
	if stop := j.ctx.Err(); err != nil && stop != nil && errors.Is(err, stop) {
		s.metrics.abandoned.WithLabelValues("running", reason(stop)).Inc()
		return result{err: err}
	}
	if err != nil {
		return result{err: err}
	}
	s.metrics.evaluation.WithLabelValues(j.model.Name).Observe(st.EvalSeconds)
	s.recordEval(j.model, st.EvalSeconds)
	if err := j.ctx.Err(); err != nil {
		s.metrics.abandoned.WithLabelValues("running", reason(err)).Inc()
		return result{err: err}
	}
	return result{ct: out, seconds: st.EvalSeconds}
}

// EvalSecondsHeader carries, on a result, how long the evaluation took on
// the server.
const EvalSecondsHeader = "Hecc-Eval-Seconds"

func (s *Server) infer(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if s.draining.Load() {
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusServiceUnavailable, codeShutdown, "the server is shutting down")
		return
	}
	m := s.model(w, r)
	if m == nil {
		return
	}
	id := r.Header.Get(KeyIDHeader)
	log := s.logger(r).With("model", m.Name, "key", id)
	if id == "" {
		writeError(w, http.StatusBadRequest, codeMalformed, "no "+KeyIDHeader+" header: upload eval.keys with PUT /v1/keys and send the id it answers")
		return
	}
	km, err := s.keyModel(id)
	if err != nil {
		s.keyError(w, err)
		return
	}
	if km != m {
		writeError(w, http.StatusConflict, codeWrongCompile, fmt.Sprintf("key set %s was made for model %s, not %s", id, km.Name, m.Name))
		return
	}
	if m.Circuit.Spec.CircuitPrivacyBits > 0 && !s.holdsPublic(id) {
		publicKeyRequired(w, m, id)
		return
	}
	if limit := int64(m.Sizes.InputCt); r.ContentLength > limit {
		writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("%d bytes: an input of %s takes at most %d", r.ContentLength, m.Name, limit))
		return
	}
	j := &job{model: m, keyID: id, granted: make(chan struct{}), input: make(chan *runtime.Ciphertext, 1), done: make(chan result, 1)}
	batch := m.Circuit.Spec.Batched()
	if !batch {
		// A packed input is small: read it before queueing, so that a
		// worker never waits for an upload.
		in := s.readInput(w, r, m, time.Time{})
		if in == nil {
			return
		}
		j.input <- in
	}
	s.keys.Touch(id)

	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	j.ctx = ctx
	s.metrics.queueDepth.Inc()
	select {
	case s.jobs <- j:
	default:
		s.metrics.queueDepth.Dec()
		w.Header().Set("Retry-After", strconv.Itoa(s.retryAfter(m)))
		writeError(w, http.StatusServiceUnavailable, codeBusy, "every worker is busy and the queue is full: retry later")
		return
	}
	if batch {
		select {
		case <-j.granted:
		case <-ctx.Done():
			s.stopped(w, r, log, start)
			return
		}
		deadline, _ := ctx.Deadline()
		in := s.readInput(w, r, m, deadline)
		j.input <- in
		if in == nil {
			return
		}
	}
	select {
	case res := <-j.done:
		switch {
		case errors.Is(res.err, context.DeadlineExceeded):
			writeError(w, http.StatusGatewayTimeout, codeDeadline, fmt.Sprintf("no result within the deadline of %s", s.cfg.Timeout))
		case res.err != nil && ctx.Err() != nil:
			clientLeft(w)
			log.Info("client left", "seconds", time.Since(start).Seconds())
		case errors.Is(res.err, runtime.ErrNoPublicKey):
			publicKeyRequired(w, m, id)
		case errors.Is(res.err, runtime.ErrKeySet):
			writeError(w, http.StatusConflict, codeWrongCompile, res.err.Error())
		case res.err != nil:
			log.Error("evaluation failed", "err", res.err)
			writeError(w, http.StatusInternalServerError, codeInternal, "the evaluation failed")
		default:
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.Itoa(m.Sizes.OutputCt))
			w.Header().Set(EvalSecondsHeader, strconv.FormatFloat(res.seconds, 'g', 6, 64))
			if err := runtime.WriteCiphertext(w, m.Circuit.Spec, res.ct); err != nil {
				log.Info("the result was not sent whole", "err", err)
				return
			}
			s.metrics.latency.WithLabelValues(m.Name).Observe(time.Since(start).Seconds())
			log.Info("inference", "eval_seconds", res.seconds, "seconds", time.Since(start).Seconds())
		}
	case <-ctx.Done():
		// The worker drops the job if it has not started it, and otherwise
		// stops its run.
		s.stopped(w, r, log, start)
	}
}

// publicKeyRequired answers an inference on a flooding circuit whose key
// set came without its public key.
func publicKeyRequired(w http.ResponseWriter, m *Model, id string) {
	writeError(w, http.StatusPreconditionRequired, codePublicKeyRequired, fmt.Sprintf("%s floods its results for circuit privacy (%d bits), encrypting the flood under the client's public key: upload the public.key of key set %s with PUT /v1/keys/%s/public", m.Name, m.Circuit.Spec.CircuitPrivacyBits, id, id))
}

// stopped answers a request whose deadline passed or whose client left.
func (s *Server) stopped(w http.ResponseWriter, r *http.Request, log *slog.Logger, start time.Time) {
	if r.Context().Err() != nil {
		clientLeft(w)
		log.Info("client left", "seconds", time.Since(start).Seconds())
		return
	}
	writeError(w, http.StatusGatewayTimeout, codeDeadline, fmt.Sprintf("no result within the deadline of %s", s.cfg.Timeout))
}

// readInput streams the request body into m's input ciphertexts, within
// the spec's size and, if set, until deadline. It answers the client
// itself when it refuses the body, and returns nil then.
func (s *Server) readInput(w http.ResponseWriter, r *http.Request, m *Model, deadline time.Time) *runtime.Ciphertext {
	limit := int64(m.Sizes.InputCt)
	if !deadline.IsZero() {
		// A slow upload must not hold its worker past the deadline.
		rc := http.NewResponseController(w)
		rc.SetReadDeadline(deadline)
		defer rc.SetReadDeadline(time.Time{})
	}
	body := &bodyReader{r: http.MaxBytesReader(w, r.Body, limit)}
	head := make([]byte, runtime.HeaderSize)
	_, headErr := io.ReadFull(body, head)
	var in *runtime.Ciphertext
	err := headErr
	if err == nil {
		keySet, _ := runtime.PeekKeySet(head)
		in, err = runtime.ReadCiphertext(io.MultiReader(bytes.NewReader(head), body), m.Circuit.Spec, runtime.KindInputCt, keySet)
	}
	if err == nil {
		return in
	}
	// A body the decoder refused early may also be too large: that is
	// the answer then. Reading on costs no memory.
	io.Copy(io.Discard, body)
	switch {
	case r.Context().Err() != nil:
		clientLeft(w)
	case body.tooLarge:
		writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("an input of %s takes at most %d bytes", m.Name, limit))
	case body.err != nil && !deadline.IsZero() && !time.Now().Before(deadline):
		writeError(w, http.StatusGatewayTimeout, codeDeadline, fmt.Sprintf("the upload did not end within the deadline of %s", s.cfg.Timeout))
	case body.err != nil:
		writeError(w, http.StatusBadRequest, codeMalformed, "the upload broke off")
	case headErr != nil:
		writeError(w, http.StatusBadRequest, codeMalformed, "the body is shorter than a hecc file header")
	case errors.Is(err, runtime.ErrMismatch):
		writeError(w, http.StatusConflict, codeWrongCompile, err.Error())
	default:
		writeError(w, http.StatusBadRequest, codeMalformed, err.Error())
	}
	return nil
}

// bodyReader remembers why a request body stopped: too large, or broken
// off.
type bodyReader struct {
	r        io.Reader
	tooLarge bool
	err      error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		b.tooLarge = true
	case err != nil && err != io.EOF:
		b.err = err
	}
	return n, err
}

// recordEval keeps a moving average of m's evaluation time.
func (s *Server) recordEval(m *Model, seconds float64) {
	s.evalMu.Lock()
	defer s.evalMu.Unlock()
	if old, ok := s.evalMean[m]; ok {
		seconds = 0.8*old + 0.2*seconds
	}
	s.evalMean[m] = seconds
}

// retryAfter estimates in seconds when a worker frees up: the jobs ahead
// of a new one times m's mean evaluation, at least one second.
func (s *Server) retryAfter(m *Model) int {
	s.evalMu.Lock()
	mean := s.evalMean[m]
	s.evalMu.Unlock()
	ahead := float64(s.cfg.Queue+s.cfg.Workers) / float64(s.cfg.Workers)
	return max(1, int(math.Ceil(ahead*mean)))
}
