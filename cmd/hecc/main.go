// Command hecc compiles ONNX models into CKKS circuits and runs them on
// encrypted inputs. It only wires the packages together: flags, files,
// progress and exit codes.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/hecc-dev/hecc/plan"
	"github.com/urfave/cli/v2"
)

func main() {
	app := newApp()
	if err := app.Run(interspersed(app, os.Args)); err != nil {
		fmt.Fprintf(os.Stderr, "hecc: %v\n", err)
		os.Exit(exitCode(err))
	}
}

func init() {
	cli.VersionPrinter = func(c *cli.Context) {
		fmt.Fprintf(c.App.Writer, "hecc %s, file format %d\n", c.App.Version, plan.FormatVersion)
	}
}

// version is hecc's module version, or "devel" when built from a source
// tree rather than installed at a version.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func newApp() *cli.App {
	app := &cli.App{
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
  provider  hecc run model.hec --keys keys/eval.keys --public-key keys/public.key x.ct -o result.ct
  user      hecc decrypt --spec model.spec --key keys/secret.key result.ct -o y.npy

model.hec (weights) stays with the provider; model.spec, eval.keys,
public.key and the ciphertexts are what the two exchange; secret.key never
leaves the user. The provider floods every result under public.key so that
the user learns nothing of the weights from its noise (circuit privacy,
hecc compile --help).

` + exitStatusHelp(),
		Version: version(),
		Commands: []*cli.Command{
			compileCommand(), inspectCommand(), simulateCommand(),
			keygenCommand(), encryptCommand(), runCommand(), decryptCommand(), benchCommand(),
			serveCommand(), queryCommand(), loadtestCommand(),
		},
		HideHelpCommand: true,
		OnUsageError:    onUsageError,
		Action: func(c *cli.Context) error {
			// hecc help [COMMAND], as go help: urfave's hidden help command
			// would exit with status 3 for an unknown command.
			args := c.Args()
			switch {
			case args.First() == "help" && args.Len() == 1:
				return cli.ShowAppHelp(c)
			case args.First() == "help" && args.Len() == 2 && c.App.Command(args.Get(1)) != nil:
				return cli.ShowCommandHelp(c, args.Get(1))
			case args.First() == "help":
				return usageError("no command %q (see hecc --help)", strings.Join(args.Tail(), " "))
			case args.Present():
				return usageError("no command %q (see hecc --help)", args.First())
			}
			cli.HelpPrinter(c.App.ErrWriter, cli.AppHelpTemplate, c.App)
			return usageError("no command given")
		},
		ExitErrHandler: func(*cli.Context, error) {},
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = onUsageError
	}
	return app
}

// onUsageError turns a flag that cannot be parsed into a usage error.
func onUsageError(c *cli.Context, err error, _ bool) error {
	if c.Command != nil && c.Command.Name != "" {
		return usageError("%s: %v (see hecc %s --help)", c.Command.Name, err, c.Command.Name)
	}
	return usageError("%v (see hecc --help)", err)
}

// needFlags refuses a call that lacks one of a command's required flags:
// urfave's own check would print the whole help and exit with status 1.
func needFlags(c *cli.Context, names ...string) error {
	for _, name := range names {
		if !c.IsSet(name) {
			return usageError("%s needs --%s (see hecc %s --help)", c.Command.Name, name, c.Command.Name)
		}
	}
	return nil
}

// usageError marks a mistake in how hecc was called.
func usageError(format string, args ...any) error {
	return cli.Exit(fmt.Sprintf(format, args...), exitUsage)
}
