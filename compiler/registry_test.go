package compiler

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
	"github.com/hecc-dev/hecc/ir"
)

// Every entry of the op tables is a version hecc claims: one family owns
// each op, no version is listed twice, and none is newer than maxOpset.
func TestOpTables(t *testing.T) {
	family := map[string]int{}
	seen := map[string]bool{}
	for i, table := range opTables {
		for _, e := range table {
			if e.Fn == nil || e.Since < 1 || e.Since > maxOpset {
				t.Errorf("%s since %d: want a lowering and 1 ≤ Since ≤ maxOpset (%d)", e.Op, e.Since, maxOpset)
			}
			if f, ok := family[e.Op]; ok && f != i {
				t.Errorf("%s is listed in two op tables (%d and %d)", e.Op, f, i)
			}
			family[e.Op] = i
			key := fmt.Sprintf("%s-%d", e.Op, e.Since)
			if seen[key] {
				t.Errorf("%s is listed twice", key)
			}
			seen[key] = true
			if _, ok := hints[e.Op]; ok {
				t.Errorf("%s has a refusal hint but is registered", e.Op)
			}
		}
	}
	if len(family) != len(registry) {
		t.Errorf("the tables list %d ops, the registry %d", len(family), len(registry))
	}
}

// lookup picks the latest entry at or below the model's opset, also for an
// opset newer than any entry, and refuses an opset older than the first.
func TestLookup(t *testing.T) {
	cases := []struct {
		op        string
		opset     int64
		wantSince int64
		wantErr   string
	}{
		{"Split", 1, 1, ""},
		{"Split", 12, 2, ""},
		{"Split", 13, 13, ""},
		{"Split", 17, 13, ""},
		{"Split", maxOpset + 5, 18, ""},
		{"Clip", maxOpset + 1, 11, ""},
		{"Range", 10, 0, "supported from opset 11 only"},
		{"LayerNormalization", 13, 0, "use BatchNormalization"},
		{"MaxPool", 9, 1, ""},
		{"MaxPool", 13, 10, ""},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s-%d", tc.op, tc.opset), func(t *testing.T) {
			e, err := lookup(tc.op, tc.opset)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Since != tc.wantSince {
				t.Errorf("matched since %d, want %d", e.Since, tc.wantSince)
			}
		})
	}
}

// A lowering's behaviour follows the entry the registry matched: the
// model's opset selects it, and versions in between keep the older entry.
func TestVersionedLowerings(t *testing.T) {
	prelu := func(opset int64) []byte {
		return onnxtest.New(opset).Input("x", 1, 2, 2).Init("s", []int64{2}, []float32{0.5, 0.25}).
			Node("PRelu", []string{"x", "s"}, []string{"y"}).Output("y").Bytes()
	}
	clip := func(opset int64) []byte {
		return onnxtest.New(opset).Input("x", 1, 3).Init("lo", nil, []float32{0}).Init("hi", nil, []float32{1}).
			Node("Clip", []string{"x", "lo", "hi"}, []string{"y"}).Output("y").Bytes()
	}
	cases := []struct {
		name  string
		model []byte
		in    []float64
		want  []float64
	}{
		{"PRelu-6: a vector slope is per channel", prelu(6), []float64{-1, -1, -1, -1}, []float64{-0.5, -0.5, -0.25, -0.25}},
		{"PRelu-7: a vector slope broadcasts", prelu(7), []float64{-1, -1, -1, -1}, []float64{-0.5, -0.25, -0.5, -0.25}},
		{"Clip-11 bounds from inputs", clip(11), []float64{-1, 0.5, 2}, []float64{0, 0.5, 1}},
		{"Clip above maxOpset is Clip-11", clip(maxOpset + 1), []float64{-1, 0.5, 2}, []float64{0, 0.5, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			low, err := lower(t, tc.model, LowerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			x := low.Graph.Inputs()[0]
			got, err := ir.Interpret(low.Graph, map[string]*ir.Tensor{"x": {Shape: x.Shape, Data: tc.in}})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got["y"].Data, tc.want) {
				t.Errorf("y = %v, want %v", got["y"].Data, tc.want)
			}
		})
	}

	// Softmax before opset 13 defaults to axis 1, which is not the last
	// axis of a rank-3 input.
	softmax := func(opset int64) []byte {
		return onnxtest.New(opset).Input("x", 1, 2, 3).Node("Softmax", []string{"x"}, []string{"y"}).Output("y").Bytes()
	}
	if _, err := lower(t, softmax(12), LowerOptions{}); err == nil || !strings.Contains(err.Error(), "axis 1 is not the last axis") {
		t.Errorf("Softmax-1 on a rank-3 input: error %v, want the default axis 1 refused", err)
	}
	if _, err := lower(t, softmax(13), LowerOptions{}); err != nil {
		t.Errorf("Softmax-13 on a rank-3 input: %v", err)
	}
}

// A model newer than maxOpset compiles, and the report says it was lowered
// with the versions hecc knows.
func TestOpsetAboveMaximum(t *testing.T) {
	for _, opset := range []int64{13, maxOpset, maxOpset + 1} {
		t.Run(fmt.Sprint(opset), func(t *testing.T) {
			m, err := onnx.Decode(onnxtest.TinyCryptoNets(1))
			if err != nil {
				t.Fatal(err)
			}
			m.Opsets[""] = opset
			res, err := Compile(m, Options{Name: "tiny", InputRange: &ir.Interval{Lo: -1, Hi: 1}})
			if err != nil {
				t.Fatal(err)
			}
			warned := strings.Contains(res.Report.Text(), fmt.Sprintf("warning:    the model imports ai.onnx opset %d, newer than opset %d", opset, maxOpset))
			if warned != (opset > maxOpset) {
				t.Errorf("report warns about the opset: %v, want %v:\n%s", warned, opset > maxOpset, res.Report.Text())
			}
		})
	}
}
