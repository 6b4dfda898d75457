package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/hecc-dev/hecc/compiler/tensorio"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/runtime"
	"github.com/hecc-dev/hecc/serve"
	"github.com/urfave/cli/v2"
)

func encryptCommand() *cli.Command {
	return &cli.Command{
		Name:      "encrypt",
		Usage:     "encrypt an input tensor for a compiled model (client side)",
		ArgsUsage: "INPUT.npy|INPUT.pb",
		Description: `Reads a float32/float64 .npy (C order) or an ONNX TensorProto .pb whose shape
is the model input's (a missing leading batch axis of 1 is accepted),
applies the input scaling the compile recorded, if any (see hecc inspect),
and encrypts it under the secret key or the public key. Under the secret key the
file is about half the size: each ciphertext's uniformly random half comes
from a seed the file carries. When the model starts with a convolution the
input may take several ciphertexts, one per kernel position (see hecc
inspect). For a circuit compiled with --batch, the input (.npy, or an
.npz's array x) holds up to the spec's batch of inputs along a leading
axis, one per slot.

The spec records the range of input values the compile calibrated the
model's approximations on (see hecc inspect); an input outside it may get a
result far off, which hecc encrypt warns about, and --strict refuses.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "spec", Usage: "the model's .spec file (required)"},
			&cli.StringFlag{Name: "key", Usage: "secret.key or public.key (required)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "ciphertext to write (default: INPUT.ct)"},
			&cli.BoolFlag{Name: "strict", Usage: "refuse an input outside the calibrated range instead of warning"},
		},
		Action: runEncrypt,
	}
}

func runEncrypt(c *cli.Context) error {
	if err := needFlags(c, "spec", "key"); err != nil {
		return err
	}
	if c.NArg() != 1 {
		return usageError("encrypt takes one input tensor file")
	}
	spec, err := loadSpec(c.String("spec"))
	if err != nil {
		return err
	}
	keyPath := c.String("key")
	data, err := readKeyFile(keyPath, spec)
	if err != nil {
		return err
	}
	key, err := runtime.DecodeEncryptionKey(spec, data)
	if err != nil {
		return fmt.Errorf("%s: %w", keyPath, err)
	}
	in := c.Args().First()
	read := tensorio.ReadFile
	if spec.Batched() {
		read = readSamples // a batch may come as an .npz's array x
	}
	t, err := read(in)
	if err != nil {
		return err
	}
	t.Data = spec.ScaleInput(t.Data)
	if err := spec.CheckInputRange(t.Data); err != nil {
		if c.Bool("strict") {
			return fmt.Errorf("%s: %w", in, err)
		}
		fmt.Fprintf(os.Stderr, "hecc encrypt: warning: %s: %v (--strict refuses it)\n", in, err)
	}
	out := c.String("output")
	if out == "" {
		out = replaceExt(in, ".ct")
	}
	start := time.Now()
	var size int64
	// Streamed: a batch's ciphertexts are written as they are encrypted.
	err = serve.WriteAtomic(out, 0o644, func(w io.Writer) error {
		var err error
		size, err = runtime.WriteEncrypted(w, spec, key, t)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	parts := ""
	if n := spec.InputCiphertexts(); spec.Batched() {
		parts = fmt.Sprintf(", %d inputs in %d ciphertexts", t.Shape[0], n)
	} else if n > 1 {
		parts = fmt.Sprintf(", %d ciphertexts", n)
	}
	fmt.Printf("encrypted %s %v in %.3f s: %s (%s%s)\n", in, t.Shape, time.Since(start).Seconds(), out, mib(int(size)), parts)
	return nil
}

func decryptCommand() *cli.Command {
	return &cli.Command{
		Name:      "decrypt",
		Usage:     "decrypt a result and print the top classes (client side)",
		ArgsUsage: "RESULT.ct",
		Description: `Decrypts the server's result, applies the model's trailing Softmax,
LogSoftmax or ArgMax if it had one, writes the output tensor (model output
shape, float32 .npy) and prints the top classes. The result of a batch
circuit holds one row per slot: --images keeps the first N (the inputs
encrypted), and the .npy has one row per input.

Every output value is rounded to the precision the compile guarantees (a
power of two at least twice the CKKS noise's bound, see hecc inspect), so
that it shows no bits of the noise, which is a function of the secret key.
--raw prints the unrounded values: whoever sees enough raw decryptions can
recover the secret key, so never share them.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "spec", Usage: "the model's .spec file (required)"},
			&cli.StringFlag{Name: "key", Usage: "secret.key (required)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the output tensor as float32 .npy"},
			&cli.IntFlag{Name: "top", Value: 3, Usage: "how many classes to print"},
			&cli.BoolFlag{Name: "json", Usage: `print {"output": [...], "shape": [...], "top": [...]}`},
			&cli.IntFlag{Name: "images", DefaultText: "the whole batch", Usage: "batch circuits: how many inputs the batch holds (the rest is padding)"},
			&cli.BoolFlag{Name: "raw", Usage: "print the values unrounded (they leak bits of the secret key: never share them)"},
		},
		Action: runDecrypt,
	}
}

