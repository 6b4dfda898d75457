package benchmarks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/compiler/tensorio"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/passes"
)

// Errors Bundled returns for a mistake in how it was asked, as opposed to
// a broken file.
var (
	// ErrNoManifest reports a testdata directory without the manifest.
	ErrNoManifest = errors.New("bundled models not found")
	// ErrUnknownModel reports a name the manifest does not list.
	ErrUnknownModel = errors.New("not a bundled model")
)

// manifestModel is the part of a manifest entry Bundled needs; paths are
// relative to the testdata directory.
type manifestModel struct {
	File    string `json:"file"`
	Samples string `json:"samples"`
	Calib   string `json:"calib"`
	// Criterion, when set, is the accuracy criterion the model compiles
	// with (a regression's tolerance); its y are then targets, not classes.
	Criterion string `json:"criterion"`
}

// Bundled lists the models of dir/models/manifest.json in the manifest's
// order, each with its calibration set (compiled with the default margin,
// as `hecc compile --calibration` does) and its test set (arrays x and y).
// Names, if given, select models and their order.
func Bundled(dir string, names ...string) ([]Model, error) {
	path := filepath.Join(dir, "models", "manifest.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist (run from the repository root or give --testdata DIR)", ErrNoManifest, path)
	} else if err != nil {
		return nil, err
	}
	order, entries, err := parseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(names) == 0 {
		names = order
	}
	sets := map[string]map[string]*ir.Tensor{} // sample files are shared by several models
	load := func(rel string) (map[string]*ir.Tensor, error) {
		if sets[rel] == nil {
			arrays, err := tensorio.ReadNPZ(filepath.Join(dir, rel))
			if err != nil {
				return nil, err
			}
			if arrays["x"] == nil {
				return nil, fmt.Errorf("%s has no array x", filepath.Join(dir, rel))
			}
			sets[rel] = arrays
		}
		return sets[rel], nil
	}
	var models []Model
	for _, name := range names {
		e, ok := entries[name]
		if !ok {
			return nil, fmt.Errorf("%w: %q (the manifest lists %s)", ErrUnknownModel, name, strings.Join(order, ", "))
		}
		if e.File == "" || e.Samples == "" || e.Calib == "" {
			return nil, fmt.Errorf("%s: model %q lacks its file, samples or calib", path, name)
		}
		crit, err := passes.ParseCriterion(e.Criterion)
		if err != nil {
			return nil, fmt.Errorf("%s: model %q: %w", path, name, err)
		}
		calib, err := load(e.Calib)
		if err != nil {
			return nil, err
		}
		test, err := load(e.Samples)
		if err != nil {
			return nil, err
		}
		m := Model{
			Name:    name,
			Path:    filepath.Join(dir, e.File),
			Options: compiler.Options{Calibration: calib["x"], Margin: compiler.DefaultMargin, Approx: passes.ApproxConfig{Criterion: crit}},
			Samples: test["x"],
			Data:    fmt.Sprintf("calibration %s, samples %s", e.Calib, e.Samples),
		}
		if y := test["y"]; y != nil && crit != passes.Tolerance {
			m.Labels = y.Data
		}
		models = append(models, m)
	}
	return models, nil
}

// parseManifest returns the models of a manifest and their names in file
// order: a JSON object decoded into a Go map loses it, and the manifest
// lists models from the simplest to the most expensive.
func parseManifest(data []byte) ([]string, map[string]manifestModel, error) {
	var m struct {
		Models json.RawMessage `json:"models"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, nil, err
	}
	if len(m.Models) == 0 {
		return nil, nil, errors.New("no \"models\" object")
	}
	var entries map[string]manifestModel
	if err := json.Unmarshal(m.Models, &entries); err != nil {
		return nil, nil, fmt.Errorf("models: %w", err)
	}
	if len(entries) == 0 {
		return nil, nil, errors.New("no models listed")
	}
	dec := json.NewDecoder(bytes.NewReader(m.Models))
	var order []string
	// The object was just decoded, so its tokens are well formed: a "{",
	// then key and value in turn, each value skipped by decoding it.
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, nil, err
		}
		order = append(order, key.(string))
	}
	return order, entries, nil
}
