package onnxtest

import (
	"path/filepath"
	"runtime"
	"testing"
)

// stopTB records whether a helper failed or skipped; both stop the
// goroutine as testing.T does.
type stopTB struct {
	testing.TB
	failed, skipped bool
}

func (s *stopTB) Helper()               {}
func (s *stopTB) Fatalf(string, ...any) { s.failed = true; runtime.Goexit() }
func (s *stopTB) Skipf(string, ...any)  { s.skipped = true; runtime.Goexit() }
func (s *stopTB) run(f func(testing.TB)) { // f runs in its own goroutine, as a test does
	done := make(chan struct{})
	go func() { defer close(done); f(s) }()
	<-done
}

// Missing test data fails a test when RequireTestDataEnv is 1, and skips it
// otherwise; present data lets it run.
func TestNeedBackendTestData(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent")
	for _, tc := range []struct {
		env, path               string
		wantFailed, wantSkipped bool
	}{
		{"1", missing, true, false},
		{"", missing, false, true},
		{"0", missing, false, true},
		{"1", t.TempDir(), false, false},
	} {
		t.Setenv(RequireTestDataEnv, tc.env)
		s := &stopTB{TB: t}
		s.run(func(tb testing.TB) { NeedBackendTestData(tb, tc.path) })
		if s.failed != tc.wantFailed || s.skipped != tc.wantSkipped {
			t.Errorf("%s=%q, path %s: failed %v, skipped %v; want %v, %v", RequireTestDataEnv, tc.env, tc.path, s.failed, s.skipped, tc.wantFailed, tc.wantSkipped)
		}
	}
}
