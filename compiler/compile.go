package compiler

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
)

// Options control a compile.
type Options struct {
	Name     string // model name recorded in the spec
	Security int    // bits: 128, 192 or 256
	Binds    map[string]*ir.Tensor
	// Calibration is a batch of sample inputs: its first axis indexes
	// samples, the rest is the model input's shape (with or without its
	// batch axis of 1).
	Calibration *ir.Tensor
	// InputRange bounds every input value, for interval arithmetic when no
	// calibration data is given.
	InputRange *ir.Interval
	Margin     float64 // widening of calibrated ranges (fraction of width)
	// MinLogScale is the least scale, in bits, the circuit may run at.
	MinLogScale int
	// Approx controls how activations are approximated.
	Approx passes.ApproxConfig
	// MaxInputSlots bounds the slots of all the ciphertexts the client
	// encrypts its input in (0: passes.DefaultMaxInputSlots).
	MaxInputSlots int
	// ClientCopies lets the client lay the input out with copies of its
	// values (passes.Config.ClientCopies).
	ClientCopies bool
	// Progress, when set, follows the search for the activations' degrees.
	Progress func(passes.SearchProgress)
	// Batch compiles a throughput circuit (plan.LayoutBatch): every slot
	// holds another input, BatchSize of them (0: every slot of the ring).
	Batch     bool
	BatchSize int
	// CircuitPrivacyBits is λ: the server floods the result with 2^λ times
	// its own error's bound (plan.Flood), and the parameters pay for the
	// precision this takes; 0 leaves the result unflooded. The library
	// floods only when asked; hecc compile asks for
	// plan.DefaultCircuitPrivacyBits unless given --no-circuit-privacy.
	CircuitPrivacyBits int
}

// Defaults.
const (
	DefaultSecurity    = 128
	DefaultMargin      = 0.1
	DefaultMinLogScale = 25
	// MaxLogScale bounds the scale params.Select may pick, and so the
	// least scale a caller may ask for. Flooding raises it, up to
	// params.MaxLogScale: two primes per level.
	MaxLogScale = 45
	// defaultLogMaxValue is assumed when nothing bounds the values: the
	// first prime then holds outputs up to 2^20 in magnitude.
	defaultLogMaxValue = 20
)

// Result is a compiled circuit, its graph after the passes and the spec
// planned for it, and the report of how it was made.
type Result struct {
	Spec   *plan.Spec
	Graph  *ir.Graph
	Report *Report
}

// Report says what the compiler saw and decided.
type Report struct {
	Model       string
	Opset       int64
	OpsSeen     map[string]int
	IROps       map[string]int
	Passes      []string
	RangeSource string
	LogMaxValue int
	Depth       int
	LogSlots    int
	Choice      params.Choice
	Post        string
	// Layout is plan.LayoutBatch for a batch circuit, empty for the packed
	// layout; Batch is then the inputs a batch holds.
	Layout string
	Batch  int
	// Approx is what approx-activations chose and measured, nil when the
	// model has no activation to approximate.
	Approx *passes.ApproxResult
	// Noise compares the parameters' noise with what the criterion
	// tolerates, nil when the criterion was not measured.
	Noise *NoiseFit
	// Privacy is what circuit privacy costs, nil when it is off.
	Privacy *PrivacyReport
	// MaxLayers says what each max (MaxPool, ReduceMax …) costs.
	MaxLayers []string
	// Memory is what the server is predicted to hold.
	Memory   ServerMemory
	Warnings []string
	Seconds  float64
}

// CompileFile loads and compiles an ONNX file.
func CompileFile(path string, opts Options) (*Result, error) {
	m, err := onnx.Load(path)
	if err != nil {
		return nil, err
	}
	return Compile(m, opts)
}

