package main

import (
	"errors"
	"fmt"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/plan"
	"github.com/urfave/cli/v2"
)

// circuitPrivacyFlags are the flags of the commands that compile: the
// server floods every result at plan.DefaultCircuitPrivacyBits unless
// told otherwise, so that a client learns nothing of the weights from a
// result's noise.
func circuitPrivacyFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "circuit-privacy-bits", Value: plan.DefaultCircuitPrivacyBits,
			Usage: fmt.Sprintf("`λ`: the server floods each result with 2^λ times its own noise's bound, so that the client learns nothing of the weights from the result's noise; the parameters pay for the precision (1 to %d)", plan.MaxCircuitPrivacyBits)},
		&cli.BoolFlag{Name: "no-circuit-privacy",
			Usage: "do not flood results: only for a client trusted with the weights anyway, who can otherwise read bits of them in each result's noise"},
	}
}

// circuitPrivacyBits reads the flags of circuitPrivacyFlags: λ, or 0 with
// --no-circuit-privacy.
func circuitPrivacyBits(c *cli.Context) (int, error) {
	if c.Bool("no-circuit-privacy") {
		if c.IsSet("circuit-privacy-bits") {
			return 0, usageError("--no-circuit-privacy and --circuit-privacy-bits: give one")
		}
		return 0, nil
	}
	bits := c.Int("circuit-privacy-bits")
	if bits < 1 || bits > plan.MaxCircuitPrivacyBits {
		return 0, usageError("--circuit-privacy-bits %d: expected 1 to %d (--no-circuit-privacy turns flooding off)", bits, plan.MaxCircuitPrivacyBits)
	}
	return bits, nil
}

// privacyAdvice adds to a refusal of the circuit privacy asked for (and
// only to that) what the user can do about it: ask for less, or, for a
// client trusted with the weights, for none.
func privacyAdvice(c *cli.Context, err error) error {
	if !errors.Is(err, compiler.ErrCircuitPrivacy) {
		return err
	}
	asked := "asked for with --circuit-privacy-bits"
	if !c.IsSet("circuit-privacy-bits") {
		asked = fmt.Sprintf("on by default at %d bits", plan.DefaultCircuitPrivacyBits)
	}
	return fmt.Errorf("%w; circuit privacy is %s: give --circuit-privacy-bits N for a λ the model affords, or --no-circuit-privacy for a client trusted with the weights anyway", err, asked)
}
