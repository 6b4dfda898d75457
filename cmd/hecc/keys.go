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
under it could not be decrypted any more.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "spec", Usage: "the model's .spec file (required)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "keys", Usage: "directory to write the keys into"},
			&cli.BoolFlag{Name: "force", Usage: "overwrite an existing key set"},
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
	if err := writeFile(skPath, sk, 0o600); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "public.key"), pk, 0o644); err != nil {
		return err
	}
	// Evaluation keys go to the file as they are made: they can reach
	// gigabytes, and only one is in memory at a time.
	ekPath := filepath.Join(dir, "eval.keys")
	if err := writeFileStream(ekPath, 0o644, func(w io.Writer) error {
		return runtime.WriteEvalKeys(w, spec, secret, progress("generating rotation keys"))
	}); err != nil {
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
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	spec, err := runtime.DecodeSpec(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return spec, nil
}
