package onnx

import (
	"errors"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
)

// libonnxTestdata is where Debian's libonnx-testdata installs the ONNX
// backend test models (one small model per operator test case).
var libonnxTestdata = filepath.Join(onnxtest.BackendTestData, "node")

// How many of the node suite's models there are and decode: the others
// have sequence or optional values. A change means the suite or the
// decoder changed; say which in the commit that updates these.
const (
	libonnxModels        = 932
	libonnxModelsDecoded = 908
)

var quoted = regexp.MustCompile(`"[^"]*"`)

// TestLibonnxTestdata checks that every real model either decodes and sorts,
// or fails with a sentinel-tagged error; a panic fails the test binary.
func TestLibonnxTestdata(t *testing.T) {
	onnxtest.NeedBackendTestData(t, libonnxTestdata)
	paths, _ := filepath.Glob(filepath.Join(libonnxTestdata, "*", "model.onnx"))
	ok := 0
	reasons := map[string][]string{}
	for _, p := range paths {
		m, err := Load(p)
		if err == nil {
			ok++
			// The backend test models are valid, so each must also sort.
			if _, err := m.Graph.TopoSort(); err != nil {
				t.Errorf("%s: %v", p, err)
			}
			continue
		}
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: error wraps no sentinel: %v", p, err)
		}
		// Group by the reason, with the file and value names left out.
		msg := quoted.ReplaceAllString(strings.TrimPrefix(err.Error(), "read ONNX model "+p+": "), `"…"`)
		reasons[msg] = append(reasons[msg], filepath.Base(filepath.Dir(p)))
	}
	t.Logf("%d of %d models decode", ok, len(paths))
	msgs := make([]string, 0, len(reasons))
	for m := range reasons {
		msgs = append(msgs, m)
	}
	sort.Strings(msgs)
	for _, m := range msgs {
		t.Logf("%d × %s (e.g. %s)", len(reasons[m]), m, reasons[m][0])
	}
	if len(paths) != libonnxModels || ok != libonnxModelsDecoded {
		t.Errorf("%d of %d models decode, want %d of %d", ok, len(paths), libonnxModelsDecoded, libonnxModels)
	}
}
