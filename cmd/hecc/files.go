package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
	"github.com/hecc-dev/hecc/serve"
)

// readFile reads a whole file, refusing one larger than limit before
// reading anything: each kind of hecc file has a size its spec predicts
// or bounds.
func readFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes is larger than this kind of hecc file can be (%d)", path, st.Size(), limit)
	}
	data := make([]byte, st.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if n, _ := f.Read(make([]byte, 1)); n != 0 {
		return nil, fmt.Errorf("%s changed while it was read", path)
	}
	return data, nil
}

// writeFile writes atomically: a crash never leaves half a key or circuit
// behind under the final name.
func writeFile(path string, data []byte, perm os.FileMode) error {
	return serve.WriteAtomic(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// replaceExt swaps path's extension.
func replaceExt(path, ext string) string {
	return path[:len(path)-len(filepath.Ext(path))] + ext
}

// readKeyFile reads a secret or public key made for spec, refusing a
// file larger than the larger of the two before reading it.
func readKeyFile(path string, spec *plan.Spec) ([]byte, error) {
	sizes, err := runtime.PredictSizes(spec)
	if err != nil {
		return nil, err
	}
	return readFile(path, int64(max(sizes.SecretKey, sizes.PublicKey)))
}
