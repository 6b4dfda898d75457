package ir

import (
	"fmt"
	"math"
)

// Activation is an exact element-wise non-polynomial function. It cannot be
// evaluated under encryption: the approx-activations pass replaces it by a
// Poly, and the runtime refuses a graph that still holds one.
type Activation struct {
	Func  string  // one of the names in activationFuncs
	Alpha float64 // LeakyRelu slope
	Lo    float64 // Clip bounds
	Hi    float64
}

var activationFuncs = map[string]func(a *Activation, x float64) float64{
	"relu":       func(_ *Activation, x float64) float64 { return max(x, 0) },
	"leaky_relu": func(a *Activation, x float64) float64 { return max(x, 0) + a.Alpha*min(x, 0) },
	"clip":       func(a *Activation, x float64) float64 { return min(max(x, a.Lo), a.Hi) },
	"sigmoid":    func(_ *Activation, x float64) float64 { return 1 / (1 + math.Exp(-x)) },
	"tanh":       func(_ *Activation, x float64) float64 { return math.Tanh(x) },
	// sign is what each stage of a composite ReLU approximates; no ONNX
	// operator lowers to it.
	"sign": func(_ *Activation, x float64) float64 {
		switch {
		case x > 0:
			return 1
		case x < 0:
			return -1
		}
		return 0
	},
	"softplus": func(_ *Activation, x float64) float64 {
		// log(1+e^x) without overflow for large x.
		if x > 30 {
			return x
		}
		return math.Log1p(math.Exp(x))
	},
}

// Eval computes the activation at x.
func (a *Activation) Eval(x float64) float64 { return activationFuncs[a.Func](a, x) }

// EvalSlice sets y[i] to Eval(x[i]) for every i (y may be x).
func (a *Activation) EvalSlice(y, x []float64) {
	f := activationFuncs[a.Func]
	for i, v := range x {
		y[i] = f(a, v)
	}
}

func (a *Activation) check() error {
	if _, ok := activationFuncs[a.Func]; !ok {
		return fmt.Errorf("unknown activation %q", a.Func)
	}
	if a.Func == "clip" && !(a.Lo <= a.Hi) {
		return fmt.Errorf("clip bounds [%g, %g] are empty", a.Lo, a.Hi)
	}
	return nil
}

func (a *Activation) String() string {
	switch a.Func {
	case "leaky_relu":
		return fmt.Sprintf("leaky_relu alpha=%g", a.Alpha)
	case "clip":
		return fmt.Sprintf("clip [%g, %g]", a.Lo, a.Hi)
	}
	return a.Func
}
