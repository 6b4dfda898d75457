package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls a hecc server's API.
type Client struct {
	Base string // e.g. http://127.0.0.1:8080
	HTTP *http.Client
}

// NewClient makes a client of the server at base.
func NewClient(base string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q: expected http://HOST:PORT or https://HOST:PORT", base)
	}
	return &Client{Base: strings.TrimSuffix(base, "/"), HTTP: &http.Client{}}, nil
}

// APIError is an error answer of the server.
type APIError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration // set with 503
}

func (e *APIError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Message)
}

// IsCode says whether err is an APIError with code.
func IsCode(err error, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == code
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, size int64, header map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		e := &APIError{Status: resp.StatusCode}
		var body apiError
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body); err == nil {
			e.Code, e.Message = body.Code, body.Error
		} else {
			e.Message = http.StatusText(resp.StatusCode)
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, e)
	}
	return resp, nil
}

// readBody reads a response body of at most limit bytes.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("the server's answer is larger than %d bytes", limit)
	}
	return b, nil
}

// Models lists the server's models.
func (c *Client) Models(ctx context.Context) ([]ModelInfo, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/models", nil, 0, nil)
	if err != nil {
		return nil, err
	}
	b, err := readBody(resp, 16<<20)
	if err != nil {
		return nil, err
	}
	var out struct {
		Models []ModelInfo `json:"models"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("the server's model list: %w", err)
	}
	return out.Models, nil
}

// Spec fetches a model's .spec file.
func (c *Client) Spec(ctx context.Context, model string) ([]byte, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/models/"+url.PathEscape(model)+"/spec", nil, 0, nil)
	if err != nil {
		return nil, err
	}
	return readBody(resp, 16<<20)
}

// KeyInfo reports what the server holds of key set id: ok is false if
// it holds no such key set.
func (c *Client) KeyInfo(ctx context.Context, id string) (info KeyInfo, ok bool, err error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/keys/"+url.PathEscape(id), nil, 0, nil)
	if IsCode(err, codeUnknownKey) {
		return info, false, nil
	}
	if err != nil {
		return info, false, err
	}
	b, err := readBody(resp, 1<<16)
	if err != nil {
		return info, false, err
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, false, fmt.Errorf("the server's answer about key set %s: %w", id, err)
	}
	return info, true, nil
}

// UploadPublicKey sends the public.key, of size bytes, of the stored key
// set id.
func (c *Client) UploadPublicKey(ctx context.Context, id string, key io.Reader, size int64) error {
	resp, err := c.do(ctx, http.MethodPut, "/v1/keys/"+url.PathEscape(id)+"/public", key, size, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// UploadKeys sends an eval.keys of size bytes and returns its id.
func (c *Client) UploadKeys(ctx context.Context, keys io.Reader, size int64) (string, error) {
	resp, err := c.do(ctx, http.MethodPut, "/v1/keys", keys, size, nil)
	if err != nil {
		return "", err
	}
	b, err := readBody(resp, 1<<16)
	if err != nil {
		return "", err
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &out); err != nil || !validID(out.ID) {
		return "", fmt.Errorf("the server's answer to the key upload has no key id")
	}
	return out.ID, nil
}

// Infer posts an encrypted input and returns the encrypted result.
func (c *Client) Infer(ctx context.Context, model, keyID string, input []byte) ([]byte, error) {
	resp, err := c.InferStream(ctx, model, keyID, bytes.NewReader(input), int64(len(input)))
	if err != nil {
		return nil, err
	}
	return readBody(resp, 1<<30)
}

// InferStream posts an encrypted input of size bytes read from input and
// returns the answer, whose body is the encrypted result, for the caller
// to stream and close.
func (c *Client) InferStream(ctx context.Context, model, keyID string, input io.Reader, size int64) (*http.Response, error) {
	return c.do(ctx, http.MethodPost, "/v1/models/"+url.PathEscape(model)+"/infer", input, size, map[string]string{KeyIDHeader: keyID})
}
