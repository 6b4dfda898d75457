package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenPlanDigest hashes the plan sections of the golden IR dumps, each
// with its file's name, in name order.
func goldenPlanDigest(t *testing.T) string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "compiler", "testdata", "golden", "*.ir"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden IR dumps in ../compiler/testdata/golden (%v)", err)
	}
	h := sha256.New()
	for _, p := range paths { // Glob sorts
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		_, section, ok := strings.Cut(string(data), "\n== plan")
		if !ok {
			t.Fatalf("%s has no == plan section", p)
		}
		if i := strings.Index(section, "\n== "); i >= 0 {
			section = section[:i]
		}
		h.Write([]byte(filepath.Base(p) + section))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestPlanChangeBumpsFormatVersion fails when the golden plans change but
// FormatVersion does not: a spec lists the keys its plan needs, so files
// made by another planner must be refused by version.
func TestPlanChangeBumpsFormatVersion(t *testing.T) {
	got := goldenPlanDigest(t)
	want, ok := planDigests[FormatVersion]
	switch {
	case !ok:
		t.Fatalf("no golden plan digest recorded for format version %d: record %q for it in planDigests (plan/format.go)", FormatVersion, got)
	case got != want:
		t.Fatalf("the golden == plan sections changed (digest %s, version %d was recorded with %s).\n"+
			"If the planner changed (another form, split, block sum or key level for the same graph), older specs list other keys: "+
			"bump plan.FormatVersion, say why in its comment, and record %q for the new version in planDigests (plan/format.go).\n"+
			"If only the graphs changed (the passes), record %q for version %d.",
			got, FormatVersion, want, got, got, FormatVersion)
	}
}
