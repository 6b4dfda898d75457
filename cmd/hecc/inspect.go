package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
	"github.com/urfave/cli/v2"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show the parameters and circuit summary of a .spec or .hec file",
		ArgsUsage: "FILE.spec|FILE.hec",
		Description: `Prints what a compile decided, without the weights: the parameters and
their security level, the circuit's depth and operations, the input and
output and how the client lays the input out, the keys the server needs and
the sizes of keys and ciphertexts. A .spec is what the client holds; a .hec
adds the graph (--ir prints it).

Example:
  hecc inspect model.spec --json`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			&cli.BoolFlag{Name: "ir", Usage: "also print the IR (.hec only)"},
		},
		Action: runInspect,
	}
}

// inspection is what `hecc inspect --json` prints.
type inspection struct {
	File        string             `json:"file"`
	Kind        string             `json:"kind"`
	Model       string             `json:"model"`
	Fingerprint string             `json:"fingerprint"`
	LogN        int                `json:"logN"`
	LogQ        []int              `json:"logQ"`
	LogP        []int              `json:"logP"`
	LogQP       int                `json:"logQP"`
	LogScale    int                `json:"logScale"`
	Slots       int                `json:"slots"`
	LayoutSlots int                `json:"layout_slots"`
	Security    int                `json:"security"`
	Depth       int                `json:"depth"`
	Rotations   int                `json:"rotations"`
	Relin       bool               `json:"relinearization_key"`
	Ops         map[string]int     `json:"ops"`
	Input       plan.TensorInfo    `json:"input"`
	InputSlots  int                `json:"input_layout_slots,omitempty"` // set when the client lays the input out itself
	InputCts    int                `json:"input_ciphertexts"`
	Output      plan.TensorInfo    `json:"output"`
	Sizes       runtime.Sizes      `json:"sizes"`
	Scaling     *plan.InputScaling `json:"input_scaling,omitempty"`
}

func runInspect(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("inspect takes one .spec or .hec file")
	}
	path := c.Args().First()
	data, err := readFile(path, runtime.MaxCircuitBytes)
	if err != nil {
		return err
	}
	var spec *plan.Spec
	var circuit *runtime.Circuit
	kind := runtime.KindSpec
	if k, _ := runtime.PeekKind(data); k == runtime.KindCircuit {
		kind = k
		if circuit, err = runtime.DecodeCircuit(data); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		spec = circuit.Spec
	} else if spec, err = runtime.DecodeSpec(data); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var sizes runtime.Sizes
	if circuit != nil {
		sizes, err = runtime.PredictCircuitSizes(circuit)
	} else {
		sizes, err = runtime.PredictSizes(spec)
	}
	if err != nil {
		return err
	}
	p := spec.Params
	in := inspection{
		File: path, Kind: kind.String(), Model: spec.Model, Fingerprint: spec.ShortFingerprint(),
		LogN: p.LogN, LogQ: p.LogQ, LogP: p.LogP, LogQP: p.LogQP(), LogScale: p.LogScale,
		Slots: 1 << p.LogSlots(), LayoutSlots: 1 << spec.LogSlots, Security: p.Security,
		Depth: p.MaxLevel(), Rotations: len(spec.Rotations), Relin: spec.Relin, Ops: spec.Ops,
		Input: spec.Input, InputSlots: len(spec.InputSlots), InputCts: spec.InputCiphertexts(), Output: spec.Output, Sizes: sizes,
		Scaling: spec.InputScaling,
	}
	if c.Bool("json") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(in)
	}
	fmt.Printf("%s: %s of model %q, compile %s\n", path, in.Kind, in.Model, in.Fingerprint)
	fmt.Print(summary(nil, spec, sizes))
	fmt.Printf("  parameters  logN=%d logQ=%v logP=%v logQP=%d scale=2^%d, %d-bit security\n", in.LogN, in.LogQ, in.LogP, in.LogQP, in.LogScale, in.Security)
	if spec.Batched() {
		fmt.Printf("  circuit     depth %d, batch layout: %d inputs per batch, one in each slot; %s\n", in.Depth, spec.Batch, opsText(in.Ops))
	} else {
		fmt.Printf("  circuit     depth %d, %d of %d slots used; %s\n", in.Depth, in.LayoutSlots, in.Slots, opsText(in.Ops))
	}
	fmt.Printf("  input       %q %v", in.Input.Name, in.Input.Shape)
	if spec.Batched() {
		fmt.Printf(" (hecc encrypt puts a batch in %d ciphertexts, one per value)", in.InputCts)
	} else if in.InputCts > 1 {
		fmt.Printf(" (hecc encrypt lays it out in %d ciphertexts of %d slots, with copies for the first convolution)", in.InputCts, in.InputSlots/in.InputCts)
	} else if in.InputSlots > 0 {
		fmt.Printf(" (hecc encrypt lays it out in %d slots, with copies for the first convolution)", in.InputSlots)
	}
	if sc := spec.InputScaling; sc != nil {
		fmt.Printf("; hecc encrypt and hecc query apply %s to raw values", scalingText(sc))
	}
	fmt.Printf("; output %q %v", in.Output.Name, in.Output.Shape)
	if in.Output.Post != "" {
		fmt.Printf(" then %s after decryption", in.Output.Post)
	}
	fmt.Printf("\n  keys        %d Galois keys, relinearization key: %v, %s of evaluation keys in the server's memory, a %s file\n", in.Rotations, in.Relin, mib(sizes.EvalKeysMemory), mib(sizes.EvalKeys))
	fmt.Printf("  ciphertexts input %s under the secret key, %s under the public key; result %s\n", mib(sizes.InputCtSeeded), mib(sizes.InputCt), mib(sizes.OutputCt))
	if c.Bool("ir") && circuit != nil {
		fmt.Print(circuit.Graph)
	}
	return nil
}

func mib(n int) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

// opsText lists the circuit's operations by kind, most frequent first:
// "3 affine maps, 2 ciphertext products, ...".
func opsText(ops map[string]int) string {
	names := map[string][2]string{
		"affine": {"affine map", "affine maps"}, "mul": {"ciphertext product", "ciphertext products"},
		"poly": {"polynomial", "polynomials"}, "add": {"ciphertext sum", "ciphertext sums"},
		"input": {"input", "inputs"}, "output": {"output", "outputs"},
	}
	kinds := make([]string, 0, len(ops))
	for k := range ops {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if ops[kinds[i]] != ops[kinds[j]] {
			return ops[kinds[i]] > ops[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		name, ok := names[k]
		if !ok {
			name = [2]string{k + " node", k + " nodes"}
		}
		plural := 1
		if ops[k] == 1 {
			plural = 0
		}
		parts[i] = fmt.Sprintf("%d %s", ops[k], name[plural])
	}
	return strings.Join(parts, ", ")
}
