package runtime

import (
	"context"
	"math"
	"math/big"
	"math/rand/v2"
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
			r := newNoiseRun(t, tc, i, 8, 35)
			worst := r.worstError(t)
			t.Logf("the server's share of σ %.3g of %.3g", r.noise.Server, r.noise.Sigma[r.g.Outputs()[0]])
			r.check(t, worst)
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
			r := newNoiseRun(t, tc, i, 4, 70)
			p, err := newParameters(r.pl.Spec.Params)
			if err != nil {
				t.Fatal(err)
			}
			ecd := hefloat.NewEncoder(p, 128)
			var worst float64
			for _, x := range r.samples {
				out, _, err := r.srv.Run(context.Background(), encryptPrecisely(t, r.pl.Spec, p, ecd, r.keys.Secret, x))
				if err != nil {
					t.Fatal(err)
				}
				got := decryptPrecisely(t, r.pl.Spec, p, ecd, r.keys.Secret, out)
				for k, v := range interpretBig(t, r.g, x) {
					d, _ := new(big.Float).Sub(v, got[k]).Float64()
					worst = max(worst, math.Abs(d))
				}
			}
			r.check(t, worst)
		})
	}
}

// TestNoiseBoundHoldsAtDepth checks plan.Noise on deep circuits whose
// ReLUs the search gives composite forms (chains of sign polynomials)
// against encrypted runs: never below what is measured, and within 2^6 of
// it (a composite's slopes taken at its input's worst value put the bound
// 2^5.6 and 2^6.3 above, node by node 2^12.5 and 2^13).
func TestNoiseBoundHoldsAtDepth(t *testing.T) {
	for _, tc := range []struct {
		name      string
		build     func() (*ir.Graph, []*ir.Tensor)
		criterion passes.Criterion
		relus     int
	}{
		{"three dense layers", deepMLP, passes.Top1, 3},
		{"two convolutions, average pool and global average pool", smallCNN, passes.Tolerance, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, calibration := tc.build()
			r := &noiseRun{g: g}
			cfg := &passes.Config{Ranges: &passes.RangeSource{Samples: calibration, Margin: 0.1}, Approx: passes.ApproxConfig{Criterion: tc.criterion}}
			if err := passes.Run(r.g, passes.Pipeline, cfg); err != nil {
				t.Fatal(err)
			}
			if mul := r.g.Counts()["mul"]; mul != tc.relus || r.g.Depth < 20 {
				t.Fatalf("%d composite products at depth %d, want %d at depth ≥ 20", mul, r.g.Depth, tc.relus)
			}
			r.samples = calibration[len(calibration)-3:]
			r.plan(t, params.InsecureTestSet(11, r.g.Depth, 35))
			t.Logf("depth %d", r.g.Depth)
			r.check(t, r.worstError(t))
		})
	}
}

// TestNoiseBoundHoldsForAChebyshevReLU checks plan.Noise on a ReLU fitted
// by a Chebyshev series of degree 63, as the search gives a convolution's
// ReLU: its evaluation's roundings weigh by where on its range the values
// are, and the bound takes them at the worst point of the range (in mean
// square over it, values taken uniform, it underestimated the error here).
func TestNoiseBoundHoldsForAChebyshevReLU(t *testing.T) {
	const degree, nodes = 63, 128
	iv := ir.Interval{Lo: -4, Hi: 4}
	// Interpolation at the Chebyshev nodes.
	c := make([]float64, degree+1)
	for j := range nodes {
		theta := math.Pi * (float64(j) + 0.5) / nodes
		relu := max(0, iv.Hi*math.Cos(theta))
		for k := range c {
			c[k] += 2 / float64(nodes) * relu * math.Cos(float64(k)*theta)
		}
	}
	c[0] /= 2
	tc := testCircuit{"dense, chebyshev relu, dense", func() *ir.Graph {
		b, x := newGraph(6, 24)
		h := b.poly(b.dense(x, 24, 1), &ir.Polynomial{Basis: ir.Chebyshev, Coeffs: c, Interval: iv})
		return b.output(b.dense(h, 4, 1))
	}, 24}
	r := newNoiseRun(t, tc, 6, 8, 35)
	r.check(t, r.worstError(t))
}