// Compile lowers a model, runs the passes, chooses parameters and plans the
// evaluation.
func Compile(m *onnx.Model, opts Options) (*Result, error) {
	start := time.Now()
	if opts.Security == 0 {
		opts.Security = DefaultSecurity
	}
	if opts.MinLogScale == 0 {
		opts.MinLogScale = DefaultMinLogScale
	}
	low, err := Lower(m, LowerOptions{Binds: opts.Binds})
	if err != nil {
		return nil, err
	}
	g := low.Graph
	rep := &Report{Model: opts.Name, Opset: low.Opset, OpsSeen: low.OpsSeen, Warnings: low.Warnings}
	src := &passes.RangeSource{Input: opts.InputRange, Margin: opts.Margin}
	if opts.Calibration != nil {
		if src.Samples, err = SplitSamples(opts.Calibration, g.Inputs()[0].Shape); err != nil {
			return nil, fmt.Errorf("calibration data: %w", err)
		}
		rep.RangeSource = fmt.Sprintf("calibration on %d samples, widened by %.0f%%", len(src.Samples), 100*opts.Margin)
	} else if opts.InputRange != nil {
		rep.RangeSource = fmt.Sprintf("interval arithmetic from inputs in [%g, %g]", opts.InputRange.Lo, opts.InputRange.Hi)
	}
	approx := &passes.ApproxResult{}
	cfg := &passes.Config{Ranges: src, Approx: opts.Approx, MaxInputSlots: opts.MaxInputSlots, ClientCopies: opts.ClientCopies, Progress: opts.Progress, ApproxResult: approx,
		Log: func(pass, msg string) { rep.Passes = append(rep.Passes, pass+": "+msg) }}
	pipeline, work := passes.Pipeline, plan.Workload
	if opts.Batch {
		pipeline, work = passes.BatchPipeline, plan.BatchWorkload
	}
	if err := passes.Run(g, pipeline, cfg); err != nil {
		return nil, err
	}
	rep.IROps, rep.Depth, rep.LogSlots = g.Counts(), g.Depth, g.LogSlots
	if approx.Activations > 0 {
		rep.Approx = approx
		for _, w := range []string{approx.Unchecked(), approx.TooFewSamples()} {
			if w != "" {
				rep.Warnings = append(rep.Warnings, w)
			}
		}
	}
	for _, m := range low.MaxLayers {
		rep.MaxLayers = append(rep.MaxLayers, fmt.Sprintf("%s: %d ReLU levels (a tree of max(a, b) = b + relu(a − b)), %d of the %d levels",
			m.Origin, m.ReLULevels, levelsSpent(g, m.Origin), g.Depth))
	}
	rep.Post = g.Outputs()[0].Post
	if src.Known() {
		rep.LogMaxValue = logMaxValue(g, opts.MinLogScale)
	} else {
		rep.LogMaxValue = defaultLogMaxValue
		rep.RangeSource = fmt.Sprintf("none: values assumed below 2^%d", defaultLogMaxValue)
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("no --calibration or --input-range: the first prime assumes values below 2^%d; either flag gives tighter, faster parameters", defaultLogMaxValue))
	}
	logSlots := g.LogSlots
	if opts.Batch && opts.BatchSize > 0 {
		logSlots = bits.Len(uint(opts.BatchSize - 1))
	}
	req := params.Requirements{
		Depth: g.Depth, MinLogScale: opts.MinLogScale, MaxLogScale: MaxLogScale,
		LogMaxValue: rep.LogMaxValue, LogSlots: logSlots, Security: opts.Security,
		Work: work(g),
	}
	if opts.Batch {
		req.MaxLogScale = max(req.MinLogScale, min(req.MaxLogScale, plan.BatchMaxLogScale))
		req.LogOutputScale = plan.BatchLogOutputScale(g, req.LogMaxValue, req.MinLogScale)
	}
	build := func(set params.Set) (*plan.Plan, error) {
		if opts.Batch {
			return plan.BuildBatch(opts.Name, g, set, opts.BatchSize)
		}
		return plan.Build(opts.Name, g, set)
	}
	req, choice, pl, err := selectPlan(req, build)
	if errors.Is(err, params.ErrNoFit) {
		return withinDepth(m, opts, g, req, approx, err)
	}
	if err != nil {
		return nil, err
	}
	if req, choice, pl, rep.Noise, err = fitNoise(req, choice, pl, build, rep.Approx); err != nil {
		return nil, err
	}
	if f := rep.Noise; f != nil && !f.Met() {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("the output's predicted noise bound %s exceeds the %s the criterion tolerates (%s) even at scale 2^%d, the most precise parameters that fit: encrypted outputs may miss the target the plaintext circuit meets",
			pow2(f.Bound), pow2(f.Room), f.Why, choice.LogScale))
	}
	if bits := opts.CircuitPrivacyBits; bits != 0 {
		off := choice
		if pl, choice, err = flood(g, req, choice, pl, build, bits); err != nil {
			return nil, err
		}
		rep.Privacy = &PrivacyReport{Bits: bits, Width: pl.Spec.FloodWidth, Off: off}
	}
	rep.Choice = choice
	rep.Layout, rep.Batch = pl.Spec.Layout, pl.Spec.Batch
	rep.Memory = ServerMemory{
		Keys:    choice.EvalKeyBytes(params.Workload{Keys: plannedKeys(pl.Spec)}),
		Encoded: pl.EncodedBytes(),
		Budget:  req.KeyBudget(),
	}
	if m := rep.Memory; m.Over() {
		rep.Warnings = append(rep.Warnings, m.Warning())
	}
	pl.Spec.InputRange = inputRange(src)
	pl.Spec.OutputRounded = plan.OutputStepUsable(pl.Spec.OutputStep, g.Outputs()[0].Range.Width())
	rep.Seconds = time.Since(start).Seconds()
	return &Result{Spec: pl.Spec, Graph: g, Report: rep}, nil
}

