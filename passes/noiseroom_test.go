package passes

import (
	"math"
	"testing"
)

func TestNoiseRoom(t *testing.T) {
	// At 50% confidence, k of 4 at risk bound the agreement at 0.84,
	// 0.61, 0.39 and 0.16 for k = 0 … 3, with no headroom.
	top1 := func(target, headroom float64) criterion {
		return criterion{OutputKind: OutputKind{Criterion: Top1}, shape: []int{3}, target: target, headroom: headroom, confidence: 0.5}
	}
	// The model's top class is 0 in every sample.
	ex := newExact([][]float64{{1, 0, 0}, {1, 0, 0}, {1, 0, 0}, {1, 0, 0}}, 3)
	// Top-two gaps 0.2, 0.4 and 0.8 kept, one decision lost.
	circuit := [][]float64{{0.6, 0.4, 0}, {0.7, 0, 0.3}, {0.2, 0.3, 0}, {0.9, 0.1, 0}}
	cases := []struct {
		name string
		c    criterion
		outs [][]float64
		ex   *exact
		want float64
	}{
		// 30% lets 2 go, one is lost: the second closest kept decision.
		{"top1: one to spare", top1(0.3, 1), circuit, ex, 0.2},
		// 60% lets one go, already lost: the closest.
		{"top1: none to spare", top1(0.6, 1), circuit, ex, 0.1},
		// The gap 0.8 − 0.2 of the error scaled by 2, halved, over 2.
		{"top1: headroom", top1(1, 2), [][]float64{{0.9, 0.1, 0}, {1, 0, 0}, {1, 0, 0}, {1, 0, 0}}, ex, 0.15},
		{"top1: more lost than allowed", top1(1, 1), circuit, ex, 0},
		{"top1: every decision may go", top1(0, 1), [][]float64{{1, 0, 0}}, newExact([][]float64{{1, 0, 0}}, 3), math.Inf(1)},
		{"threshold: nearest value", criterion{OutputKind: OutputKind{Criterion: Threshold, Threshold: 0.5}, target: 1, headroom: 1, confidence: 0.9},
			[][]float64{{0.9, 0.2}, {0.55, 0.1}}, newExact([][]float64{{1, 0}, {1, 0}}, 1), 0.05},
		{"tolerance: what the error leaves", criterion{OutputKind: OutputKind{Criterion: Tolerance}, target: 0.1},
			[][]float64{{0.02, 1}}, newExact([][]float64{{0, 1}}, 2), 0.1 - 0.02},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.noiseRoom(tc.outs, tc.ex); math.Abs(got-tc.want) > 1e-12 && got != tc.want {
				t.Fatalf("room %g, want %g", got, tc.want)
			}
		})
	}
}

// TestNoiseRoomCosine: an error of the room added to every value keeps
// the cosine target; twice it, against the output, does not.
func TestNoiseRoomCosine(t *testing.T) {
	c := criterion{OutputKind: OutputKind{Criterion: Cosine}, target: 0.99}
	e := []float64{3, 4, 0, 1}
	o := []float64{3.05, 3.95, 0.02, 1}
	ex := newExact([][]float64{e}, 4)
	room := c.noiseRoom([][]float64{o}, ex)
	if !(room > 0) || math.IsInf(room, 1) {
		t.Fatalf("room %g", room)
	}
	cosine := func(shift float64) float64 {
		moved := make([]float64, len(o))
		for k := range o {
			// Away from e: orthogonal-ish, every value by ±shift.
			moved[k] = o[k] + shift*[]float64{1, -1, 1, -1}[k]
		}
		return c.measure([][]float64{moved}, ex).cosine
	}
	if got := cosine(room); got < c.target {
		t.Errorf("an error of the room %g per value gives cosine %.5f, below %g", room, got, c.target)
	}
	if got := cosine(4 * room); got >= c.target {
		t.Errorf("an error of 4× the room %g per value still gives cosine %.5f ≥ %g: the room is too tight", room, got, c.target)
	}
}
