package passes

import "testing"

// TestResolution: the held-out samples an agreement target needs for one
// disagreement to weigh no more than the target lets go.
func TestResolution(t *testing.T) {
	for _, c := range []struct {
		crit   Criterion
		target float64
		want   int
	}{
		{Top1, 0.995, 200},
		{Top1, 0.99, 100},
		{Threshold, 0.9, 10},
		{Top1, 0.999, 1000},
		{Top1, 1, 0},
		{Tolerance, 1e-3, 0},
		{Cosine, 0.999, 0},
	} {
		if got := resolution(c.crit, c.target); got != c.want {
			t.Errorf("%s %g: %d held-out samples, want %d", c.crit, c.target, got, c.want)
		}
	}
}
