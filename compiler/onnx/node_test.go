package onnx

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/ir"
)

func TestAttrHelpers(t *testing.T) {
	n := &Node{Name: "conv", OpType: "Conv", Attrs: map[string]*Attribute{
		"group":     {Name: "group", Type: IntAttr, I: 2},
		"alpha":     {Name: "alpha", Type: FloatAttr, F: 0.5},
		"pads":      {Name: "pads", Type: IntsAttr, Ints: []int64{1, 1}},
		"scales":    {Name: "scales", Type: FloatsAttr, Floats: []float64{2}},
		"auto_pad":  {Name: "auto_pad", Type: StringAttr, S: "VALID"},
		"value":     {Name: "value", Type: TensorAttr, T: &ir.Tensor{Shape: []int{}, Data: []float64{1}}},
		"then":      {Name: "then", Type: GraphAttr},
		"wrong_int": {Name: "wrong_int", Type: FloatAttr, F: 1},
	}}

	check := func(name string, got, want any, err error) {
		t.Helper()
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, %v; want %v", name, got, err, want)
		}
	}
	i, err := n.AttrInt("group", 1)
	check("AttrInt(group)", i, int64(2), err)
	i, err = n.AttrInt("missing", 7)
	check("AttrInt(missing)", i, int64(7), err)
	f, err := n.AttrFloat("alpha", 1)
	check("AttrFloat(alpha)", f, 0.5, err)
	f, err = n.AttrFloat("missing", 1)
	check("AttrFloat(missing)", f, 1.0, err)
	is, err := n.AttrInts("pads", nil)
	check("AttrInts(pads)", is, []int64{1, 1}, err)
	is, err = n.AttrInts("missing", []int64{0})
	check("AttrInts(missing)", is, []int64{0}, err)
	fs, err := n.AttrFloats("scales", nil)
	check("AttrFloats(scales)", fs, []float64{2}, err)
	s, err := n.AttrString("auto_pad", "NOTSET")
	check("AttrString(auto_pad)", s, "VALID", err)
	s, err = n.AttrString("missing", "NOTSET")
	check("AttrString(missing)", s, "NOTSET", err)
	tv, err := n.AttrTensor("value")
	check("AttrTensor(value)", tv, n.Attrs["value"].T, err)
	tv, err = n.AttrTensor("missing")
	check("AttrTensor(missing)", tv, (*ir.Tensor)(nil), err)

	wrong := []struct {
		call func() error
		msg  string
	}{
		{func() error { _, err := n.AttrInt("wrong_int", 0); return err }, `node "conv" (Conv): attribute "wrong_int" is FLOAT, want INT`},
		{func() error { _, err := n.AttrFloat("group", 0); return err }, `attribute "group" is INT, want FLOAT`},
		{func() error { _, err := n.AttrInts("group", nil); return err }, `attribute "group" is INT, want INTS`},
		{func() error { _, err := n.AttrFloats("pads", nil); return err }, `attribute "pads" is INTS, want FLOATS`},
		{func() error { _, err := n.AttrString("pads", ""); return err }, `attribute "pads" is INTS, want STRING`},
		{func() error { _, err := n.AttrTensor("then"); return err }, `attribute "then" is GRAPH, want TENSOR`},
	}
	for _, w := range wrong {
		err := w.call()
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), w.msg) {
			t.Errorf("error %v, want ErrMalformed containing %q", err, w.msg)
		}
	}
}

func TestLabel(t *testing.T) {
	tests := []struct {
		n    Node
		want string
	}{
		{Node{Name: "Conv_3", OpType: "Conv", Outputs: []string{"y"}}, `"Conv_3" (Conv)`},
		{Node{OpType: "Relu", Outputs: []string{"y"}, index: 4}, `#4 (Relu -> "y")`},
		{Node{OpType: "Print", index: 0}, `#0 (Print)`},
	}
	for _, tc := range tests {
		if got := tc.n.Label(); got != tc.want {
			t.Errorf("Label() = %s, want %s", got, tc.want)
		}
	}
}
