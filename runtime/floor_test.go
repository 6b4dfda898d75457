package runtime

import (
	"math"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/ir"
)

func TestPrimitiveSeconds(t *testing.T) {
	b, x := newGraph(3, 40)
	h := b.dense(x, 20, 0.5)
	g := b.output(b.dense(b.poly(h, ir.Square()), 10, 0.5))
	spec, _, srv := testServer(t, g, 35)
	top := spec.Params.MaxLevel()
	for _, op := range Primitives {
		sec, err := srv.PrimitiveSeconds(op, 1, 3)
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if !(sec > 0) || math.IsInf(sec, 0) {
			t.Fatalf("%s: %g s per operation", op, sec)
		}
	}
	for _, c := range []struct {
		op         string
		level      int
		reps       int
		wantSubstr string
	}{
		{"transpose", 1, 3, "unknown primitive"},
		{PrimRescale, 0, 3, "level 0"},
		{PrimAdd, top + 1, 3, "outside the chain"},
		{PrimAdd, -1, 3, "outside the chain"},
		{PrimAdd, 1, 0, "repetitions"},
	} {
		if _, err := srv.PrimitiveSeconds(c.op, c.level, c.reps); err == nil || !strings.Contains(err.Error(), c.wantSubstr) {
			t.Errorf("PrimitiveSeconds(%q, %d, %d) = %v, want an error about %q", c.op, c.level, c.reps, err, c.wantSubstr)
		}
	}
}
