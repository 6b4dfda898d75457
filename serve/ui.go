package serve

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
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

// uiHandler serves the browser client under /ui/.
func uiHandler(fsys fs.FS) http.Handler {
	files := http.StripPrefix("/ui/", http.FileServerFS(fsys))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", uiPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// Revalidated on every load, so a rebuilt client is picked up.
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
