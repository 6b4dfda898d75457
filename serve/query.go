package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
)

// DefaultClientKeysDir is where hecc query keeps its keys unless told: a
// per-user configuration directory.
func DefaultClientKeysDir() (string, error) {
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration directory for the keys (give --keys): %w", err)
	}
	return filepath.Join(base, "hecc", "keys"), nil
}

// Session is a client ready to query one model of one server: the spec
// fetched and checked, keys made (once per server, model and compile, kept
// under the keys directory), the evaluation keys uploaded.
type Session struct {
	Client *Client
	Model  string
	Spec   *plan.Spec
	// Info is what the server lists of the model.
	Info   ModelInfo
	KeyID  string
	dir    string
	secret []byte // the encoded secret key, read from its 0600 file
	// Progress, when set, hears of every stage and how long it took, in
	// the goroutine that ran the stage.
	Progress func(stage string, d time.Duration)
}

func (s *Session) stage(name string, start time.Time) {
	if s.Progress != nil {
		s.Progress(name, time.Since(start))
	}
}

// ErrSpecMismatch reports a spec whose fingerprint is not the one the
// server lists for the model.
var ErrSpecMismatch = errors.New("the server's spec does not match its model list")

// Open prepares a session: spec, keys and upload, each only if needed.
func Open(ctx context.Context, c *Client, model, keysDir string, progress func(string, time.Duration)) (*Session, error) {
	s := &Session{Client: c, Model: model, Progress: progress}
	start := time.Now()
	models, err := c.Models(ctx)
	if err != nil {
		return nil, err
	}
	var info *ModelInfo
	for i := range models {
		if models[i].Name == model {
			info = &models[i]
		}
	}
	if info == nil {
		names := make([]string, len(models))
		for i, m := range models {
			names[i] = m.Name
		}
		return nil, fmt.Errorf("the server has no model %q (it has %s)", model, strings.Join(names, ", "))
	}
	if !validID(info.Fingerprint) {
		return nil, fmt.Errorf("the server lists model %q with fingerprint %q", model, info.Fingerprint)
	}
	// One directory per server, model and compile: keys of another compile
	// would be refused.
	u, _ := url.Parse(c.Base)
	s.Info = *info
	s.dir = filepath.Join(keysDir, safeName(u.Host), safeName(model), info.Fingerprint[:12])
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the key directory: %w", err)
	}
	if s.Spec, err = s.loadSpec(ctx, info.Fingerprint); err != nil {
		return nil, err
	}
	s.stage("spec", start)
	if err := s.ensureKeys(); err != nil {
		return nil, err
	}
	if err := s.ensureUploaded(ctx, false); err != nil {
		return nil, err
	}
	return s, nil
}

// safeName makes a host or model name a single path element.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' || r == 0 {
			return '_'
		}
		return r
	}, s)
	if s == "" || s == "." || s == ".." {
		return "_" + s
	}
	return s
}

// loadSpec reads the cached spec, or fetches it; either way its
// fingerprint must be the one the server lists.
func (s *Session) loadSpec(ctx context.Context, fingerprint string) (*plan.Spec, error) {
	path := filepath.Join(s.dir, "model.spec")
	data, err := os.ReadFile(path)
	fetched := false
	if err != nil {
		if data, err = s.Client.Spec(ctx, s.Model); err != nil {
			return nil, err
		}
		fetched = true
	}
	spec, err := runtime.DecodeSpec(data)
	if err != nil {
		return nil, fmt.Errorf("the spec of %s: %w", s.Model, err)
	}
	if fp := spec.Fingerprint(); hex.EncodeToString(fp[:]) != fingerprint {
		return nil, fmt.Errorf("%w: model %s, compile %s listed, the spec is compile %s", ErrSpecMismatch, s.Model, fingerprint[:12], spec.ShortFingerprint())
	}
	if fetched {
		if err := WriteAtomic(path, 0o644, bytesTo(data)); err != nil {
			return nil, err
		}
	}
	return spec, nil
}

