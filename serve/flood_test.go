package serve

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/compiler/tensorio"
	"github.com/hecc-dev/hecc/runtime"
)

// floodBits is λ of the flooding CryptoNets: small, so that it compiles
// at the same parameters as any λ the model affords.
const floodBits = 8

// floodingCryptoNets is the bundled CryptoNets compiled to flood its
// results.
func floodingCryptoNets(t *testing.T) *runtime.Circuit {
	t.Helper()
	calib, err := tensorio.ReadNPZ(filepath.Join(testdata, "samples", "mnist_calib.npz"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := compiler.CompileFile(filepath.Join(testdata, "models", "cryptonets.onnx"),
		compiler.Options{Name: "cryptonets", Calibration: calib["x"], Margin: compiler.DefaultMargin, CircuitPrivacyBits: floodBits})
	if err != nil {
		t.Fatal(err)
	}
	return &runtime.Circuit{Spec: res.Spec, Graph: res.Graph}
}

// TestServeFlooding runs a flooding circuit over HTTP. hecc query uploads
// the public key with the evaluation keys; two queries of one input give
// different result bytes that decrypt, rounded, to the same output. A
// server that holds a key set without its public key refuses to evaluate
// with it (428), and takes only that key set's public key: not another
// key set's (409), not an oversized body (413), not for an unknown key set
// (404).
func TestServeFlooding(t *testing.T) {
	c := floodingCryptoNets(t)
	_, x := compiled(t)
	ctx := context.Background()
	ts := startServer(t, Config{}, c)
	client, _ := NewClient(ts.url)
	var stages []string
	s, err := Open(ctx, client, "cryptonets", t.TempDir(), func(stage string, _ time.Duration) { stages = append(stages, stage) })
	if err != nil {
		t.Fatal(err)
	}
	if !hasPrefix(stages, "upload public.key") {
		t.Fatalf("stages %v: expected the public key's upload", stages)
	}
	if models, err := client.Models(ctx); err != nil || models[0].CircuitPrivacyBits != floodBits {
		t.Fatalf("models %+v (%v): expected circuit_privacy_bits %d", models, err, floodBits)
	}
	in := digit(x, 0)
	ct, err := s.Encrypt(in)
	if err != nil {
		t.Fatal(err)
	}
	var results [][]byte
	var scores [][]float64
	for range 2 {
		res, err := client.Infer(ctx, "cryptonets", s.KeyID, ct)
		if err != nil {
			t.Fatal(err)
		}
		ans, err := s.Decrypt(res)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res)
		scores = append(scores, ans.Scores.Data)
	}
	if bytes.Equal(results[0], results[1]) {
		t.Error("two queries of one input gave the same result bytes: the result is not flooded")
	}
	if !slices.Equal(scores[0], scores[1]) {
		t.Errorf("two queries of one input decrypt to %v and %v: expected the same rounded output", scores[0], scores[1])
	}

	// A server that holds the evaluation keys only.
	bare := startServer(t, Config{}, c)
	bc, _ := NewClient(bare.url)
	ek, err := os.ReadFile(filepath.Join(s.dir, "eval.keys"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := bc.UploadKeys(ctx, bytes.NewReader(ek), int64(len(ek)))
	if err != nil {
		t.Fatal(err)
	}
	if info, ok, err := bc.KeyInfo(ctx, id); err != nil || !ok || info.PublicKey || !info.PublicKeyRequired {
		t.Fatalf("key set without its public key: %+v, held %v (%v)", info, ok, err)
	}
	if _, err := bc.Infer(ctx, "cryptonets", id, ct); !isStatus(err, http.StatusPreconditionRequired, codePublicKeyRequired) {
		t.Fatalf("inference without the public key: %v, want 428 %s", err, codePublicKeyRequired)
	}
	_, other, err := runtime.GenerateKeyPair(c.Spec)
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := runtime.EncodePublicKey(c.Spec, other)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := os.ReadFile(filepath.Join(s.dir, "public.key"))
	if err != nil {
		t.Fatal(err)
	}
	unknown := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	oversized := append(slices.Clone(pk), 0)
	for _, tc := range []struct {
		name   string
		id     string
		body   []byte
		size   int64 // announced; -1 streams it
		status int
		code   string
	}{
		{"another key set's", id, wrong, int64(len(wrong)), http.StatusConflict, codeWrongKeySet},
		{"oversized, announced", id, oversized, int64(len(oversized)), http.StatusRequestEntityTooLarge, codeTooLarge},
		{"oversized, streamed", id, oversized, -1, http.StatusRequestEntityTooLarge, codeTooLarge},
		{"truncated", id, pk[:len(pk)-1], int64(len(pk) - 1), http.StatusBadRequest, codeMalformed},
		{"evaluation keys", id, ek[:len(pk)], int64(len(pk)), http.StatusBadRequest, codeMalformed},
		{"for an unknown key set", unknown, pk, int64(len(pk)), http.StatusNotFound, codeUnknownKey},
	} {
		if err := bc.UploadPublicKey(ctx, tc.id, bytes.NewReader(tc.body), tc.size); !isStatus(err, tc.status, tc.code) {
			t.Errorf("%s public key: %v, want %d %s", tc.name, err, tc.status, tc.code)
		}
	}
	if _, err := bc.Infer(ctx, "cryptonets", id, ct); !isStatus(err, http.StatusPreconditionRequired, codePublicKeyRequired) {
		t.Fatalf("inference after refused public keys: %v, want 428 %s", err, codePublicKeyRequired)
	}
	if err := bc.UploadPublicKey(ctx, id, bytes.NewReader(pk), int64(len(pk))); err != nil {
		t.Fatal(err)
	}
	if info, _, err := bc.KeyInfo(ctx, id); err != nil || !info.PublicKey {
		t.Fatalf("after the public key's upload: %+v (%v)", info, err)
	}
	res, err := bc.Infer(ctx, "cryptonets", id, ct)
	if err != nil {
		t.Fatal(err)
	}
	ans, err := s.Decrypt(res)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ans.Scores.Data, scores[0]) {
		t.Errorf("with the public key uploaded apart, the result decrypts to %v, on the first server to %v", ans.Scores.Data, scores[0])
	}
}

func isStatus(err error, status int, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == status && e.Code == code
}