// ErrCircuitPrivacy reports a circuit privacy the model cannot afford.
var ErrCircuitPrivacy = errors.New("cannot give the circuit privacy asked for")

// PrivacyReport is what flooding the result costs: its λ, the flood's
// half-width in the result's coefficients, and the parameters chosen
// without it.
type PrivacyReport struct {
	Bits  int
	Width float64
	Off   params.Choice
}

// flood raises the scale until a flood of λ bits leaves the output its
// precision (plan.OutputStepUsable), and records the flood in the plan.
// Every rescale's and key switch's rounding is relative to the scale, so
// each bit of scale is about a bit of λ; past what one prime per level
// holds, levels take two primes (params.Set.PrimesPerLevel), up to
// params.MaxLogScale, and the parameters are selected again, within the
// security table and the key budget. A batch circuit's scales leave
// plan.BatchMaxLogScale for this, first within plan.BatchFloodScales,
// where every prime keeps the kernels' split path, and only if that is not
// enough up to params.MaxLogScale. It refuses, naming the largest λ the
// model affords, when the parameters cannot pay for it.
func flood(g *ir.Graph, req params.Requirements, choice params.Choice, pl *plan.Plan, build func(params.Set) (*plan.Plan, error), bits int) (*plan.Plan, params.Choice, error) {
	if bits < 0 || bits > plan.MaxCircuitPrivacyBits {
		return nil, params.Choice{}, fmt.Errorf("%w: %d bits of circuit privacy (1 to %d)", ErrCircuitPrivacy, bits, plan.MaxCircuitPrivacyBits)
	}
	width := g.Outputs()[0].Range.Width()
	if width == 0 {
		return nil, params.Choice{}, fmt.Errorf("%w: the output's range is unknown, so no output precision can be planned: give --calibration or --input-range", ErrCircuitPrivacy)
	}
	if pl.Spec.Batched() {
		// A batch circuit's output lands below the scale to keep its
		// first prime small (plan.BatchLogOutputScale); the last
		// rescale's rounding is a few units of the output's scale
		// whatever it is, and the flood is 2^λ times that: a flooded
		// output lands on the circuit's scale.
		req.LogOutputScale = 0
		for _, r := range plan.BatchFloodScales(req.LogMaxValue) {
			within := req
			within.MinLogScale, within.MaxLogScale = max(req.MinLogScale, r.Min), r.Max
			if within.MinLogScale > within.MaxLogScale {
				continue
			}
			within, c, p, err := selectPlan(within, build)
			if err != nil {
				continue
			}
			if p, c, err := floodWithin(within, c, p, build, bits, width); err == nil {
				return p, c, nil
			}
		}
	}
	req.MaxLogScale = params.MaxLogScale
	return floodWithin(req, choice, pl, build, bits, width)
}

