// Command hecc compiles ONNX models into CKKS circuits and runs them on
// encrypted inputs. It only wires the packages together: flags, files,
// progress and exit codes.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	app := newApp()
	if err := app.Run(interspersed(app, os.Args)); err != nil {
		fmt.Fprintf(os.Stderr, "hecc: %v\n", err)
		var code cli.ExitCoder
		if errors.As(err, &code) {
			os.Exit(code.ExitCode())
		}
		os.Exit(1)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:  "hecc",
		Usage: "compile ONNX models to homomorphic-encryption circuits and run them on encrypted data",
		Description: `hecc turns a trained ONNX model into a CKKS circuit. The model's owner runs it
on a user's encrypted input without seeing the input or the result; the user
never sees the weights. hecc chooses every cryptographic parameter (128-bit
security or more).

The two-party flow:

  provider  hecc compile model.onnx -o model.hec        (also writes model.spec)
  user      hecc keygen --spec model.spec -o keys/
  user      hecc encrypt --spec model.spec --key keys/secret.key x.npy -o x.ct
  provider  hecc run model.hec --keys keys/eval.keys x.ct -o result.ct
  user      hecc decrypt --spec model.spec --key keys/secret.key result.ct -o y.npy

model.hec (weights) stays with the provider; model.spec, eval.keys and the
ciphertexts are what the two exchange; secret.key never leaves the user.`,
		Commands: []*cli.Command{
			compileCommand(), inspectCommand(), simulateCommand(),
			keygenCommand(), encryptCommand(), runCommand(), decryptCommand(), benchCommand(),
			serveCommand(), queryCommand(), loadtestCommand(),
		},
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {},
	}
}

// usageError marks a mistake in how hecc was called (exit status 2).
func usageError(format string, args ...any) error {
	return cli.Exit(fmt.Sprintf(format, args...), 2)
}