// deepMLP is three dense layers of 32 neurons, each followed by a ReLU,
// and a dense layer to 4 classes, with 400 calibration samples.
func deepMLP() (*ir.Graph, []*ir.Tensor) {
	const width = 32
	b, x := newGraph(7, width)
	h := x
	for range 3 {
		d := b.dense(h, width, 1)
		h = b.g.Add(&ir.Node{Op: ir.OpActivation, Inputs: []*ir.Node{d}, Shape: d.Shape, Act: &ir.Activation{Func: "relu"}})
	}
	var calibration []*ir.Tensor
	for k := range 400 {
		calibration = append(calibration, &ir.Tensor{Shape: []int{width}, Data: randomInputs(uint64(1000+k), width, 1)})
	}
	return b.output(b.dense(h, 4, 1)), calibration
}

// smallCNN is the bundled Fashion CNNs' structure on 8×8 images: 3×3
// convolution to 4 channels, ReLU, 2×2 average pool, convolution to 8
// channels, ReLU, global average pool, dense to 10 classes; the channels'
// weights are scaled from 0.05 to 30, as batch normalisation leaves them,
// and the images are mostly dark (pixels u⁴ of uniform u), with 400
// calibration samples.
func smallCNN() (*ir.Graph, []*ir.Tensor) {
	b := &graphBuilder{g: &ir.Graph{}, rng: rand.New(rand.NewPCG(3, 4))}
	x := b.g.Add(&ir.Node{Op: ir.OpInput, Name: "x", Shape: []int{1, 1, 8, 8}})
	relu := func(in *ir.Node) *ir.Node {
		return b.g.Add(&ir.Node{Op: ir.OpActivation, Inputs: []*ir.Node{in}, Shape: in.Shape, Act: &ir.Activation{Func: "relu"}})
	}
	h := b.pool(relu(b.conv(x, []float64{0.1, 1, 5, 30})), 2)
	scales := []float64{0.05, 0.2, 1, 3, 10, 30, 0.5, 2}
	h = b.pool(relu(b.conv(h, scales)), 4)
	// The classifier weighs every channel alike.
	bl := ir.NewBuilder(10, len(scales))
	for k := range 10 {
		for c, sc := range scales {
			bl.Add(k, c, b.rng.NormFloat64()/sc)
		}
	}
	lin, err := bl.Build(nil, "dense")
	if err != nil {
		panic(err)
	}
	var calibration []*ir.Tensor
	for k := range 400 {
		u := randomInputs(uint64(5000+k), 64, 1)
		for i, v := range u {
			u[i] = math.Pow((v+1)/2, 4)
		}
		calibration = append(calibration, &ir.Tensor{Shape: []int{1, 1, 8, 8}, Data: u})
	}
	return b.output(b.g.Add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{h}, Shape: []int{1, 10}, Linear: lin})), calibration
}

// conv is a same-padded 3×3 convolution of a [1,C,H,W] node to one output
// channel per scale, each channel's weights times its scale, with a bias.
func (b *graphBuilder) conv(in *ir.Node, scales []float64) *ir.Node {
	c, h, w := in.Shape[1], in.Shape[2], in.Shape[3]
	bl := ir.NewBuilder(len(scales)*h*w, c*h*w)
	bias := make([]float64, len(scales)*h*w)
	for o, sc := range scales {
		k := make([]float64, c*9)
		for i := range k {
			k[i] = b.rng.NormFloat64() * sc / math.Sqrt(float64(c*9))
		}
		ob := 0.1 * sc * b.rng.NormFloat64()
		for i := range h {
			for j := range w {
				r := (o*h+i)*w + j
				bias[r] = ob
				for ci := range c {
					for ki := range 3 {
						for kj := range 3 {
							if y, x := i+ki-1, j+kj-1; y >= 0 && y < h && x >= 0 && x < w {
								bl.Add(r, (ci*h+y)*w+x, k[(ci*3+ki)*3+kj])
							}
						}
					}
				}
			}
		}
	}
	lin, err := bl.Build(bias, "conv")
	if err != nil {
		panic(err)
	}
	return b.g.Add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{in}, Shape: []int{1, len(scales), h, w}, Linear: lin})
}