// floodWithin is flood with scales up to req.MaxLogScale, for an output
// whose values span width.
func floodWithin(req params.Requirements, choice params.Choice, pl *plan.Plan, build func(params.Set) (*plan.Plan, error), bits int, width float64) (*plan.Plan, params.Choice, error) {
	top := topScale(req, choice)
	// topScale counts the keys of no plan: a scale up to top's may still
	// miss the key budget once its plan's keys are counted. Past such a
	// miss, ceiling is the largest scale that may fit, and the scales in
	// between are bisected.
	ceiling, narrowed := top.LogScale, false
	for {
		f, err := pl.Flood(bits)
		if err != nil && !errors.Is(err, plan.ErrNoCircuitPrivacy) {
			return nil, params.Choice{}, err
		}
		if err == nil && plan.OutputStepUsable(f.Step(), width) {
			return pl, choice, pl.SetCircuitPrivacy(bits)
		}
		if choice.LogScale >= ceiling {
			if narrowed {
				top = choice
			}
			return nil, params.Choice{}, refuseFlood(top, build, width, bits)
		}
		step := 1
		if narrowed {
			step = (ceiling - choice.LogScale + 1) / 2
		} else if err == nil {
			step = max(1, int(math.Ceil(math.Log2(f.Step()*256/width))))
		}
		next := req
		next.MinLogScale = min(choice.LogScale+step, ceiling)
		r, c, p, err := selectPlan(next, build)
		if errors.Is(err, params.ErrNoFit) {
			ceiling, narrowed = next.MinLogScale-1, true
			continue
		}
		if err != nil {
			return nil, params.Choice{}, err
		}
		req, choice, pl = r, c, p
	}
}

// topScale is the choice at the largest scale, up to req.MaxLogScale, a
// secure set holds: the most precise the model can run at. A smaller ring
// may stop at a smaller scale than a larger one.
func topScale(req params.Requirements, least params.Choice) params.Choice {
	for s := req.MaxLogScale; s > least.LogScale; s-- {
		req.MinLogScale = s
		if c, err := params.Select(req); err == nil {
			return c
		}
	}
	return least
}

// refuseFlood explains that λ bits are beyond the model, with the largest
// λ the most precise parameters afford.
func refuseFlood(top params.Choice, build func(params.Set) (*plan.Plan, error), width float64, bits int) error {
	pl, err := build(top.Set)
	if err != nil {
		return err
	}
	most, err := pl.MaxFloodBits(width)
	if err != nil {
		return err
	}
	limit := "needs more precision than any secure parameters within the key budget give"
	if _, err := pl.Flood(most + 1); err != nil {
		limit = "would be wider than the runtime samples"
	}
	return fmt.Errorf("%w: a flood of %d bits %s; this model affords at most %d bits (at scale 2^%d, logN=%d)",
		ErrCircuitPrivacy, bits, limit, most, top.LogScale, top.LogN)
}

// inputRange is the range of input values the approximations were fitted
// for: over the calibration samples, else the given bound; nil without
// either.
func inputRange(src *passes.RangeSource) *plan.ValueRange {
	if len(src.Samples) == 0 {
		if src.Input == nil {
			return nil
		}
		return &plan.ValueRange{Min: src.Input.Lo, Max: src.Input.Hi}
	}
	r := &plan.ValueRange{Min: math.Inf(1), Max: math.Inf(-1)}
	for _, x := range src.Samples {
		for _, v := range x.Data {
			r.Min, r.Max = math.Min(r.Min, v), math.Max(r.Max, v)
		}
	}
	return r
}

// levelsSpent is how many levels the nodes lowered from ONNX node origin
// take: from the level of their inputs to that of their lowest result.
func levelsSpent(g *ir.Graph, origin string) int {
	in := map[*ir.Node]bool{}
	for _, n := range g.Nodes {
		in[n] = slices.Contains(strings.Split(n.Origin, " + "), origin)
	}
	top, bottom := 0, g.Depth
	for _, n := range g.Nodes {
		if !in[n] {
			continue
		}
		bottom = min(bottom, n.Level)
		for _, x := range n.Inputs {
			if !in[x] && x.Op != ir.OpConst {
				top = max(top, x.Level)
			}
		}
	}
	return max(0, top-bottom)
}

// logMaxValue is the number of bits above the scale the first prime must
// hold. A node at level 0 needs |v|·Δ < q0/2; a node at level ℓ ≥ 1 is
// computed modulo q0·q1…qℓ and so has ℓ more scales of headroom.
func logMaxValue(g *ir.Graph, minLogScale int) int {
	bits := 1
	for _, n := range g.Nodes {
		m := n.Range.MaxAbs()
		if m == 0 {
			continue
		}
		need := int(math.Ceil(math.Log2(m))) + 1 - n.Level*minLogScale
		bits = max(bits, need)
	}
	return bits
}

