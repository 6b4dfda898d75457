package passes

import "testing"

// The batch pipeline is the pipeline without the layout pass, in the same
// order, and keeps every other ordering rule.
func TestBatchPipeline(t *testing.T) {
	if err := CheckOrder(BatchPipeline); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range Pipeline {
		if p.Name != "layout" {
			names = append(names, p.Name)
		}
	}
	if len(BatchPipeline) != len(names) {
		t.Fatalf("%d passes, want %v", len(BatchPipeline), names)
	}
	for i, p := range BatchPipeline {
		if p.Name != names[i] || len(p.After) != len(Pipeline[indexOf(p.Name)].After)-layoutRules(Pipeline[indexOf(p.Name)]) {
			t.Errorf("pass %d is %s with %d rules", i, p.Name, len(p.After))
		}
	}
}

func indexOf(name string) int {
	for i, p := range Pipeline {
		if p.Name == name {
			return i
		}
	}
	return -1
}

func layoutRules(p Pass) (n int) {
	for _, d := range p.After {
		if d.Pass == "layout" {
			n++
		}
	}
	return n
}