// pool averages f×f blocks of a [1,C,H,W] node.
func (b *graphBuilder) pool(in *ir.Node, f int) *ir.Node {
	c, h, w := in.Shape[1], in.Shape[2], in.Shape[3]
	oh, ow := h/f, w/f
	bl := ir.NewBuilder(c*oh*ow, c*h*w)
	for ch := range c {
		for i := range oh {
			for j := range ow {
				for a := range f {
					for d := range f {
						bl.Add((ch*oh+i)*ow+j, (ch*h+i*f+a)*w+j*f+d, 1/float64(f*f))
					}
				}
			}
		}
	}
	lin, err := bl.Build(nil, "pool")
	if err != nil {
		panic(err)
	}
	return b.g.Add(&ir.Node{Op: ir.OpAffine, Inputs: []*ir.Node{in}, Shape: []int{1, c, oh, ow}, Linear: lin})
}

// noiseRun is a test circuit calibrated on random samples, planned at a
// scale, with its noise bound, keys and server.
type noiseRun struct {
	g       *ir.Graph
	samples []*ir.Tensor
	pl      *plan.Plan
	noise   *plan.Noise
	bound   float64
	keys    *Keys
	srv     *Server
}

func newNoiseRun(t *testing.T, tc testCircuit, i, n, logScale int) *noiseRun {
	t.Helper()
	r := &noiseRun{g: tc.build()}
	for k := range n {
		r.samples = append(r.samples, &ir.Tensor{Shape: []int{tc.in}, Data: randomInputs(uint64(100*i+k), tc.in, 1)})
	}
	cfg := &passes.Config{Ranges: &passes.RangeSource{Samples: r.samples, Margin: 0.1}}
	if err := passes.Run(r.g, passes.Pipeline, cfg); err != nil {
		t.Fatal(err)
	}
	r.plan(t, params.InsecureTestSet(11, r.g.Depth, logScale))
	return r
}

// plan plans r's circuit at set and predicts its noise for an input
// encrypted under the secret key, with fresh keys and a server.
func (r *noiseRun) plan(t *testing.T, set params.Set) {
	t.Helper()
	var err error
	if r.pl, err = plan.Build("test", r.g, set); err != nil {
		t.Fatal(err)
	}
	if r.noise, err = r.pl.Noise(plan.FreshSigma(set, false)); err != nil {
		t.Fatal(err)
	}
	r.bound = r.noise.Bound(r.g)
	if r.keys, err = GenerateKeys(r.pl.Spec, nil); err != nil {
		t.Fatal(err)
	}
	if r.srv, err = NewServer(&Circuit{Spec: r.pl.Spec, Graph: r.g}, r.keys.Eval); err != nil {
		t.Fatal(err)
	}
}

// check fails the test when the measured error exceeds the bound, or the
// bound is more than 2^6 above it.
func (r *noiseRun) check(t *testing.T, worst float64) {
	t.Helper()
	ratio := r.bound / worst
	t.Logf("measured %.3g, bound %.3g (2^%.1f above)", worst, r.bound, math.Log2(ratio))
	if worst > r.bound {
		t.Errorf("measured error %.3g exceeds the bound %.3g", worst, r.bound)
	}
	if ratio > 1<<6 {
		t.Errorf("the bound %.3g is 2^%.1f above the measured error %.3g", r.bound, math.Log2(ratio), worst)
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

// worstError is the largest absolute difference between the decrypted
// output and the plaintext circuit's over the run's samples.
func (r *noiseRun) worstError(t *testing.T) float64 {
	t.Helper()
	var worst float64
	for _, x := range r.samples {
		ct, err := Encrypt(r.pl.Spec, r.keys.Secret, x)
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := r.srv.Run(context.Background(), ct)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecryptRaw(r.pl.Spec, r.keys.Secret, out)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ir.Interpret(r.g, map[string]*ir.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range want["y"].Data {
			worst = max(worst, math.Abs(v-got.Data[k]))
		}
	}
	return worst
}
