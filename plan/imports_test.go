package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/hecc-dev/hecc"

// importRule says whether package pkg of this module may import path, a
// package that is in the standard library or not.
func importRule(pkg, path string, standard bool) string {
	runtimeSide := pkg == module+"/runtime" || strings.HasPrefix(pkg, module+"/runtime/internal/")
	if strings.HasPrefix(path, "github.com/tuneinsight/lattigo") && !runtimeSide {
		return "only runtime and runtime/internal/... import Lattigo"
	}
	if (pkg == module+"/compiler" || strings.HasPrefix(pkg, module+"/compiler/")) && path == module+"/runtime" {
		return "the compiler plans with plan, it does not import runtime"
	}
	if standard {
		return ""
	}
	switch pkg {
	case module + "/ir", module + "/params":
		return "ir and params use the standard library only"
	case module + "/plan":
		if path != module+"/ir" && path != module+"/params" {
			return "plan uses the standard library, ir and params only"
		}
	}
	return ""
}

// TestImportDirection checks the module's import direction on what `go
// list -deps` reports (tests excluded): Lattigo stays behind runtime, the
// compiler does not need runtime, and ir, params and plan stay free of
// third-party code.
func TestImportDirection(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-json", "./...")
	cmd.Dir = ".." // the module root
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("go list: %v\n%s", err, exit.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		ImportPath string
		Standard   bool
		Imports    []string
	}
	var pkgs []pkg
	standard := map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
		standard[p.ImportPath] = p.Standard
	}
	checked := map[string]bool{}
	for _, p := range pkgs {
		if p.ImportPath != module && !strings.HasPrefix(p.ImportPath, module+"/") {
			continue
		}
		checked[p.ImportPath] = true
		for _, path := range p.Imports {
			if why := importRule(p.ImportPath, path, standard[path]); why != "" {
				t.Errorf("%s imports %s: %s", p.ImportPath, path, why)
			}
		}
	}
	for _, must := range []string{"ir", "params", "plan", "runtime", "compiler", "cmd/hecc"} {
		if !checked[module+"/"+must] {
			t.Errorf("go list did not report %s/%s", module, must)
		}
	}
}

// The rules catch what they are for.
func TestImportRule(t *testing.T) {
	for _, tc := range []struct {
		pkg, path string
		standard  bool
		refused   bool
	}{
		{module + "/runtime", "github.com/tuneinsight/lattigo/v5/core/rlwe", false, false},
		{module + "/runtime/internal/lattigox", "github.com/tuneinsight/lattigo/v5/ring", false, false},
		{module + "/cmd/hecc", "github.com/tuneinsight/lattigo/v5/core/rlwe", false, true},
		{module + "/compiler", "github.com/tuneinsight/lattigo/v5/he/hefloat", false, true},
		{module + "/compiler", module + "/runtime", false, true},
		{module + "/benchmarks", module + "/runtime", false, false},
		{module + "/plan", module + "/ir", false, false},
		{module + "/plan", module + "/runtime", false, true},
		{module + "/plan", "math/big", true, false},
		{module + "/ir", module + "/params", false, true},
		{module + "/params", "gonum.org/v1/gonum/mat", false, true},
		{module + "/passes", "gonum.org/v1/gonum/mat", false, false},
	} {
		if got := importRule(tc.pkg, tc.path, tc.standard) != ""; got != tc.refused {
			t.Errorf("%s importing %s: refused %v, want %v", tc.pkg, tc.path, got, tc.refused)
		}
	}
}
