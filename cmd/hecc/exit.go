package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
	"github.com/hecc-dev/hecc/serve"
	"github.com/urfave/cli/v2"
)

// Exit statuses, one per class of error a script may want to tell apart.
const (
	exitOK          = 0
	exitOther       = 1
	exitUsage       = 2
	exitUnsupported = 3
	exitMismatch    = 4
	exitParameters  = 5
	exitMalformed   = 6
)

// exitClass is a documented exit status and the sentinel errors it stands
// for. exitClasses is the one place errors are mapped to statuses, and what
// `hecc --help` and docs/quickstart.md list.
type exitClass struct {
	code int
	what string
	errs []error
}

var exitClasses = []exitClass{
	{exitOK, "success", nil},
	{exitOther, "any other failure, e.g. a file that cannot be read or written", nil},
	{exitUsage, "usage: unknown command or flag, missing or invalid argument, value ranges not given, no public key for a circuit that floods its results", []error{passes.ErrNoRange, serve.ErrNotLoopback, runtime.ErrNoPublicKey}},
	{exitUnsupported, "unsupported model: an operator, a use of one, a data type or a size hecc cannot compile",
		[]error{compiler.ErrUnsupportedOp, compiler.ErrUnsupported, onnx.ErrUnsupported, onnx.ErrTooLarge, ir.ErrTooLarge, passes.ErrConstantOutput}},
	{exitMismatch, "mismatched files: a key, ciphertext or spec of another compile or key set, an input of another shape or, with --strict, outside the calibrated range",
		[]error{runtime.ErrMismatch, runtime.ErrKeySet, plan.ErrMismatch, runtime.ErrShape, serve.ErrSpecMismatch, serve.ErrImage, plan.ErrOutOfRange}},
	{exitParameters, "insecure or impossible parameters: beyond the security table, or no secure parameters or approximation meet the requirements (or the circuit privacy asked for)",
		[]error{params.ErrInsecure, params.ErrNoFit, passes.ErrTargetUnreachable, compiler.ErrCircuitPrivacy}},
	{exitMalformed, "malformed input: an ONNX model, tensor, .hec, .spec, key or ciphertext file that is not valid, a result the circuit did not compute",
		[]error{runtime.ErrFormat, runtime.ErrNotAResult, plan.ErrSpec, ir.ErrDecode, onnx.ErrMalformed, compiler.ErrModel}},
}

// exitCode maps an error to its documented exit status. An error that
// carries its status is a usage error (usageError). Otherwise the first
// class, in the table's order, one of whose sentinels err wraps decides: an
// insecure spec is refused as insecure before it is malformed.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var coder cli.ExitCoder
	if errors.As(err, &coder) {
		return coder.ExitCode()
	}
	for _, class := range exitClasses {
		for _, sentinel := range class.errs {
			if errors.Is(err, sentinel) {
				return class.code
			}
		}
	}
	return exitOther
}

// exitStatusHelp lists the exit statuses for `hecc --help`.
func exitStatusHelp() string {
	var b strings.Builder
	b.WriteString("Exit status:\n")
	for _, class := range exitClasses {
		fmt.Fprintf(&b, "  %d  %s\n", class.code, class.what)
	}
	return b.String()
}
