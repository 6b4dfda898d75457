package serve

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// WriteAtomic writes a file under a temporary name and renames it, so a
// crash never leaves half a key or circuit behind under the final name.
// The temporary file is removed on an error and on SIGINT or SIGTERM,
// which end the process: a key file interrupted at gigabytes would
// otherwise stay on the disk.
func WriteAtomic(path string, perm os.FileMode, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
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
