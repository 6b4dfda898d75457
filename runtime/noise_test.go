package runtime

import (
	"context"
	"math"
	"testing"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
)

// TestNoiseBoundHolds checks plan.Noise against the errors of real
// encrypted runs: never below what is measured, and not so far above it
// that flooding by it would waste many bits.
func TestNoiseBoundHolds(t *testing.T) {
	for i, tc := range testCircuits {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.build()
			var samples []*ir.Tensor
			for k := range 8 {
				samples = append(samples, &ir.Tensor{Shape: []int{tc.in}, Data: randomInputs(uint64(100*i+k), tc.in, 1)})
			}
			cfg := &passes.Config{Ranges: &passes.RangeSource{Samples: samples, Margin: 0.1}}
			if err := passes.Run(g, passes.Pipeline, cfg); err != nil {
				t.Fatal(err)
			}
			set := params.InsecureTestSet(11, g.Depth, 35)
			pl, err := plan.Build("test", g, set)
			if err != nil {
				t.Fatal(err)
			}
			noise, err := pl.Noise(plan.FreshSigma(set, false))
			if err != nil {
				t.Fatal(err)
			}
			bound := noise.Bound(g)
			keys, err := GenerateKeys(pl.Spec, nil)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := NewServer(&Circuit{Spec: pl.Spec, Graph: g}, keys.Eval)
			if err != nil {
				t.Fatal(err)
			}
			var worst float64
			for _, x := range samples {
				ct, err := Encrypt(pl.Spec, keys.Secret, x)
				if err != nil {
					t.Fatal(err)
				}
				out, _, err := srv.Run(context.Background(), ct)
				if err != nil {
					t.Fatal(err)
				}
				got, err := DecryptRaw(pl.Spec, keys.Secret, out)
				if err != nil {
					t.Fatal(err)
				}
				want, err := ir.Interpret(g, map[string]*ir.Tensor{"x": x})
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range want["y"].Data {
					worst = max(worst, math.Abs(v-got.Data[k]))
				}
			}
			ratio := bound / worst
			t.Logf("measured %.3g, bound %.3g (2^%.1f above); the server's share of σ %.3g of %.3g", worst, bound, math.Log2(ratio), noise.Server, noise.Sigma[g.Outputs()[0]])
			if worst > bound {
				t.Errorf("measured error %.3g exceeds the bound %.3g", worst, bound)
			}
			if ratio > 1<<6 {
				t.Errorf("the bound %.3g is 2^%.1f above the measured error %.3g", bound, math.Log2(ratio), worst)
			}
		})
	}
}
