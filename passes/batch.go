package passes

import "slices"

// BatchPipeline is Pipeline for the batch layout (plan.BuildBatch), where
// every tensor element is a ciphertext of its own: there are no slots to
// lay tensors out in, so the layout pass, and every rule that follows from
// it, is left out.
var BatchPipeline = withoutPass(Pipeline, "layout")

func withoutPass(pipeline []Pass, name string) []Pass {
	var out []Pass
	for _, p := range pipeline {
		if p.Name == name {
			continue
		}
		p.After = slices.DeleteFunc(slices.Clone(p.After), func(d Dependency) bool { return d.Pass == name })
		out = append(out, p)
	}
	return out
}
