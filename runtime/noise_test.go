package runtime

import (
	"context"
	"math"
	"math/big"
	"testing"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/utils/bignum"
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

// TestNoiseBoundHoldsOnTwoPrimes is TestNoiseBoundHolds on two primes per
// level (scale 2^70), whose errors are far below float64's rounding of the
// values: the input is encoded and the result decoded in 128-bit
// arithmetic, and the reference is computed in big floats, so that what is
// measured is the CKKS error, the encoding of the server's weights
// included.
func TestNoiseBoundHoldsOnTwoPrimes(t *testing.T) {
	for i, tc := range testCircuits {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.build()
			var samples []*ir.Tensor
			for k := range 4 {
				samples = append(samples, &ir.Tensor{Shape: []int{tc.in}, Data: randomInputs(uint64(100*i+k), tc.in, 1)})
			}
			cfg := &passes.Config{Ranges: &passes.RangeSource{Samples: samples, Margin: 0.1}}
			if err := passes.Run(g, passes.Pipeline, cfg); err != nil {
				t.Fatal(err)
			}
			set := params.InsecureTestSet(11, g.Depth, 70)
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
			p, err := newParameters(set)
			if err != nil {
				t.Fatal(err)
			}
			ecd := hefloat.NewEncoder(p, 128)
			var worst float64
			for _, x := range samples {
				out, _, err := srv.Run(context.Background(), encryptPrecisely(t, pl.Spec, p, ecd, keys.Secret, x))
				if err != nil {
					t.Fatal(err)
				}
				got := decryptPrecisely(t, pl.Spec, p, ecd, keys.Secret, out)
				for k, v := range interpretBig(t, g, x) {
					d, _ := new(big.Float).Sub(v, got[k]).Float64()
					worst = max(worst, math.Abs(d))
				}
			}
			ratio := bound / worst
			t.Logf("measured %.3g, bound %.3g (2^%.1f above)", worst, bound, math.Log2(ratio))
			if worst > bound {
				t.Errorf("measured error %.3g exceeds the bound %.3g", worst, bound)
			}
			if ratio > 1<<6 {
				t.Errorf("the bound %.3g is 2^%.1f above the measured error %.3g", bound, math.Log2(ratio), worst)
			}
		})
	}
}

// encryptPrecisely is Encrypt under the secret key, encoding with ecd.
func encryptPrecisely(t *testing.T, spec *plan.Spec, p hefloat.Parameters, ecd *hefloat.Encoder, sk *SecretKey, x *ir.Tensor) *Ciphertext {
	t.Helper()
	if spec.InputCiphertexts() != 1 {
		t.Fatalf("an input in %d ciphertexts", spec.InputCiphertexts())
	}
	slots := make([]float64, 1<<spec.LogSlots)
	laid := x.Data
	if spec.InputSlots != nil {
		laid = (&ir.Gather{Shape: spec.Input.Shape, Slots: spec.InputSlots}).Apply(x.Data)
	}
	copy(slots, laid)
	pt := hefloat.NewPlaintext(p, spec.Params.RingLevel(spec.Input.Level))
	pt.LogDimensions = ring.Dimensions{Rows: 0, Cols: spec.LogSlots}
	if err := ecd.Encode(slots, pt); err != nil {
		t.Fatal(err)
	}
	ct, err := rlwe.NewEncryptor(p, sk.sk).EncryptNew(pt)
	if err != nil {
		t.Fatal(err)
	}
	return &Ciphertext{kind: KindInputCt, id: sk.id, cts: []*rlwe.Ciphertext{ct}}
}

// decryptPrecisely is DecryptRaw decoding with ecd, in big floats.
func decryptPrecisely(t *testing.T, spec *plan.Spec, p hefloat.Parameters, ecd *hefloat.Encoder, sk *SecretKey, ct *Ciphertext) []*big.Float {
	t.Helper()
	pt := rlwe.NewDecryptor(p, sk.sk).DecryptNew(ct.cts[0])
	pt.LogDimensions = ring.Dimensions{Rows: 0, Cols: p.LogMaxSlots()}
	all := make([]*bignum.Complex, p.MaxSlots())
	for i := range all {
		all[i] = bignum.NewComplex().SetPrec(128)
	}
	if err := ecd.Decode(pt, all); err != nil {
		t.Fatal(err)
	}
	slots := 1 << spec.LogSlots
	copies := new(big.Float).SetInt64(int64(len(all) / slots))
	out := make([]*big.Float, ir.NumElements(spec.Output.Shape))
	for i := range out {
		out[i] = new(big.Float).SetPrec(128)
		for j := 0; j < len(all)/slots; j++ {
			out[i].Add(out[i], all[j*slots+i][0])
		}
		out[i].Quo(out[i], copies)
	}
	return out
}

// interpretBig is ir.Interpret in 256-bit floats, for the ops of the test
// circuits.
func interpretBig(t *testing.T, g *ir.Graph, x *ir.Tensor) []*big.Float {
	t.Helper()
	num := func(v float64) *big.Float { return new(big.Float).SetPrec(256).SetFloat64(v) }
	vals := map[*ir.Node][]*big.Float{}
	for _, n := range g.Nodes {
		var v []*big.Float
		switch n.Op {
		case ir.OpInput:
			data := x.Data
			if n.Gather != nil {
				data = n.Gather.Apply(data)
			}
			for _, d := range data {
				v = append(v, num(d))
			}
		case ir.OpAffine:
			in := vals[n.Inputs[0]]
			for r := range n.Linear.Rows {
				y := num(0)
				n.Linear.Row(r, func(c int, w float64) { y.Add(y, num(w).Mul(num(w), in[c])) })
				if n.Linear.Bias != nil {
					y.Add(y, num(n.Linear.Bias[r]))
				}
				v = append(v, y)
			}
		case ir.OpPoly:
			p := n.Poly
			for _, a := range vals[n.Inputs[0]] {
				y := num(0)
				if p.Basis == ir.Chebyshev {
					// Clenshaw's recurrence, as ir.Polynomial.Eval.
					u := num(2).Mul(num(2), a)
					u.Sub(u, num(p.Interval.Lo+p.Interval.Hi)).Quo(u, num(p.Interval.Hi-p.Interval.Lo))
					b1, b2 := num(0), num(0)
					for k := len(p.Coeffs) - 1; k >= 1; k-- {
						next := num(2).Mul(num(2), u)
						next.Mul(next, b1).Sub(next, b2).Add(next, num(p.Coeffs[k]))
						b1, b2 = next, b1
					}
					y.Mul(u, b1).Sub(y, b2).Add(y, num(p.Coeffs[0]))
				} else {
					for k := len(p.Coeffs) - 1; k >= 0; k-- {
						y.Mul(y, a).Add(y, num(p.Coeffs[k]))
					}
				}
				v = append(v, y)
			}
		case ir.OpAdd, ir.OpMul:
			for k, a := range vals[n.Inputs[0]] {
				b := vals[n.Inputs[1]][k]
				if n.Op == ir.OpAdd {
					v = append(v, num(0).Add(a, b))
				} else {
					v = append(v, num(0).Mul(a, b))
				}
			}
		case ir.OpOutput:
			v = vals[n.Inputs[0]]
		default:
			t.Fatalf("node %s: op %s", n.Label(), n.Op)
		}
		vals[n] = v
	}
	return vals[g.Outputs()[0]]
}
