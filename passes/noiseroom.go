package passes

import (
	"fmt"
	"math"
	"slices"
)

// noiseRoom is the largest error that may be added to every output value
// of the held-out samples, on top of the circuit's own, with the target
// still met: the room the parameters' noise has (ApproxResult.NoiseRoom).
//
// For top1 and threshold, a decision the circuit keeps survives an error
// of each value below half its top-two gap (below its distance to the
// threshold), both divided by the headroom: a decision is at risk when the
// error × the headroom flips it (criterion.bound). The target's bound can
// spare as many decisions as it lets be at risk less those already at
// risk, so the room is that of the closest decision it cannot spare. For tolerance, it is what the circuit's largest error leaves of
// the tolerance. For cosine, an error of e per value moves an output o of
// d values by an angle of at most asin(e·√d/‖o‖), which must leave each
// sample's angle with the model's output within the target's. +Inf when
// nothing constrains it; 0 when the target is not met.
func (c *criterion) noiseRoom(outs [][]float64, ex *exact) float64 {
	switch c.Criterion {
	case Tolerance:
		r := c.measure(outs, ex)
		return math.Max(0, c.target*ex.width-r.maxErr)
	case Cosine:
		room := math.Inf(1)
		limit := math.Acos(math.Min(1, c.target))
		for i, o := range outs {
			r := c.measure([][]float64{o}, &exact{outputs: ex.outputs[i : i+1], tops: ex.tops[i : i+1], width: ex.width})
			spare := limit - math.Acos(math.Max(-1, math.Min(1, r.cosine)))
			if !(spare > 0) {
				return 0
			}
			var norm float64
			for _, v := range o {
				norm += v * v
			}
			room = math.Min(room, math.Sqrt(norm/float64(len(o)))*math.Sin(spare))
		}
		return room
	}
	var rooms []float64
	lost := 0
	for i, o := range outs {
		e := ex.outputs[i]
		if !c.agreesWithHeadroom(o, e, ex.tops[i]) {
			lost++
			continue
		}
		rooms = append(rooms, c.decisionRoom(o, e, ex.tops[i]))
	}
	spare := c.allowed(len(outs)) - lost
	if spare < 0 {
		return 0
	}
	if spare >= len(rooms) {
		return math.Inf(1)
	}
	slices.Sort(rooms)
	return rooms[spare]
}

// decisionRoom is the error of each output value that may flip none of
// the decisions o keeps of the model's output e: half the gap between
// each row's top class and the best class that is not one of the model's
// tops, or the distance of each decided value to the threshold, in the
// units of the output, with the headroom's scaling of the error.
func (c *criterion) decisionRoom(o, e []float64, tops [][]int) float64 {
	h := c.headroom
	scaled := make([]float64, len(o))
	for k := range o {
		scaled[k] = e[k] + h*(o[k]-e[k])
	}
	room := math.Inf(1)
	if c.Criterion == Threshold {
		for k, v := range scaled {
			if e[k] != c.Threshold {
				room = math.Min(room, math.Abs(v-c.Threshold)/h)
			}
		}
		return room
	}
	n := c.rowLen()
	for r, top := range tops {
		row := scaled[r*n : (r+1)*n]
		best, other := math.Inf(-1), math.Inf(-1)
		for k, v := range row {
			if slices.Contains(top, k) {
				best = math.Max(best, v)
			} else {
				other = math.Max(other, v)
			}
		}
		room = math.Min(room, (best-other)/(2*h))
	}
	return room
}

// NoiseRoomText says what NoiseRoom is for the criterion.
func (r *ApproxResult) NoiseRoomText() string {
	switch r.Criterion {
	case Tolerance:
		return fmt.Sprintf("what the approximations' error leaves of the tolerance %.3g × the output's range", r.Target)
	case Cosine:
		return fmt.Sprintf("what keeps every held-out sample's cosine similarity %s", r.TargetText())
	case Threshold:
		return fmt.Sprintf("the distance to the threshold, over the headroom %g, of the closest held-out decision the %s target cannot spare", r.Headroom, r.TargetText())
	}
	return fmt.Sprintf("half the top-two gap, over the headroom %g, of the closest held-out decision the %s target cannot spare", r.Headroom, r.TargetText())
}
