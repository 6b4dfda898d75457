package main

import (
	"fmt"
	"math"

	"github.com/hecc-dev/hecc/compiler/tensorio"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
	"github.com/urfave/cli/v2"
)

func simulateCommand() *cli.Command {
	return &cli.Command{
		Name:  "simulate",
		Usage: "run a compiled circuit in plaintext (float64) to predict its accuracy",
		Description: `Evaluates the circuit of a .hec file in the clear, polynomial approximations
included, on one input or a batch (first axis indexes samples; .npz: the
array x), next to the exact model (every polynomial replaced by the
activation it approximates). It prints the largest output difference and,
for a classifier, how often the two agree: on the top class of a class
vector, on the decision of a one-output classifier (a Sigmoid's output at
0.5); with --labels, both accuracies. Takes milliseconds an image.`,
		ArgsUsage: "MODEL.hec INPUT.npy|INPUT.npz|INPUT.pb",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "labels", Usage: "integer labels (.npy, or .npz array y) for an accuracy figure"},
			&cli.IntFlag{Name: "top", Value: 3, Usage: "classes to print for a single input"},
		},
		Action: runSimulate,
	}
}

func runSimulate(c *cli.Context) error {
	if c.NArg() != 2 {
		return usageError("simulate takes a .hec file and an input tensor or batch (see hecc simulate --help)")
	}
	path := c.Args().First()
	data, err := readFile(path, runtime.MaxCircuitBytes)
	if err != nil {
		return err
	}
	circuit, err := runtime.DecodeCircuit(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	g, spec := circuit.Graph, circuit.Spec
	batch, err := readBatch(c.Args().Get(1), spec)
	if err != nil {
		return err
	}
	var labels []float64
	if f := c.String("labels"); f != "" {
		l, err := readLabels(f)
		if err != nil {
			return err
		}
		if len(l) != len(batch) {
			return fmt.Errorf("%d labels for %d inputs", len(l), len(batch))
		}
		labels = l
	}
	// A one-output classifier is decided by its threshold; a class vector
	// by its top class.
	kind := passes.DetectOutput(g)
	decide := func(y *ir.Tensor) int { return topClasses(y, 1)[0] }
	what := "top class"
	if kind.Criterion == passes.Threshold {
		decide = func(y *ir.Tensor) int {
			if y.Data[0] > kind.Threshold {
				return 1
			}
			return 0
		}
		what = fmt.Sprintf("decision at %g", kind.Threshold)
	}
	var exactRight, circuitRight, agree int
	var worst float64
	for i, x := range batch {
		in := map[string]*ir.Tensor{spec.Input.Name: x}
		circ, err := ir.Interpret(g, in)
		if err != nil {
			return err
		}
		exact, err := ir.InterpretWith(g, in, ir.InterpretOptions{Exact: true})
		if err != nil {
			return err
		}
		y, ye := circ[spec.Output.Name], exact[spec.Output.Name]
		for k := range y.Data {
			worst = math.Max(worst, math.Abs(y.Data[k]-ye.Data[k]))
		}
		got, want := decide(y), decide(ye)
		if got == want {
			agree++
		}
		if labels != nil {
			if float64(got) == labels[i] {
				circuitRight++
			}
			if float64(want) == labels[i] {
				exactRight++
			}
		}
		if len(batch) == 1 && kind.Criterion == passes.Threshold {
			fmt.Printf("plaintext circuit output %.4g: decision %d (exact model: %.4g, decision %d)\n", y.Data[0], got, ye.Data[0], want)
		} else if len(batch) == 1 {
			top := topClasses(y, c.Int("top"))
			fmt.Printf("plaintext circuit top classes:")
			for _, k := range top {
				fmt.Printf("  %d (%.4g)", k, y.Data[k])
			}
			fmt.Printf("   (exact model: %d)\n", want)
		}
	}
	n := float64(len(batch))
	switch {
	case len(batch) == 1:
	case kind.Criterion == passes.Top1 || kind.Criterion == passes.Threshold:
		fmt.Printf("%d inputs: circuit and exact model agree on the %s of %.2f%%; max |output difference| %.4g\n", len(batch), what, 100*float64(agree)/n, worst)
	default:
		fmt.Printf("%d inputs: max |output difference| between circuit and exact model %.4g\n", len(batch), worst)
	}
	if labels != nil {
		fmt.Printf("accuracy: exact model %.2f%%, circuit %.2f%% (%+.2f points)\n", 100*float64(exactRight)/n, 100*float64(circuitRight)/n, 100*float64(circuitRight-exactRight)/n)
	}
	return nil
}

// readBatch reads one input of the model's shape, or a batch of them.
func readBatch(path string, spec *plan.Spec) ([]*ir.Tensor, error) {
	t, err := readSamples(path)
	if err != nil {
		t, err = tensorio.ReadFile(path)
		if err != nil {
			return nil, err
		}
	}
	if runtime.CheckInputShape(spec, t.Shape) == nil {
		return []*ir.Tensor{{Shape: spec.Input.Shape, Data: t.Data}}, nil
	}
	size := ir.NumElements(spec.Input.Shape)
	if len(t.Shape) == 0 || runtime.CheckInputShape(spec, t.Shape[1:]) != nil {
		return nil, fmt.Errorf("%s: shape %v is neither the model input %v nor a batch of it", path, t.Shape, spec.Input.Shape)
	}
	out := make([]*ir.Tensor, t.Shape[0])
	for i := range out {
		out[i] = &ir.Tensor{Shape: spec.Input.Shape, Data: t.Data[i*size : (i+1)*size]}
	}
	return out, nil
}

func readLabels(path string) ([]float64, error) {
	if len(path) > 4 && path[len(path)-4:] == ".npz" {
		arrays, err := tensorio.ReadNPZ(path)
		if err != nil {
			return nil, err
		}
		y, ok := arrays["y"]
		if !ok {
			return nil, fmt.Errorf("%s has no array y", path)
		}
		return y.Data, nil
	}
	t, err := tensorio.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for _, v := range t.Data {
		if v != math.Trunc(v) {
			return nil, fmt.Errorf("%s: labels must be integers", path)
		}
	}
	return t.Data, nil
}
