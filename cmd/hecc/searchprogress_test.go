package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hecc-dev/hecc/passes"
)

// A search shows its progress on stderr once it has run two seconds, then
// at most every five, and says when it is done if it ran two seconds: the
// clock is the reports' Elapsed, so nothing here waits.
func TestSearchProgress(t *testing.T) {
	at := func(s float64, tried int) passes.SearchProgress {
		return passes.SearchProgress{Tried: tried, Best: "degrees 7,15: top-class agreement 99.60%", Elapsed: time.Duration(s * float64(time.Second))}
	}
	done := func(s float64, tried int) passes.SearchProgress {
		p := at(s, tried)
		p.Done = true
		return p
	}
	for _, tc := range []struct {
		name    string
		reports []passes.SearchProgress
		want    []string // the lines, in order, by a part of each
	}{
		{"quick search stays quiet", []passes.SearchProgress{at(0.1, 1), at(1.9, 9), done(1.95, 9)}, nil},
		{"slow search", []passes.SearchProgress{at(0.5, 1), at(2.1, 7), at(3, 8), at(6.9, 20), at(7.2, 21), done(7.5, 22)},
			[]string{"7 candidates tried, 2 s; best so far degrees 7,15", "21 candidates tried, 7 s", "done: 22 candidates in 7.5 s"}},
		{"done past two seconds, no candidate since", []passes.SearchProgress{at(1, 3), done(2.5, 4)}, []string{"done: 4 candidates in 2.5 s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w bytes.Buffer
			show := searchProgress(&w)
			for _, p := range tc.reports {
				show(p)
			}
			lines := strings.Split(strings.TrimSuffix(w.String(), "\n"), "\n")
			if w.Len() == 0 {
				lines = nil
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tc.want), w.String())
			}
			for i, part := range tc.want {
				if !strings.Contains(lines[i], part) {
					t.Errorf("line %d is %q, want it to contain %q", i, lines[i], part)
				}
			}
		})
	}
}
