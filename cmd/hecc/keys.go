package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
	"github.com/hecc-dev/hecc/serve"
	"github.com/urfave/cli/v2"
)

func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:  "keygen",
		Usage: "make a key set for a compiled model (client side)",
		Description: `Writes into the output directory:

  secret.key  decrypts results: keep it, never send it (mode 0600)
  public.key  encrypts inputs: can be shared
  eval.keys   relinearization and rotation keys for exactly this circuit:
              send it to the server with your encrypted input. It holds
              half of each key, packed, and a seed from which the server
              regenerates the other (uniformly random) half: about a
              quarter of what the keys take in the server's memory

An existing secret.key is not overwritten without --force: data encrypted
under it could not be decrypted any more. A spec whose evaluation keys would
exceed --max-key-gib or the free disk is refused before any key is made; an
interrupted keygen removes its unfinished file.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "spec", Usage: "the model's .spec file (required)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "keys", Usage: "directory to write the keys into"},
			&cli.BoolFlag{Name: "force", Usage: "overwrite an existing key set"},
			&cli.Float64Flag{Name: "max-key-gib", Value: 4, Usage: "refuse a spec whose eval.keys would be larger than this many GiB (or than the free disk)"},
		},
		Action: runKeygen,
	}
}

func runKeygen(c *cli.Context) error {
	if err := needFlags(c, "spec"); err != nil {
		return err
	}
	spec, err := loadSpec(c.String("spec"))
	if err != nil {
		return err
	}
	dir := c.String("output")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := checkKeyBudget(spec, dir, c.Float64("max-key-gib")); err != nil {
		return err
	}
	skPath := filepath.Join(dir, "secret.key")
	if _, err := os.Stat(skPath); err == nil && !c.Bool("force") {
		return fmt.Errorf("%s exists: use --force to replace the key set (ciphertexts made with it will no longer decrypt)", skPath)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	start := time.Now()
	secret, public, err := runtime.GenerateKeyPair(spec)
	if err != nil {
		return err
	}
	sk, err := runtime.EncodeSecretKey(spec, secret)
	if err != nil {
		return err
	}
	pk, err := runtime.EncodePublicKey(spec, public)
	if err != nil {
		return err
	}
	// Evaluation keys go to the file as they are made: they can reach
	// gigabytes, and only one is in memory at a time. They come first, so
	// that a keygen interrupted while making them leaves no file at all.
	ekPath := filepath.Join(dir, "eval.keys")
	if err := serve.WriteAtomic(ekPath, 0o644, func(w io.Writer) error {
		return runtime.WriteEvalKeys(w, spec, secret, progress("generating rotation keys"))
	}); err != nil {
		return err
	}
	if err := writeFile(skPath, sk, 0o600); err != nil {
		os.Remove(ekPath)
		return err
	}
	if err := writeFile(filepath.Join(dir, "public.key"), pk, 0o644); err != nil {
		os.Remove(ekPath)
		os.Remove(skPath)
		return err
	}
	size := int64(0)
	if st, err := os.Stat(ekPath); err == nil {
		size = st.Size()
	}
	fmt.Printf("keygen %.2f s: %s (keep private), public.key (%s), eval.keys (%s, %d rotation keys) for compile %s\n",
		time.Since(start).Seconds(), skPath, mib(len(pk)), mib(int(size)), len(spec.Rotations), spec.ShortFingerprint())
	return nil
}

func loadSpec(path string) (*plan.Spec, error) {
	data, err := readFile(path, runtime.MaxSpecBytes)
	if err != nil {
		return nil, err
	}
	spec, err := runtime.DecodeSpec(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return spec, nil
}

// ErrKeyBudget reports a spec whose evaluation keys exceed what keygen
// was allowed to write.
var ErrKeyBudget = errors.New("evaluation keys too large")

// checkKeyBudget refuses a spec whose evaluation key file would exceed
// maxGiB or the free space in dir: a hostile spec could otherwise fill
// the disk.
func checkKeyBudget(spec *plan.Spec, dir string, maxGiB float64) error {
	sizes, err := runtime.PredictSizes(spec)
	if err != nil {
		return err
	}
	need := int64(sizes.EvalKeys)
	if limit := int64(maxGiB * (1 << 30)); need > limit {
		return fmt.Errorf("%w: this spec's eval.keys would take %s, more than --max-key-gib %g", ErrKeyBudget, mib(int(need)), maxGiB)
	}
	if free, ok := freeBytes(dir); ok && need > free {
		return fmt.Errorf("%w: this spec's eval.keys would take %s, %s has %s free", ErrKeyBudget, mib(int(need)), dir, mib(int(free)))
	}
	return nil
}
