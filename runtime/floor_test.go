package runtime

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/ir"
)

// TestPrimitiveSeconds times every primitive at a level of the chain, on
// one prime per level and on two (whose levels the runtime maps to
// Lattigo's).
func TestPrimitiveSeconds(t *testing.T) {
	for _, logScale := range []int{35, 70} {
		t.Run(fmt.Sprintf("scale 2^%d", logScale), func(t *testing.T) { primitiveSeconds(t, logScale) })
	}
}

func primitiveSeconds(t *testing.T, logScale int) {
	b, x := newGraph(3, 40)
	h := b.dense(x, 20, 0.5)
	g := b.output(b.dense(b.poly(h, ir.Square()), 10, 0.5))
	spec, keys, srv := testServer(t, g, logScale)
	top := spec.Params.MaxLevel()
	// An evaluation counts its primitives at the chain's levels, which
	// PrimitiveSeconds takes.
	ct, err := Encrypt(spec, keys.Secret, &ir.Tensor{Shape: g.Inputs()[0].InputShape(), Data: randomInputs(8, 40, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_, st, err := srv.Run(context.Background(), ct)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range st.Ops {
		if o.Level < 0 || o.Level > top {
			t.Errorf("%d × %s counted at level %d of a chain of %d", o.Count, o.Op, o.Level, top)
		}
	}
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
