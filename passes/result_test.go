package passes

import "testing"

// TestResolution: the held-out samples on which an agreement target's
// bound is reached with no decision at risk.
func TestResolution(t *testing.T) {
	for _, c := range []struct {
		crit                 Criterion
		target               float64
		headroom, confidence float64
		want                 int
	}{
		// 0.99^230 ≤ 0.1 < 0.99^229.
		{Top1, 0.995, 2, 0.9, 230},
		{Top1, 0.99, 1, 0.9, 230},
		// 0.9^7 ≤ 0.5 < 0.9^6.
		{Threshold, 0.9, 1, 0.5, 7},
		{Top1, 0.5, 2, 0.9, 1},
		{Top1, 1, 2, 0.9, 0},
		{Tolerance, 1e-3, 2, 0.9, 0},
		{Cosine, 0.999, 2, 0.9, 0},
	} {
		crit := criterion{OutputKind: OutputKind{Criterion: c.crit}, target: c.target, headroom: c.headroom, confidence: c.confidence}
		got := crit.resolution()
		if got != c.want {
			t.Errorf("%s %g at ×%g, %g%%: %d held-out samples, want %d", c.crit, c.target, c.headroom, 100*c.confidence, got, c.want)
		}
		if got > 1 && (crit.bound(0, got) < c.target || crit.bound(0, got-1) >= c.target) {
			t.Errorf("%s %g: bound %g on %d samples, %g on one fewer", c.crit, c.target, crit.bound(0, got), got, crit.bound(0, got-1))
		}
	}
}
