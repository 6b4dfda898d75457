package main

import (
	"fmt"
	"strings"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
)

// summary is what a user decides on, in plain words, before the
// cryptographic detail: how accurate, how fast, how much to upload and to
// hold, how secure, and what the largest cost comes from. rep is nil for
// a spec read back by inspect, which knows no accuracy or latency.
func summary(rep *compiler.Report, spec *plan.Spec, sizes runtime.Sizes) string {
	var b strings.Builder
	line := func(what, format string, args ...any) {
		fmt.Fprintf(&b, "  %-15s %s\n", what+":", fmt.Sprintf(format, args...))
	}
	b.WriteString("summary\n")
	if rep != nil {
		line("accuracy", "%s", accuracyText(rep))
		if p := rep.Choice.Predicted; p > 0 && spec.Batched() {
			line("throughput", "%.0f inputs/s predicted by the cost model: a batch of %d in %.2f s", float64(spec.Batch)/p, spec.Batch, p)
		} else if p > 0 {
			line("latency", "%.3f s per inference predicted by the cost model (hecc bench measures it)", p)
		}
	}
	if spec.Batched() {
		line("key upload", "%s of eval.keys, once per client and compile; a batch %s under the secret key, %.1f KiB per input in a full batch of %d",
			mib(sizes.EvalKeys), mib(sizes.InputCtSeeded), float64(sizes.InputCtSeeded)/1024/float64(spec.Batch), spec.Batch)
	} else {
		line("key upload", "%s of eval.keys, once per client and compile; each input %s under the secret key", mib(sizes.EvalKeys), mib(sizes.InputCtSeeded))
	}
	line("server memory", "%s of evaluation keys per client", mib(sizes.EvalKeysMemory))
	line("security", "%d-bit (logN=%d, logQP=%d within the security table's bound)", spec.Params.Security, spec.Params.LogN, spec.Params.LogQP())
	relin := ""
	if spec.Relin {
		relin = " and a relinearization key"
	}
	cause := fmt.Sprintf("%d rotation keys%s at logN=%d, each up to %s", len(spec.Rotations), relin, spec.Params.LogN, mib(sizes.OneEvalKey))
	if rep != nil && rep.Choice.Binding != "" {
		cause += "; logN chosen for " + rep.Choice.Binding
	}
	line("largest cost", "evaluation keys %s: %s", mib(sizes.EvalKeysMemory), cause)
	if n := spec.InputCiphertexts(); n > 1 && !spec.Batched() {
		line("trade-off", "the input goes in %d ciphertexts so the first convolution needs no rotation key: --max-input-slots 1 keeps it in one (smaller upload per input, more rotation keys)", n)
	}
	return b.String()
}

// accuracyText says what the compile's approximation search measured, or
// why the agreement with the exact model could not be checked.
func accuracyText(rep *compiler.Report) string {
	const searched = "approx-activations: "
	for _, p := range rep.Passes {
		// The pass's first line: how many activations, and how the degrees
		// were chosen (on held-out calibration samples, what they reached).
		if how, ok := strings.CutPrefix(p, searched); ok && strings.Contains(how, "activations approximated") {
			if strings.Contains(how, "held-out") {
				return how
			}
			return how + "; agreement with the exact model not checked: give --calibration samples (hecc simulate on labelled samples measures it)"
		}
	}
	if rep.IROps["poly"] == 0 {
		return "no activation is approximated: the circuit computes the model up to CKKS rounding"
	}
	return "not checked (hecc simulate on labelled samples measures it)"
}
