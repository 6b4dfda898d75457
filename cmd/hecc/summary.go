package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/hecc-dev/hecc/benchmarks"
	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
)

// summaryLine is one thing a user decides on, and what it comes to.
type summaryLine struct{ what, text string }

// summaryLines is what a user decides on, in plain words, before the
// cryptographic detail: how accurate, how fast, how much to upload and to
// hold, how secure, which inputs the approximations hold for, and what the
// largest cost comes from. rep is nil for a spec read back by inspect,
// which knows no accuracy or latency.
func summaryLines(rep *compiler.Report, spec *plan.Spec, sizes runtime.Sizes) []summaryLine {
	var out []summaryLine
	line := func(what, format string, args ...any) {
		out = append(out, summaryLine{what, fmt.Sprintf(format, args...)})
	}
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
	line("server memory", "%s", serverMemoryText(rep, sizes))
	line("security", "%d-bit (logN=%d, logQP=%d within the security table's bound)", spec.Params.Security, spec.Params.LogN, spec.Params.LogQP())
	if spec.OutputRounded {
		line("output", "hecc decrypt rounds every output value to a multiple of 2^%d, at least twice the CKKS noise's bound (for a public-key encryption; the approximations' error comes on top), so that it shows no bits of the noise", logStep(spec))
	} else {
		line("output", "the CKKS noise's bound (at most 2^%d for a public-key encryption) is too loose to round outputs to: decryptions carry bits of the noise, a function of the secret key; never share them", logStep(spec)-1)
	}
	line("circuit privacy", "%s", privacyText(rep, spec))
	if r := spec.InputRange; r != nil {
		text := fmt.Sprintf("model inputs in [%.4g, %.4g], recorded in the spec: hecc encrypt warns outside it, --strict refuses", r.Min, r.Max)
		if rep != nil && rep.Approx != nil {
			text += "; " + rep.Approx.MarginText()
		}
		line("input range", "%s", text)
	}
	relin := ""
	if spec.Relin {
		relin = " and a relinearization key"
	}
	cause := fmt.Sprintf("%d rotation keys%s at logN=%d, each up to %s", len(spec.Rotations), relin, spec.Params.LogN, mib(sizes.OneEvalKey))
	if rep != nil && rep.Choice.Binding != "" {
		cause += "; logN chosen for " + rep.Choice.Binding
	}
	if rep != nil && rep.Noise != nil {
		if r := rep.Noise.Raise(); r != "" {
			cause += "; " + r + ", " + rep.Noise.Why
		}
	}
	if sizes.Encoded > sizes.EvalKeysMemory {
		what := fmt.Sprintf("every diagonal of the linear maps a polynomial of %d coefficients in the extended basis (the ciphertext's limbs and %d key-switching primes)", 1<<spec.Params.LogN, len(spec.Params.LogP))
		if spec.Batched() {
			what = "every weight of the affine maps an integer per limb of its level"
		}
		line("largest cost", "encoded weights %s: %s; then evaluation keys %s: %s", memory(sizes.Encoded), what, mib(sizes.EvalKeysMemory), cause)
	} else {
		line("largest cost", "evaluation keys %s: %s", mib(sizes.EvalKeysMemory), cause)
	}
	if n := spec.InputCiphertexts(); n > 1 && !spec.Batched() {
		line("trade-off", "the input goes in %d ciphertexts so the first convolution needs no rotation key: --max-input-slots 1 keeps it in one (smaller upload per input, more rotation keys)", n)
	}
	return out
}

// summary is the summary for the terminal, as compile and inspect open
// their reports.
func summary(rep *compiler.Report, spec *plan.Spec, sizes runtime.Sizes) string {
	var b strings.Builder
	b.WriteString("summary\n")
	for _, l := range summaryLines(rep, spec, sizes) {
		fmt.Fprintf(&b, "  %-15s %s\n", l.what+":", l.text)
	}
	return b.String()
}

// summaryMarkdown is the summary as a markdown list, as the bench report
// opens each model's part.
func summaryMarkdown(lines []summaryLine) string {
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "- **%s:** %s\n", l.what, l.text)
	}
	return b.String()
}

// accuracyText says what the compile's approximation search measured, or
// what it could not check.
func accuracyText(rep *compiler.Report) string {
	a := rep.Approx
	if a == nil {
		if rep.IROps["poly"] == 0 {
			return "no activation is approximated: the circuit computes the model up to CKKS rounding"
		}
		return "not checked (hecc simulate on labelled samples measures it)"
	}
	if a.Samples == 0 {
		return a.Unchecked()
	}
	how := "forms searched"
	if a.FixedDegree > 0 {
		how = fmt.Sprintf("degree %d fixed by --degree", a.FixedDegree)
	}
	acts := "1 activation"
	if a.Activations > 1 {
		acts = fmt.Sprintf("%d activations", a.Activations)
	}
	text := fmt.Sprintf("%s with the exact model on %s; %s approximated, %s", a.ReachedText(), a.SampleText(), acts, how)
	if !a.Met {
		text += "; below the target"
	}
	if few := a.TooFewSamples(); few != "" {
		text += "; " + few
	}
	return text
}