func runDecrypt(c *cli.Context) error {
	if err := needFlags(c, "spec", "key"); err != nil {
		return err
	}
	if c.NArg() != 1 {
		return usageError("decrypt takes one result ciphertext")
	}
	spec, err := loadSpec(c.String("spec"))
	if err != nil {
		return err
	}
	keyPath := c.String("key")
	kb, err := readKeyFile(keyPath, spec)
	if err != nil {
		return err
	}
	sk, err := runtime.DecodeSecretKey(spec, kb)
	if err != nil {
		return fmt.Errorf("%s: %w", keyPath, err)
	}
	in := c.Args().First()
	ct, err := runtime.ReadCiphertextFile(in, spec, runtime.KindOutputCt, sk.KeySet())
	if err != nil {
		return err
	}
	decrypt := runtime.Decrypt
	switch {
	case c.Bool("raw"):
		decrypt = runtime.DecryptRaw
		fmt.Fprintln(os.Stderr, "hecc decrypt: warning: raw decryptions leak bits of the secret key: never share them")
	case !spec.OutputRounded:
		fmt.Fprintln(os.Stderr, "hecc decrypt: warning: this circuit's noise bound is too loose to round its outputs to (see hecc inspect): they leak bits of the secret key, never share them")
	}
	raw, err := decrypt(spec, sk, ct)
	if err != nil {
		return err
	}
	if spec.Batched() {
		return decryptBatch(c, spec.Output.Post, raw)
	} else if c.IsSet("images") {
		return usageError("--images is for batch circuits (hecc compile --batch)")
	}
	out, err := ir.ApplyPost(spec.Output.Post, raw)
	if err != nil {
		return err
	}
	top := topClasses(raw, c.Int("top"))
	if path := c.String("output"); path != "" {
		var b bytes.Buffer
		if err := tensorio.WriteNPY(&b, out, "<f4"); err != nil {
			return err
		}
		// A decrypted result is the user's private data.
		if err := writeFile(path, b.Bytes(), 0o600); err != nil {
			return err
		}
	}
	if c.Bool("json") {
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"output": out.Data, "shape": out.Shape, "top": top})
	}
	shown := raw // scores; an argmax output holds the class itself
	if spec.Output.Post == ir.PostSoftmax || spec.Output.Post == ir.PostLogSoftmax {
		shown = out
	}
	fmt.Printf("top classes of %s:", in)
	for _, k := range top {
		fmt.Printf("  %d (%.4g)", k, shown.Data[k])
	}
	fmt.Println()
	return nil
}

// topClasses returns the indices of the k largest values of the last axis
// of the first row (a classifier's logits), largest first.
func topClasses(t *ir.Tensor, k int) []int {
	n := len(t.Data)
	if len(t.Shape) > 0 {
		n = t.Shape[len(t.Shape)-1]
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return t.Data[idx[a]] > t.Data[idx[b]] })
	return idx[:min(k, n)]
}

// decryptBatch keeps the first --images rows of a batch result, writes them
// and prints each row's top class.
func decryptBatch(c *cli.Context, post string, raw *ir.Tensor) error {
	images := raw.Shape[0]
	if c.IsSet("images") {
		if n := c.Int("images"); n < 1 || n > images {
			return usageError("--images %d: the batch holds 1 to %d inputs", n, images)
		}
		images = c.Int("images")
	}
	row := len(raw.Data) / raw.Shape[0]
	raw = &ir.Tensor{Shape: append([]int{images}, raw.Shape[1:]...), Data: raw.Data[:images*row]}
	out, err := ir.ApplyPost(post, raw)
	if err != nil {
		return err
	}
	return reportBatch(c, raw, out, c.String("output"))
}

// reportBatch writes a batch's outputs, one row per input, to path (if
// set) and prints each row's top class, or --json.
func reportBatch(c *cli.Context, raw, out *ir.Tensor, path string) error {
	images := raw.Shape[0]
	row := len(raw.Data) / images
	if path != "" {
		var b bytes.Buffer
		if err := tensorio.WriteNPY(&b, out, "<f4"); err != nil {
			return err
		}
		// Decrypted results are the user's private data.
		if err := writeFile(path, b.Bytes(), 0o600); err != nil {
			return err
		}
	}
	top := make([]int, images)
	for i := range top {
		top[i] = topClasses(&ir.Tensor{Shape: []int{row}, Data: raw.Data[i*row : (i+1)*row]}, 1)[0]
	}
	if c.Bool("json") {
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"output": out.Data, "shape": out.Shape, "top": top})
	}
	const shown = 20
	fmt.Printf("top class of each of %d inputs:", images)
	for _, k := range top[:min(images, shown)] {
		fmt.Printf(" %d", k)
	}
	if images > shown {
		fmt.Printf(" … (%d more)", images-shown)
	}
	fmt.Println()
	return nil
}
