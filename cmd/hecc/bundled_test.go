package main

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/compiler/tensorio"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
)

const bundled = "../../testdata"

// bundledModels pairs each bundled model with its sample set; the reference
// outputs were computed by PyTorch in float64 when the model was exported.
var bundledModels = []struct{ model, samples string }{
	{"cryptonets", "mnist_test.npz"},
	{"cryptonets_dynamic", "mnist_test.npz"},
	{"lenet5", "mnist_test.npz"},
	{"mlp", "mnist_test.npz"},
	{"fashion_cnn", "fashion_test.npz"},
	{"diabetes_reg", "diabetes_test.npz"},
}

func loadSamples(t *testing.T, name string) (x *ir.Tensor, y *ir.Tensor) {
	t.Helper()
	arrays, err := tensorio.ReadNPZ(filepath.Join(bundled, "samples", name))
	if err != nil {
		t.Fatal(err)
	}
	return arrays["x"], arrays["y"]
}

func loadRef(t *testing.T, model string) *ir.Tensor {
	t.Helper()
	f, err := os.Open(filepath.Join(bundled, "samples", model+"_ref.npy"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ref, err := tensorio.ReadNPY(f)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func sample(x *ir.Tensor, i int) *ir.Tensor {
	size := ir.NumElements(x.Shape[1:])
	return &ir.Tensor{Shape: append([]int{1}, x.Shape[1:]...), Data: x.Data[i*size : (i+1)*size]}
}

// TestBundledModelsMatchPyTorch checks hecc's reading of each bundled ONNX
// model — lowering and plaintext IR interpretation, activations exact —
// against PyTorch's own outputs on every bundled sample.
func TestBundledModelsMatchPyTorch(t *testing.T) {
	for _, bm := range bundledModels {
		t.Run(bm.model, func(t *testing.T) {
			path := filepath.Join(bundled, "models", bm.model+".onnx")
			if _, err := os.Stat(path); err != nil {
				t.Skipf("%s not bundled yet", path)
			}
			m, err := onnx.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			low, err := compiler.Lower(m, compiler.LowerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			x, _ := loadSamples(t, bm.samples)
			ref := loadRef(t, bm.model)
			classes := ref.Shape[1]
			in, out := low.Graph.Inputs()[0], low.Graph.Outputs()[0]
			var worst float64
			for i := range x.Shape[0] {
				o, err := ir.Interpret(low.Graph, map[string]*ir.Tensor{in.Name: sample(x, i)})
				if err != nil {
					t.Fatal(err)
				}
				got, err := ir.ApplyPost(out.Post, o[out.Name])
				if err != nil {
					t.Fatal(err)
				}
				for k := range classes {
					want := ref.Data[i*classes+k]
					worst = max(worst, math.Abs(got.Data[k]-want)/(1+math.Abs(want)))
				}
			}
			// Both sides compute in float64 from the same float32 weights:
			// only summation order differs.
			if worst > 1e-9 {
				t.Fatalf("IR interpretation differs from PyTorch by %g (relative)", worst)
			}
			t.Logf("%d samples, max relative difference %.2g", x.Shape[0], worst)
		})
	}
}

// TestCryptoNetsEncrypted runs the bundled CryptoNets encrypted at the
// parameters the compiler picks (128-bit) on the first 24 test digits.
func TestCryptoNetsEncrypted(t *testing.T) {
	const digits = 24
	res, keys, srv := bundledServer(t, "cryptonets")
	spec := res.Spec
	x, _ := loadSamples(t, "mnist_test.npz")
	ref := loadRef(t, "cryptonets")
	var worst, smallestGap float64 = 0, math.Inf(1)
	for i := range digits {
		ct, err := runtime.Encrypt(spec, keys.Public, sample(x, i))
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := srv.Run(ct)
		if err != nil {
			t.Fatal(err)
		}
		got, err := runtime.Decrypt(spec, keys.Secret, out)
		if err != nil {
			t.Fatal(err)
		}
		want := ref.Data[i*10 : (i+1)*10]
		for k := range want {
			worst = max(worst, math.Abs(got.Data[k]-want[k]))
		}
		if a, b := topClasses(got, 1)[0], topClasses(&ir.Tensor{Shape: []int{10}, Data: want}, 1)[0]; a != b {
			t.Fatalf("digit %d: encrypted top class %d, plaintext %d", i, a, b)
		}
		smallestGap = min(smallestGap, gap(want))
	}
	// The bound follows the scale the compiler chose. CKKS error is
	// proportional to 2^-scale: each rescale and encoding adds a few units
	// of 2^-scale, and the conv, the two squares and the dense layers
	// amplify what came before. Measured on these digits: 4.6e-5 at 2^29 and
	// 1.5e-3–2.0e-3 at 2^25, both ≈ 2^-(scale-16); the bound
	// 2^-(scale-18) leaves a factor 4, and stays far below the smallest gap
	// between a digit's top two logits (checked below), which is what keeps
	// the predicted class.
	bound := math.Pow(2, -float64(spec.Params.LogScale-18))
	if worst > bound {
		t.Fatalf("max absolute logit error %g exceeds %g", worst, bound)
	}
	if smallestGap < 2*bound {
		t.Fatalf("a top-2 logit gap of %g is too close to the error bound to make argmax agreement meaningful", smallestGap)
	}
	t.Logf("%d digits at %s: argmax agrees on all, max |logit error| %.3g, smallest top-2 gap %.3g", digits, spec.Params, worst, smallestGap)
}

func gap(v []float64) float64 {
	first, second := math.Inf(-1), math.Inf(-1)
	for _, x := range v {
		if x > first {
			first, second = x, first
		} else if x > second {
			second = x
		}
	}
	return first - second
}

func compileBundled(t *testing.T, model, calib string) *compiler.Result {
	t.Helper()
	x, err := readSamples(filepath.Join(bundled, "samples", calib))
	if err != nil {
		t.Fatal(err)
	}
	res, err := compiler.CompileFile(filepath.Join(bundled, "models", model+".onnx"),
		compiler.Options{Name: model, Calibration: x, Margin: compiler.DefaultMargin})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestLeNet5CircuitAccuracy compares the compiled LeNet-5 (ReLUs replaced by
// polynomials) with the exact model on the 1000 bundled test digits, which
// the calibration never saw.
func TestLeNet5CircuitAccuracy(t *testing.T) {
	res := compileBundled(t, "lenet5", "mnist_calib.npz")
	g, spec := res.Graph, res.Spec
	x, y := loadSamples(t, "mnist_test.npz")
	var exact, circuit int
	for i := range x.Shape[0] {
		in := map[string]*ir.Tensor{spec.Input.Name: sample(x, i)}
		c, err := ir.Interpret(g, in)
		if err != nil {
			t.Fatal(err)
		}
		e, err := ir.InterpretWith(g, in, ir.InterpretOptions{Exact: true})
		if err != nil {
			t.Fatal(err)
		}
		label := int(y.Data[i])
		if topClasses(c[spec.Output.Name], 1)[0] == label {
			circuit++
		}
		if topClasses(e[spec.Output.Name], 1)[0] == label {
			exact++
		}
	}
	n := float64(x.Shape[0])
	diff := 100 * float64(circuit-exact) / n
	t.Logf("exact model %.1f%%, circuit %.1f%% on %d digits (depth %d, %s)", 100*float64(exact)/n, 100*float64(circuit)/n, x.Shape[0], g.Depth, spec.Params)
	if diff < -0.5 {
		t.Fatalf("the circuit loses %.2f points of accuracy (more than 0.5)", -diff)
	}
}

// bundledServer compiles a bundled MNIST model at the parameters the
// compiler picks, checks they are secure, and makes its keys and server.
func bundledServer(t *testing.T, model string) (*compiler.Result, *runtime.Keys, *runtime.Server) {
	t.Helper()
	res := compileBundled(t, model, "mnist_calib.npz")
	if p := res.Spec.Params; p.Security < 128 || p.Insecure() {
		t.Fatalf("compiled at %s", p)
	}
	keys, err := runtime.GenerateKeys(res.Spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := runtime.NewServer(&runtime.Circuit{Spec: res.Spec, Graph: res.Graph}, keys.Eval)
	if err != nil {
		t.Fatal(err)
	}
	return res, keys, srv
}

// encryptedAgainstPlaintext compiles a bundled model, runs it encrypted at
// the parameters the compiler picks on the first digits test samples, and
// checks every decrypted top class against the plaintext circuit's (same
// polynomials, so only CKKS noise differs). It returns the largest output
// error.
func encryptedAgainstPlaintext(t *testing.T, model string, digits int) (float64, *plan.Spec) {
	t.Helper()
	res, keys, srv := bundledServer(t, model)
	spec := res.Spec
	x, _ := loadSamples(t, "mnist_test.npz")
	var worst float64
	for i := range digits {
		in := sample(x, i)
		ct, err := runtime.Encrypt(spec, keys.Public, in)
		if err != nil {
			t.Fatal(err)
		}
		out, st, err := srv.Run(ct)
		if err != nil {
			t.Fatal(err)
		}
		got, err := runtime.Decrypt(spec, keys.Secret, out)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := ir.Interpret(res.Graph, map[string]*ir.Tensor{spec.Input.Name: in})
		if err != nil {
			t.Fatal(err)
		}
		want := plain[spec.Output.Name]
		for k := range want.Data {
			worst = max(worst, math.Abs(got.Data[k]-want.Data[k]))
		}
		if a, b := topClasses(got, 1)[0], topClasses(want, 1)[0]; a != b {
			t.Fatalf("digit %d: encrypted top class %d, plaintext circuit %d", i, a, b)
		}
		t.Logf("digit %d: %.2f s, %d key switches", i, st.EvalSeconds, st.KeySwitches)
	}
	t.Logf("%d digits at %s: argmax agrees on all, max |output error| %.3g", digits, spec.Params, worst)
	return worst, spec
}

// TestMLPEncrypted runs the bundled MLP (one ReLU, approximated) encrypted
// on 12 test digits.
func TestMLPEncrypted(t *testing.T) {
	worst, spec := encryptedAgainstPlaintext(t, "mlp", 12)
	// The same scale-relative bound as for CryptoNets.
	if bound := math.Pow(2, -float64(spec.Params.LogScale-18)); worst > bound {
		t.Fatalf("max absolute output error %g exceeds %g", worst, bound)
	}
}

// TestLeNet5Encrypted runs the bundled LeNet-5 — four ReLUs approximated,
// logN 15 at 128-bit security — encrypted on the first 10 test digits.
func TestLeNet5Encrypted(t *testing.T) {
	worst, _ := encryptedAgainstPlaintext(t, "lenet5", 10)
	// Nineteen levels with polynomials of degree ≤ 8 in between: each
	// rescale adds a few units of 2^-scale and each layer amplifies them by
	// its weights' row sums (< 50 here); 1e-2 is loose yet far below the
	// logit gaps that decide the class.
	if worst > 1e-2 {
		t.Fatalf("max absolute output error %g against the plaintext circuit", worst)
	}
}
