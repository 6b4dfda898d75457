package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
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
	return writeFileStream(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeFileStream is writeFile for contents produced piece by piece. The
// temporary file is removed on an error and on SIGINT or SIGTERM, which
// end the process: a key file interrupted at gigabytes would otherwise
// stay on the disk.
func writeFileStream(path string, perm os.FileMode, write func(w io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	stop := removeOnSignal(tmp.Name())
	defer stop()
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

// removeOnSignal removes path and exits on SIGINT or SIGTERM until the
// returned function is called.
func removeOnSignal(path string) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			os.Remove(path)
			fmt.Fprintf(os.Stderr, "hecc: %v: stopped, the unfinished %s is removed\n", s, filepath.Base(path))
			os.Exit(130)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
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
