package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// maxFileSize bounds what hecc reads into memory (evaluation keys at the
// largest ring can reach several GiB).
const maxFileSize = 32 << 30

// readFile reads a whole file, refusing one larger than maxFileSize.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxFileSize {
		return nil, fmt.Errorf("%s: %d bytes is larger than any hecc file", path, st.Size())
	}
	return io.ReadAll(io.LimitReader(f, maxFileSize+1))
}

// writeFile writes atomically: a crash never leaves half a key or circuit
// behind under the final name.
func writeFile(path string, data []byte, perm os.FileMode) error {
	return writeFileStream(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeFileStream is writeFile for contents produced piece by piece.
func writeFileStream(path string, perm os.FileMode, write func(w io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(bw); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// replaceExt swaps path's extension.
func replaceExt(path, ext string) string {
	return path[:len(path)-len(filepath.Ext(path))] + ext
}
