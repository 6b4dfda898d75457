package onnx

import (
	"errors"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// libonnxTestdata is where Debian's libonnx-testdata installs the ONNX
// backend test models (one small model per operator test case).
const libonnxTestdata = "/usr/share/libonnx-testdata/data/node"

var quoted = regexp.MustCompile(`"[^"]*"`)

// TestLibonnxTestdata checks that every real model either decodes and sorts,
// or fails with a sentinel-tagged error; a panic fails the test binary.
func TestLibonnxTestdata(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(libonnxTestdata, "*", "model.onnx"))
	if len(paths) == 0 {
		t.Skipf("no models under %s (install libonnx-testdata)", libonnxTestdata)
	}
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
	if ok == 0 {
		t.Errorf("no model decoded")
	}
}
