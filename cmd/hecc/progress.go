package main

import (
	"fmt"
	"os"
)

// progress returns a callback that shows done/total on stderr when stderr
// is a terminal, and stays silent in logs and pipes.
func progress(what string) func(done, total int) {
	st, err := os.Stderr.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return func(done, total int) {
		fmt.Fprintf(os.Stderr, "\r%s: %d/%d", what, done, total)
		if done == total {
			fmt.Fprintln(os.Stderr)
		}
	}
}
