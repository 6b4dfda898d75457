package onnxtest

import (
	"os"
	"testing"
)

// BackendTestData is where Debian's libonnx-testdata installs the ONNX
// backend tests (suites node, pytorch-converted, pytorch-operator, simple).
const BackendTestData = "/usr/share/libonnx-testdata/data"

// RequireTestDataEnv names the variable that turns missing backend test
// data from a skip into a failure; `make test` sets it, so a run without the
// data cannot pass unnoticed.
const RequireTestDataEnv = "HECC_REQUIRE_TESTDATA"

// NeedBackendTestData stops t when path (under BackendTestData) is absent:
// a failure when RequireTestDataEnv is 1, else a skip saying what to install.
func NeedBackendTestData(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if os.Getenv(RequireTestDataEnv) == "1" {
		t.Fatalf("%s is missing and %s=1: install Debian's libonnx-testdata (make testdeps)", path, RequireTestDataEnv)
	}
	t.Skipf("%s is missing: install Debian's libonnx-testdata (make testdeps) to run this test", path)
}
