package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"time"

	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
	"github.com/urfave/cli/v2"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "evaluate a compiled model on an encrypted input (server side)",
		ArgsUsage: "[MODEL.hec] INPUT.ct",
		Description: `Loads the circuit and the client's evaluation keys, evaluates the circuit on
the encrypted input and writes the encrypted result. The server never holds
a key that decrypts anything. A circuit compiled with circuit privacy
(hecc compile's default) floods the result under the client's public key
before it is written: give it with --public-key.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "circuit", Aliases: []string{"c"}, Usage: "the .hec file (or give it as the first argument)"},
			&cli.StringFlag{Name: "keys", Usage: "the client's eval.keys (required)"},
			&cli.StringFlag{Name: "public-key", Usage: "the client's public.key, which a circuit compiled with circuit privacy (hecc compile's default) floods its result under"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "result ciphertext to write (default: INPUT.result.ct)"},
			&cli.StringFlag{Name: "stats-json", Usage: "write load/evaluation times and operation counts as JSON to `FILE`"},
			&cli.BoolFlag{Name: "profile", Usage: "print the time spent in each IR node"},
			maxWeightsFlag,
		},
		Action: runRun,
	}
}

// runStats is what --stats-json writes.
type runStats struct {
	LoadSeconds float64 `json:"load_seconds"`
	*runtime.Stats
}

func runRun(c *cli.Context) error {
	if err := needFlags(c, "keys"); err != nil {
		return err
	}
	args := c.Args().Slice()
	circuitPath := c.String("circuit")
	if circuitPath == "" && len(args) == 2 {
		circuitPath, args = args[0], args[1:]
	}
	if circuitPath == "" || len(args) != 1 {
		return usageError("usage: hecc run MODEL.hec --keys eval.keys [--public-key public.key] INPUT.ct -o result.ct")
	}
	start := time.Now()
	circuit, err := runtime.ReadCircuitFile(circuitPath)
	if err != nil {
		return err
	}
	keysPath := c.String("keys")
	ek, err := readEvalKeys(keysPath, circuit.Spec)
	if err != nil {
		return err
	}
	if path := c.String("public-key"); path != "" {
		if err := addPublicKey(ek, path, circuit.Spec); err != nil {
			return err
		}
	}
	in := args[0]
	ct, err := runtime.ReadCiphertextFile(in, circuit.Spec, runtime.KindInputCt, ek.KeySet())
	if err != nil {
		return err
	}
	budget, err := weightsBudget(c)
	if err != nil {
		return err
	}
	prepared, err := runtime.Prepare(circuit, budget...)
	if err != nil {
		return err
	}
	srv, err := prepared.WithKeys(ek)
	if err != nil {
		return err
	}
	load := time.Since(start).Seconds()
	out, st, err := srv.RunConsuming(c.Context, ct)
	if err != nil {
		return err
	}
	b, err := runtime.EncodeCiphertext(circuit.Spec, out)
	if err != nil {
		return err
	}
	outPath := c.String("output")
	if outPath == "" {
		outPath = replaceExt(in, ".result.ct")
	}
	if err := writeFile(outPath, b, 0o600); err != nil {
		return err
	}
	fmt.Printf("evaluated in %.3f s (loading circuit and keys %.3f s): %s (%s); %d key switches, %d rescales\n",
		st.EvalSeconds, load, outPath, mib(len(b)), st.KeySwitches, st.Rescales)
	if m := prepared.Memory(); m.OnDemand > 0 {
		fmt.Printf("weights: %s kept encoded within --max-weights-gib, the rest encoded during the evaluation (their values %s)\n", memory(int(m.Encoded)), memory(int(m.OnDemand)))
	}
	if c.Bool("profile") {
		printProfile(st)
	}
	if f := c.String("stats-json"); f != "" {
		j, err := json.MarshalIndent(runStats{LoadSeconds: load, Stats: st}, "", "  ")
		if err != nil {
			return err
		}
		if err := writeFile(f, append(j, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// maxWeightsFlag bounds the encoded weights a server keeps (run, serve).
var maxWeightsFlag = &cli.Float64Flag{Name: "max-weights-gib", DefaultText: "keep them all",
	Usage: "keep at most this much of a circuit's encoded weights in memory and encode the rest during each evaluation, which costs it their encoding time (the compile summary's server memory line predicts it)"}

// weightsBudget is --max-weights-gib as a runtime option, none when unset.
func weightsBudget(c *cli.Context) ([]runtime.PrepareOption, error) {
	if !c.IsSet("max-weights-gib") {
		return nil, nil
	}
	gib := c.Float64("max-weights-gib")
	if gib < 0 || math.IsNaN(gib) {
		return nil, usageError("--max-weights-gib %g: expected a size of at least 0", gib)
	}
	return []runtime.PrepareOption{runtime.MaxWeightBytes(int64(gib * (1 << 30)))}, nil
}

// readEvalKeys streams the evaluation keys from a file (they can reach
// gigabytes), refusing a secret key outright.
func readEvalKeys(path string, spec *plan.Spec) (*runtime.EvalKeys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	if head, _ := br.Peek(64); len(head) > 0 {
		if k, _ := runtime.PeekKind(head); k == runtime.KindSecretKey {
			return nil, fmt.Errorf("%w: %s is a secret key: the server takes eval.keys only, the secret key must stay with the client", runtime.ErrFormat, path)
		}
	}
	ek, err := runtime.ReadEvalKeys(br, spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ek, nil
}

// addPublicKey gives the evaluation keys the client's public key, which
// must be of their key set.
func addPublicKey(ek *runtime.EvalKeys, path string, spec *plan.Spec) error {
	data, err := readKeyFile(path, spec)
	if err != nil {
		return err
	}
	pk, err := runtime.DecodePublicKey(spec, data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := ek.WithPublicKey(pk); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func printProfile(st *runtime.Stats) {
	nodes := append([]runtime.NodeStat(nil), st.Nodes...)
	sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].Seconds > nodes[j].Seconds })
	fmt.Fprintf(os.Stdout, "%10s  %-6s %5s  %s\n", "seconds", "op", "level", "node")
	for _, n := range nodes {
		fmt.Fprintf(os.Stdout, "%10.4f  %-6s %5d  %s\n", n.Seconds, n.Op, n.Level, n.Node)
	}
	fmt.Printf("key switches %d, rescales %d, plaintext multiplications %d, ciphertext multiplications %d\n",
		st.KeySwitches, st.Rescales, st.PtMuls, st.CtMuls)
}
