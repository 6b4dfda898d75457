package ir

import (
	"fmt"
	"math"
)

// Post-processing a client applies after decryption. A trailing Softmax,
// LogSoftmax or ArgMax is monotone, so it does not change the predicted
// class and is better computed in the clear than approximated under
// encryption. Each acts on the last axis.
const (
	PostSoftmax    = "softmax"
	PostLogSoftmax = "log_softmax"
	PostArgMax     = "argmax"
)

// KnownPost reports whether p names a post-processing step.
func KnownPost(p string) bool {
	return p == PostSoftmax || p == PostLogSoftmax || p == PostArgMax
}

// ApplyPost applies post-processing p to t (a copy is returned). ArgMax
// keeps the last axis with size 1, as ONNX's keepdims=1 default does.
func ApplyPost(p string, t *Tensor) (*Tensor, error) {
	if p == "" {
		return t.Clone(), nil
	}
	if !KnownPost(p) {
		return nil, fmt.Errorf("unknown post-processing %q", p)
	}
	if len(t.Shape) == 0 || t.Shape[len(t.Shape)-1] == 0 {
		return nil, fmt.Errorf("cannot apply %s to a tensor of shape %v", p, t.Shape)
	}
	last := t.Shape[len(t.Shape)-1]
	rows := len(t.Data) / last
	out := &Tensor{Shape: append([]int(nil), t.Shape...)}
	if p == PostArgMax {
		out.Shape[len(out.Shape)-1] = 1
	}
	for r := range rows {
		row := t.Data[r*last : (r+1)*last]
		m := math.Inf(-1)
		arg := 0
		for i, v := range row {
			if v > m {
				m, arg = v, i
			}
		}
		switch p {
		case PostArgMax:
			out.Data = append(out.Data, float64(arg))
		default:
			var sum float64
			for _, v := range row {
				sum += math.Exp(v - m)
			}
			for _, v := range row {
				if p == PostSoftmax {
					out.Data = append(out.Data, math.Exp(v-m)/sum)
				} else {
					out.Data = append(out.Data, v-m-math.Log(sum))
				}
			}
		}
	}
	return out, nil
}
