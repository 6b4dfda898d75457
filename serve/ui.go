package serve

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// UIFiles are the files of the browser client: the page (serve/ui), Go's
// wasm_exec.js and hecc.wasm (cmd/hecc-wasm). `make ui` assembles them in
// bin/ui.
var UIFiles = []string{"index.html", "app.js", "worker.js", "style.css", "wasm_exec.js", "hecc.wasm"}

// ErrUI reports a browser client directory that lacks a file.
var ErrUI = errors.New("incomplete browser client")

// CheckUI makes sure fsys holds every file of the browser client.
func CheckUI(fsys fs.FS) error {
	for _, name := range UIFiles {
		if _, err := fs.Stat(fsys, name); err != nil {
			return fmt.Errorf("%w: no %s (make ui builds the client into bin/ui): %w", ErrUI, name, err)
		}
	}
	return nil
}

// uiPolicy confines the page to its own server: scripts, the worker and
// the WebAssembly come from it, and every request goes to it. Nothing the
// page holds can be sent elsewhere, whatever a script tried.
const uiPolicy = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; " +
	"connect-src 'self'; style-src 'self'; img-src 'self' blob: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// uiHandler serves the browser client under /ui/, hecc.wasm gzipped to
// clients that accept it.
func uiHandler(fsys fs.FS) http.Handler {
	files := http.StripPrefix("/ui/", http.FileServerFS(fsys))
	wasm := &gzipped{fsys: fsys, name: "hecc.wasm"}
	wasm.get() // compressed now rather than on the first visit
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", uiPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// Revalidated on every load, so a rebuilt client is picked up.
		h.Set("Cache-Control", "no-cache")
		if r.URL.Path == "/ui/"+wasm.name {
			h.Add("Vary", "Accept-Encoding")
			if acceptsGzip(r.Header.Get("Accept-Encoding")) {
				if gz, mod, err := wasm.get(); err == nil {
					h.Set("Content-Type", "application/wasm")
					h.Set("Content-Encoding", "gzip")
					http.ServeContent(w, r, wasm.name, mod, bytes.NewReader(gz))
					return
				}
			}
		}
		files.ServeHTTP(w, r)
	})
}

// gzipped is a file of fsys compressed, again whenever the file changes.
type gzipped struct {
	fsys fs.FS
	name string

	mu   sync.Mutex
	mod  time.Time
	size int64
	data []byte
}

// get returns the compressed file and its modification time; an error
// leaves the caller to serve the file as it is.
func (g *gzipped) get() ([]byte, time.Time, error) {
	st, err := fs.Stat(g.fsys, g.name)
	if err != nil {
		return nil, time.Time{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.data != nil && st.ModTime().Equal(g.mod) && st.Size() == g.size {
		return g.data, g.mod, nil
	}
	raw, err := fs.ReadFile(g.fsys, g.name)
	if err != nil {
		return nil, time.Time{}, err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		return nil, time.Time{}, err
	}
	g.data, g.mod, g.size = buf.Bytes(), st.ModTime(), st.Size()
	return g.data, g.mod, nil
}

// acceptsGzip reports whether an Accept-Encoding header admits gzip: named
// with a non-zero weight, or else through * with one.
func acceptsGzip(header string) bool {
	star := false
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.TrimSpace(name)
		switch {
		case strings.EqualFold(name, "gzip"):
			return weight(params) > 0
		case name == "*":
			star = weight(params) > 0
		}
	}
	return star
}

// weight is the q parameter of an Accept-Encoding entry's parameters: 1
// when absent, 0 when malformed.
func weight(params string) float64 {
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0
			}
			return q
		}
	}
	return 1
}