// ensureKeys makes the key set if the directory has none. The secret key
// is written 0600 and never sent anywhere.
func (s *Session) ensureKeys() error {
	skPath := filepath.Join(s.dir, "secret.key")
	ekPath := filepath.Join(s.dir, "eval.keys")
	sk, err := os.ReadFile(skPath)
	if err == nil {
		if _, err := os.Stat(ekPath); err == nil {
			s.secret = sk
			return nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	start := time.Now()
	secret, public, err := runtime.GenerateKeyPair(s.Spec)
	if err != nil {
		return err
	}
	if sk, err = runtime.EncodeSecretKey(s.Spec, secret); err != nil {
		return err
	}
	pk, err := runtime.EncodePublicKey(s.Spec, public)
	if err != nil {
		return err
	}
	if err := WriteAtomic(skPath, 0o600, bytesTo(sk)); err != nil {
		return err
	}
	if err := WriteAtomic(filepath.Join(s.dir, "public.key"), 0o644, bytesTo(pk)); err != nil {
		return err
	}
	// eval.keys last, streamed (they can reach gigabytes): its presence
	// says the set is whole.
	if err := WriteAtomic(ekPath, 0o644, func(w io.Writer) error {
		return runtime.WriteEvalKeys(w, s.Spec, secret, nil)
	}); err != nil {
		return err
	}
	s.secret = sk
	s.stage("keygen", start)
	return nil
}

// ensureUploaded uploads eval.keys unless the server holds them (or
// always, with force: the server may have evicted them since it said so),
// and public.key too if the circuit floods its results and the server
// lacks it.
func (s *Session) ensureUploaded(ctx context.Context, force bool) error {
	held, err := s.uploadEvalKeys(ctx, force)
	if err != nil || s.Spec.CircuitPrivacyBits == 0 || held.PublicKey {
		return err
	}
	start := time.Now()
	pk, err := os.Open(filepath.Join(s.dir, "public.key"))
	if err != nil {
		return fmt.Errorf("%s floods its results and needs the public key: %w", s.Model, err)
	}
	defer pk.Close()
	st, err := pk.Stat()
	if err != nil {
		return err
	}
	if err := s.Client.UploadPublicKey(ctx, s.KeyID, pk, st.Size()); err != nil {
		return err
	}
	s.stage(fmt.Sprintf("upload public.key (%.1f MiB)", float64(st.Size())/(1<<20)), start)
	return nil
}

// uploadEvalKeys uploads eval.keys unless the server holds them (or
// always, with force), and reports what the server holds of the key set
// before.
func (s *Session) uploadEvalKeys(ctx context.Context, force bool) (KeyInfo, error) {
	start := time.Now()
	f, err := os.Open(filepath.Join(s.dir, "eval.keys"))
	if err != nil {
		return KeyInfo{}, err
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return KeyInfo{}, err
	}
	s.KeyID = hex.EncodeToString(h.Sum(nil))
	if !force {
		held, has, err := s.Client.KeyInfo(ctx, s.KeyID)
		if err != nil {
			return KeyInfo{}, err
		}
		if has {
			return held, nil
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return KeyInfo{}, err
	}
	id, err := s.Client.UploadKeys(ctx, f, size)
	if err != nil {
		return KeyInfo{}, err
	}
	if id != s.KeyID {
		return KeyInfo{}, fmt.Errorf("the server stored the keys as %s, their SHA-256 is %s", id, s.KeyID)
	}
	s.stage(fmt.Sprintf("upload eval.keys (%.1f MiB)", float64(size)/(1<<20)), start)
	return KeyInfo{}, nil
}

// Encrypt encrypts an input tensor under the secret key (the smaller,
// seeded form).
func (s *Session) Encrypt(t *ir.Tensor) ([]byte, error) {
	start := time.Now()
	sk, err := runtime.DecodeSecretKey(s.Spec, s.secret)
	if err != nil {
		return nil, err
	}
	b, err := runtime.EncryptFile(s.Spec, sk, t)
	if err != nil {
		return nil, err
	}
	s.stage("encrypt", start)
	return b, nil
}

// Answer is a decrypted result.
type Answer struct {
	// Scores are the decrypted outputs before the model's post-processing;
	// Output after it (softmax and the like).
	Scores *ir.Tensor
	Output *ir.Tensor
	Top    []int // class indices, highest score first
}

// Infer encrypts t, has the server evaluate it and decrypts the result.
func (s *Session) Infer(ctx context.Context, t *ir.Tensor) (*Answer, error) {
	ct, err := s.Encrypt(t)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res, err := s.Client.Infer(ctx, s.Model, s.KeyID, ct)
	if missing := IsCode(err, codeUnknownKey); missing || IsCode(err, codePublicKeyRequired) {
		// Evicted since the check (the public key is held or not with the
		// evaluation keys, unless a key set was uploaded without it):
		// upload what is missing, once.
		if err := s.ensureUploaded(ctx, missing); err != nil {
			return nil, err
		}
		start = time.Now()
		res, err = s.Client.Infer(ctx, s.Model, s.KeyID, ct)
	}
	if err != nil {
		return nil, err
	}
	s.stage(fmt.Sprintf("server (%.1f KiB up, %.1f KiB down)", float64(len(ct))/1024, float64(len(res))/1024), start)
	return s.Decrypt(res)
}

// Decrypt decrypts a result file.
func (s *Session) Decrypt(res []byte) (*Answer, error) {
	start := time.Now()
	sk, err := runtime.DecodeSecretKey(s.Spec, s.secret)
	if err != nil {
		return nil, err
	}
	ct, err := runtime.DecodeCiphertext(s.Spec, runtime.KindOutputCt, sk.KeySet(), res)
	if err != nil {
		return nil, fmt.Errorf("the server's result: %w", err)
	}
	raw, err := runtime.Decrypt(s.Spec, sk, ct)
	if err != nil {
		return nil, err
	}
	out, err := ir.ApplyPost(s.Spec.Output.Post, raw)
	if err != nil {
		return nil, err
	}
	s.stage("decrypt", start)
	return &Answer{Scores: raw, Output: out, Top: TopClasses(raw)}, nil
}

// BatchAnswer is a batch circuit's decrypted result.
type BatchAnswer struct {
	// Scores has one row per input, the padding rows dropped, before the
	// model's post-processing; Output after it.
	Scores *ir.Tensor
	Output *ir.Tensor
	// EvalSeconds is the evaluation's time on the server, as it reports.
	EvalSeconds float64
}

// InferBatch encrypts a batch of inputs (leading axis: one per input, at
// most the spec's batch), has the server evaluate it and decrypts one row
// per input. Its stages are encrypt, upload, evaluate (from the upload's
// end to the answer, queueing included), download and decrypt.
func (s *Session) InferBatch(ctx context.Context, t *ir.Tensor) (*BatchAnswer, error) {
	if !s.Spec.Batched() {
		return nil, fmt.Errorf("model %s is not a batch circuit: query it one input at a time", s.Model)
	}
	if len(t.Shape) == 0 {
		return nil, fmt.Errorf("%w: a batch needs a leading axis of inputs", runtime.ErrShape)
	}
	images := t.Shape[0]
	start := time.Now()
	sk, err := runtime.DecodeSecretKey(s.Spec, s.secret)
	if err != nil {
		return nil, err
	}
	ct, err := runtime.EncryptFile(s.Spec, sk, t)
	if err != nil {
		return nil, err
	}
	s.stage(fmt.Sprintf("encrypt (%d inputs)", images), start)
	resp, sent, err := s.postBatch(ctx, ct)
	if IsCode(err, codeUnknownKey) {
		// Evicted since the check: upload again, once.
		if err := s.ensureUploaded(ctx, true); err != nil {
			return nil, err
		}
		resp, sent, err = s.postBatch(ctx, ct)
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	evalSeconds, _ := strconv.ParseFloat(resp.Header.Get(EvalSecondsHeader), 64)
	s.stage(fmt.Sprintf("evaluate (%.3f s on the server)", evalSeconds), sent)
	start = time.Now()
	body := &countReader{r: resp.Body}
	res, err := runtime.ReadCiphertext(body, s.Spec, runtime.KindOutputCt, sk.KeySet())
	if err != nil {
		return nil, fmt.Errorf("the server's result: %w", err)
	}
	s.stage(fmt.Sprintf("download (%.1f KiB)", float64(body.n)/1024), start)
	start = time.Now()
	raw, err := runtime.Decrypt(s.Spec, sk, res)
	if err != nil {
		return nil, err
	}
	row := len(raw.Data) / raw.Shape[0]
	raw = &ir.Tensor{Shape: append([]int{images}, raw.Shape[1:]...), Data: raw.Data[:images*row]}
	out, err := ir.ApplyPost(s.Spec.Output.Post, raw)
	if err != nil {
		return nil, err
	}
	s.stage("decrypt", start)
	return &BatchAnswer{Scores: raw, Output: out, EvalSeconds: evalSeconds}, nil
}

// postBatch uploads an encrypted batch and waits for the answer's header;
// it reports the upload as a stage and returns when the upload ended.
func (s *Session) postBatch(ctx context.Context, ct []byte) (*http.Response, time.Time, error) {
	start := time.Now()
	body := &uploadReader{r: bytes.NewReader(ct)}
	resp, err := s.Client.InferStream(ctx, s.Model, s.KeyID, body, int64(len(ct)))
	if err != nil {
		return nil, time.Time{}, err
	}
	sent := body.end()
	if s.Progress != nil {
		s.Progress(fmt.Sprintf("upload (%.1f MiB)", float64(len(ct))/(1<<20)), sent.Sub(start))
	}
	return resp, sent, nil
}

// uploadReader records when the transport read the body's last byte.
type uploadReader struct {
	r    io.Reader
	done atomic.Int64 // UnixNano, 0 until EOF
}

func (u *uploadReader) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	if err == io.EOF {
		u.done.CompareAndSwap(0, time.Now().UnixNano())
	}
	return n, err
}

// end is when the upload ended, or now if the transport never saw EOF
// (it stops at the announced length).
func (u *uploadReader) end() time.Time {
	if t := u.done.Load(); t != 0 {
		return time.Unix(0, t)
	}
	return time.Now()
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TopClasses orders the classes of a classifier's output (its last axis)
// by score, highest first.
func TopClasses(t *ir.Tensor) []int {
	n := len(t.Data)
	if len(t.Shape) > 0 {
		n = t.Shape[len(t.Shape)-1]
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return t.Data[idx[a]] > t.Data[idx[b]] })
	return idx
}

func bytesTo(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
}
