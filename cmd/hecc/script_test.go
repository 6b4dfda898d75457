package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
	"github.com/hecc-dev/hecc/compiler/tensorio"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain registers hecc, and the helpers that make the scripts' small
// models and files, as commands the scripts run.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"hecc":       main,
		"mkmodel":    helper(mkmodel),
		"mktensor":   helper(mktensor),
		"insecurify": helper(insecurify),
		"halve":      helper(halve),
		"flip":       helper(flip),
	})
}

// TestScript runs testdata/script/*.txtar: the CLI as a user sees it,
// stdout, stderr and exit status.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("FORMAT", strconv.Itoa(int(plan.FormatVersion)))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"status":   cmdStatus,
			"freeport": cmdFreePort,
			"waithttp": cmdWaitHTTP,
		},
	})
}

// cmdStatus runs a command and checks its exit status:
// status N command args...
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: status N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("status %q: not a number", args[0])
	}
	got := 0
	var exit *exec.ExitError
	if err := ts.Exec(args[1], args[2:]...); errors.As(err, &exit) {
		got = exit.ExitCode()
	} else if err != nil {
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// cmdFreePort sets an environment variable to a free TCP port of
// 127.0.0.1, for a server the script starts: freeport VAR
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport VAR")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ts.Fatalf("freeport: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ts.Setenv(args[0], strconv.Itoa(port))
}

// cmdWaitHTTP waits until GET URL answers 200 (a server the script
// started in the background is up): waithttp URL
func cmdWaitHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waithttp URL")
	}
	for range 600 {
		resp, err := http.Get(args[0])
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("waithttp: %s did not answer 200", args[0])
}

// helper makes a command of a function of its arguments.
func helper(run func(args []string) error) func() {
	return func() {
		if err := run(os.Args[1:]); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[0], err)
			os.Exit(1)
		}
	}
}

// deepSquarings is more levels than any secure ring holds.
const deepSquarings = 70

// mkmodel NAME FILE writes a small ONNX model:
//
//	tiny     a CryptoNets-like network on an 8×8 input, 3 classes
//	layernorm  a LayerNormalization, which hecc refuses
//	sqrt     a Sqrt of the encrypted input, which hecc folds on constants only
//	relu     a ReLU between two matrix products, which hecc approximates
//	deep     deepSquarings squarings in a row: no secure parameters fit
func mkmodel(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: mkmodel tiny|tiny2|layernorm|sqrt|relu|deep FILE")
	}
	var model []byte
	switch args[0] {
	case "tiny":
		model = onnxtest.TinyCryptoNets(1)
	case "tiny2":
		model = onnxtest.TinyCryptoNets(2)
	case "layernorm":
		model = onnxtest.New(17).Input("x", 1, 4).Init("s", []int64{4}, []float32{1, 1, 1, 1}).
			Node("LayerNormalization", []string{"x", "s"}, []string{"y"}).Output("y").Bytes()
	case "sqrt":
		model = onnxtest.New(13).Input("x", 1, 4).Node("Sqrt", []string{"x"}, []string{"y"}).Output("y").Bytes()
	case "relu":
		model = onnxtest.New(13).Input("x", 1, 4).
			Init("w1", []int64{4, 3}, onnxtest.Weights(1, 12, 1)).Init("w2", []int64{3, 2}, onnxtest.Weights(2, 6, 1)).
			Node("MatMul", []string{"x", "w1"}, []string{"h"}).Node("Relu", []string{"h"}, []string{"r"}).
			Node("MatMul", []string{"r", "w2"}, []string{"y"}).Output("y").Bytes()
	case "deep":
		b := onnxtest.New(13).Input("x0", 1, 4)
		for i := range deepSquarings {
			x := fmt.Sprintf("x%d", i)
			b.Node("Mul", []string{x, x}, []string{fmt.Sprintf("x%d", i+1)})
		}
		model = b.Output(fmt.Sprintf("x%d", deepSquarings)).Bytes()
	default:
		return fmt.Errorf("no model %q", args[0])
	}
	return os.WriteFile(args[1], model, 0o644)
}

// mktensor FILE D1,D2,... SEED writes a float64 .npy of that shape, values
// in [-1, 1) drawn from SEED.
func mktensor(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: mktensor FILE D1,D2,... SEED")
	}
	var shape []int
	for _, d := range strings.Split(args[1], ",") {
		n, err := strconv.Atoi(d)
		if err != nil {
			return err
		}
		shape = append(shape, n)
	}
	seed, err := strconv.ParseUint(args[2], 10, 32)
	if err != nil {
		return err
	}
	x := &ir.Tensor{Shape: shape, Data: make([]float64, ir.NumElements(shape))}
	for i, v := range onnxtest.Weights(uint32(seed), len(x.Data), 1) {
		x.Data[i] = float64(v)
	}
	var b bytes.Buffer
	if err := tensorio.WriteNPY(&b, x, "<f8"); err != nil {
		return err
	}
	return os.WriteFile(args[0], b.Bytes(), 0o644)
}

// insecurify IN.spec OUT.spec writes IN's spec with one more prime than
// the security table allows at its ring degree, sealed as hecc seals specs:
// what a tampered spec looks like.
func insecurify(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: insecurify IN.spec OUT.spec")
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	spec, err := runtime.DecodeSpec(data)
	if err != nil {
		return err
	}
	bound, _ := params.MaxLogQP(spec.Params.Security, spec.Params.LogN)
	for spec.Params.LogQP() <= bound {
		spec.Params.LogQ = append(spec.Params.LogQ, 60)
	}
	out, err := runtime.EncodeSpec(spec)
	if err != nil {
		return err
	}
	return os.WriteFile(args[1], out, 0o644)
}

// halve IN OUT writes the first half of IN: a file cut short.
func halve(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: halve IN OUT")
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	return os.WriteFile(args[1], data[:len(data)/2], 0o644)
}

// flip IN OUT AT writes IN with the lowest bit of byte AT flipped: AT
// counts from the end if negative, from the end of the hecc header if
// written +N.
func flip(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: flip IN OUT AT")
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	at, err := strconv.Atoi(args[2])
	if err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(args[2], "+"):
		at += runtime.HeaderSize
	case at < 0:
		at += len(data)
	}
	if at < 0 || at >= len(data) {
		return fmt.Errorf("%s has no byte %s", args[0], args[2])
	}
	data[at] ^= 1
	return os.WriteFile(args[1], data, 0o644)
}