// benchSummary is a benchmarked model's summary, markdown: the compile's,
// with the accuracy and latency measured under encryption; "" when the
// compile failed.
func benchSummary(m *benchmarks.ModelResult) (string, error) {
	if m.Compile == nil {
		return "", nil
	}
	sizes, err := runtime.PredictSizes(m.Spec)
	if err != nil {
		return "", err
	}
	sizes.Encoded = int(m.PredictedEncodedBytes)
	lines := summaryLines(m.Compile, m.Spec, sizes)
	ran := m.Agreement.Of > 0
	notRun := m.Skipped
	if m.Error != "" {
		notRun = "failed: " + m.Error
	}
	for i, l := range lines {
		switch {
		case l.what == "accuracy" && ran:
			measured := fmt.Sprintf("encrypted, top class equal to the plaintext circuit's on %s samples, max |error| %.1e", m.Agreement, m.MaxAbsError)
			if m.EncryptedAccuracy.Of > 0 {
				measured = fmt.Sprintf("encrypted %s right against the labels (the exact model %s); %s", m.EncryptedAccuracy, m.PlainAccuracy, strings.TrimPrefix(measured, "encrypted, "))
			}
			lines[i].text = measured + "; compile: " + l.text
		case l.what == "accuracy":
			lines[i].text = "not run encrypted (" + notRun + "); compile: " + l.text
		case l.what == "latency" && ran:
			lines[i].text = fmt.Sprintf("%.3f s per inference measured (median of %d, 90th percentile %.3f s); the cost model predicted %.3f s",
				m.Eval.Median, m.Agreement.Of, m.Eval.P90, m.Compile.Choice.Predicted)
		case l.what == "latency":
			lines[i].text = strings.TrimSuffix(l.text, " (hecc bench measures it)") + "; not measured: " + notRun
		}
	}
	return summaryMarkdown(lines), nil
}

// privacyText says whether the server floods results, and what it costs
// against the parameters chosen without flooding (rep, when known).
func privacyText(rep *compiler.Report, spec *plan.Spec) string {
	if spec.CircuitPrivacyBits == 0 {
		return "off (--no-circuit-privacy): for a client trusted with the weights, who can read bits of them in the result's noise"
	}
	text := fmt.Sprintf("on: %d bits, flood 2^%d·B = 2^%.1f in the result's coefficients (B bounds the server's own noise); hecc run needs the client's public.key",
		spec.CircuitPrivacyBits, spec.CircuitPrivacyBits, math.Log2(spec.FloodWidth))
	if rep == nil || rep.Privacy == nil {
		return text
	}
	on, off := rep.Choice, rep.Privacy.Off
	primes := ""
	if on.PrimesPerLevel() > 1 {
		primes = fmt.Sprintf(" (%d primes per level)", on.PrimesPerLevel())
	}
	text += fmt.Sprintf(", costs scale 2^%d%s and logN=%d against 2^%d and logN=%d off", on.LogScale, primes, on.LogN, off.LogScale, off.LogN)
	if on.Predicted > 0 && off.Predicted > 0 {
		text += fmt.Sprintf(", %.3f s predicted against %.3f s", on.Predicted, off.Predicted)
	}
	return text
}

// serverMemoryText says what the server holds: the encoded weights once
// (when the circuit is known) and each client's evaluation keys, whether
// that exceeds the compile's memory budget, and what holds less with the
// weights encoded on demand and what that costs each evaluation.
func serverMemoryText(rep *compiler.Report, sizes runtime.Sizes) string {
	if sizes.Encoded == 0 {
		return fmt.Sprintf("%s of evaluation keys per client; the circuit's encoded weights come on top (inspect the .hec for them)", mib(sizes.EvalKeysMemory))
	}
	keys := sizes.EvalKeysMemory
	text := fmt.Sprintf("%s for one client: encoded weights %s, shared by every client, and evaluation keys %s, which each further client adds; plus the buffers of the evaluations running at once",
		memory(sizes.Encoded+keys), memory(sizes.Encoded), memory(keys))
	if rep != nil && rep.Memory.Over() {
		text += "; warning: " + rep.Memory.Warning()
	}
	w := sizes.Weights
	if len(w) == 0 {
		return text
	}
	none := w.Within(0)
	text += fmt.Sprintf("; hecc run and serve --max-weights-gib G keep G of the weights and encode the rest in each evaluation: at 0, %s for one client (the keys and the weights' values, %s), ≈ %.1f s more CPU per evaluation, shared by its workers",
		memory(keys+int(none.Values)), memory(int(none.Values)), none.Seconds)
	if rep == nil || !rep.Memory.Over() {
		return text
	}
	room := rep.Memory.Budget - int64(keys) - none.Values
	if room <= 0 {
		return text + fmt.Sprintf("; the keys alone exceed the %s budget", memory(int(rep.Memory.Budget)))
	}
	k := w.Within(room)
	return text + fmt.Sprintf("; within the %s budget, --max-weights-gib %.2f: %s of the weights encoded in each evaluation, ≈ %.1f s more CPU",
		memory(int(rep.Memory.Budget)), float64(room)/(1<<30), memory(int(k.OnDemand)), k.Seconds)
}

// memory is a size in MiB, or in GiB from one on.
func memory(n int) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	}
	return mib(n)
}

// logStep is log2 of the spec's output step.
func logStep(spec *plan.Spec) int {
	_, e := math.Frexp(spec.OutputStep)
	return e - 1
}
