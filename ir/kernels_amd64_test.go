package ir

import (
	"math/rand/v2"
	"testing"
)

// The vector kernels read the matrix without Go's bounds checks: a map
// whose columns or row pointers point outside it (one never verified) must
// be left to the Go loops.
func TestProductBlocksRefusesReadsOutside(t *testing.T) {
	if !hasAVX {
		t.Skip("no AVX")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{4, 8} {
		for _, spoil := range []struct {
			name string
			f    func(l *Linear)
		}{
			{"none", func(*Linear) {}},
			{"column past the last", func(l *Linear) { l.ColIdx[len(l.ColIdx)-1] = l.Cols }},
			{"negative column", func(l *Linear) { l.ColIdx[0] = -1 }},
			{"row pointer past the entries", func(l *Linear) { l.RowPtr[2] = len(l.ColIdx) + 1 }},
		} {
			l := randomLinear(rng, 12, 6, 1, false)
			spoil.f(l)
			xs, ys := make([][]float64, n), make([][]float64, n)
			for s := range xs {
				xs[s], ys[s] = randomVector(rng, l.Cols+2), make([]float64, l.Rows)
			}
			if got, want := productBlocks(l, ys, xs), spoil.name == "none"; got != want {
				t.Errorf("%d samples, %s: product done %v, want %v", n, spoil.name, got, want)
			}
		}
	}
}