// SplitSamples cuts a batch of calibration inputs into tensors of the input
// shape. The batch's first axis indexes samples; the rest equals the input
// shape, with or without its leading batch axis of 1.
func SplitSamples(batch *ir.Tensor, input []int) ([]*ir.Tensor, error) {
	rest := batch.Shape
	if len(rest) > 0 {
		rest = rest[1:]
	}
	if !slices.Equal(rest, input) && !(len(input) > 1 && input[0] == 1 && slices.Equal(rest, input[1:])) {
		return nil, fmt.Errorf("samples of shape %v do not match the model input %v (expected [samples, %s])",
			batch.Shape, input, strings.Trim(fmt.Sprint(input), "[]"))
	}
	size := ir.NumElements(input)
	if len(batch.Shape) == 0 || batch.Shape[0] == 0 {
		return nil, fmt.Errorf("no samples")
	}
	out := make([]*ir.Tensor, batch.Shape[0])
	for i := range out {
		out[i] = &ir.Tensor{Shape: input, Data: batch.Data[i*size : (i+1)*size]}
	}
	return out, nil
}

// Text formats the report for the terminal.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "model %s (ai.onnx opset %d)\n", r.Model, r.Opset)
	fmt.Fprintf(&b, "  ONNX ops:   %s\n", countList(r.OpsSeen))
	fmt.Fprintf(&b, "  HE IR:      %s\n", countList(r.IROps))
	for _, p := range r.Passes {
		fmt.Fprintf(&b, "    %s\n", p)
	}
	if r.Post != "" {
		fmt.Fprintf(&b, "  trailing %s is applied by the client after decryption (monotone: same top class)\n", r.Post)
	}
	if r.Layout == plan.LayoutBatch {
		fmt.Fprintf(&b, "  depth:      %d levels; batch layout: %d inputs per batch, one ciphertext per value, no rotation\n", r.Depth, r.Batch)
	} else {
		fmt.Fprintf(&b, "  depth:      %d levels; layout 2^%d slots\n", r.Depth, r.LogSlots)
	}
	for _, m := range r.MaxLayers {
		fmt.Fprintf(&b, "    max:      %s\n", m)
	}
	fmt.Fprintf(&b, "  ranges:     %s; first prime holds values up to 2^%d\n", r.RangeSource, r.LogMaxValue)
	if a := r.Approx; a != nil {
		fmt.Fprintf(&b, "  margin:     %s\n", a.MarginText())
		for _, l := range a.Layers {
			fmt.Fprintf(&b, "    %s: %s, fitted %s", l.Node, l.Form, l.Interval)
			if l.Reached > 0 {
				fmt.Fprintf(&b, "; held-out inputs reached %.0f%% of it", 100*l.Reached)
			}
			b.WriteString("\n")
		}
	}
	c := r.Choice
	output := ""
	if c.LogOutputScale != 0 {
		output = fmt.Sprintf(" (output at 2^%d)", c.LogOutputScale)
	}
	fmt.Fprintf(&b, "  parameters: logN=%d logQ=%v logP=%v scale=2^%d%s logQP=%d, %d-bit security\n", c.LogN, c.LogQ, c.LogP, c.LogScale, output, c.LogQP(), c.Security)
	fmt.Fprintf(&b, "    why:      %s\n", c.Binding)
	fmt.Fprintf(&b, "  memory:     %s\n", r.Memory)
	if r.Layout == plan.LayoutBatch && c.Predicted > 0 {
		fmt.Fprintf(&b, "  throughput: %.0f inputs/s predicted (%d per batch in %.2f s)\n", float64(r.Batch)/c.Predicted, r.Batch, c.Predicted)
	}
	if c.RunnerUp != "" {
		fmt.Fprintf(&b, "    runner-up: %s\n", c.RunnerUp)
	}
	if r.Noise != nil {
		for _, l := range r.Noise.Text() {
			fmt.Fprintf(&b, "    noise:    %s\n", l)
		}
	}
	for _, rej := range c.Rejected {
		fmt.Fprintf(&b, "    rejected: %s\n", rej)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "  warning:    %s\n", w)
	}
	fmt.Fprintf(&b, "  compiled in %.2f s\n", r.Seconds)
	return b.String()
}

func countList(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
