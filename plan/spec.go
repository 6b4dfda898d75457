package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
)

// TensorInfo describes the input or output tensor of a circuit.
type TensorInfo struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	// Level is the CKKS level of the ciphertext holding the tensor.
	Level int `json:"level"`
	// Post is the monotone post-processing decryption applies (outputs only).
	Post string `json:"post,omitempty"`
}

// Spec is the client half of a compiled circuit: everything needed to make
// keys, encrypt the input and decrypt the output, and nothing about the
// weights. Its fingerprint ties every key and ciphertext to one compile.
type Spec struct {
	Model    string     `json:"model"`
	Params   params.Set `json:"params"`
	LogSlots int        `json:"log_slots"`
	Input    TensorInfo `json:"input"`
	Output   TensorInfo `json:"output"`
	// InputSlots, when set, is the layout the client encrypts its input
	// in: slot s holds input element InputSlots[s], or zero where it is −1
	// (ir.Gather). Unset: element k in slot k.
	InputSlots []int `json:"input_slots,omitempty"`
	// InputParts, when above 1, splits InputSlots into that many
	// ciphertexts of equal size, which the client encrypts separately.
	InputParts int `json:"input_parts,omitempty"`
	// Relin says whether the circuit multiplies ciphertexts, and so needs a
	// relinearization key, made at RelinLevel: the highest level at which it
	// multiplies.
	Relin      bool `json:"relin"`
	RelinLevel int  `json:"relin_level"`
	// Rotations lists the Galois elements of the rotations the circuit
	// performs, sorted, each with the highest level it is used at; keygen
	// makes exactly these keys at exactly these levels (a key is smaller the
	// lower its level).
	Rotations []RotationKey `json:"rotations"`
	// InputProjected says whether the circuit projects the input onto its
	// layout (projection.go): its first operation is an affine map, so a
	// client gets one result per query whatever it encrypts.
	InputProjected bool `json:"input_projected"`
	// Ops counts the circuit's IR nodes by kind: the architecture's shape,
	// never its weights.
	Ops map[string]int `json:"ops"`
	// InputScaling, when set, is how a raw input (pixels in 0..255, say)
	// becomes the model's input: the compile records what the model was
	// trained on, and the client applies it before encrypting.
	InputScaling *InputScaling `json:"input_scaling,omitempty"`
	// InputRange is the range of the model's input values the compile
	// fitted its approximations for: over the calibration samples, or the
	// --input-range bound. Past it they may not hold, so hecc encrypt
	// warns (or, strict, refuses).
	InputRange *ValueRange `json:"input_range,omitempty"`
	// Layout is LayoutBatch for a throughput circuit, empty for the packed
	// layout (one input in the slots).
	Layout string `json:"layout,omitempty"`
	// Batch is how many inputs a batch circuit evaluates at once: slot i of
	// every ciphertext belongs to input i.
	Batch int `json:"batch,omitempty"`
	// OutputStep is the precision the circuit guarantees its output
	// (before post-processing): a power of two at least twice the output's
	// error bound (Plan.Noise) for an honest input encrypted under the
	// public key, the larger error of the two keys. The bound is of the
	// CKKS noise only; the approximations' error comes on top.
	OutputStep float64 `json:"output_step"`
	// OutputRounded says whether decryption rounds every output value to
	// OutputStep, which keeps the noise's bits, a function of the secret
	// key, out of what a user sees. The compiler sets it when the step is
	// fine enough for the output (OutputStepUsable); otherwise the bound is
	// too loose to round to, and decryptions carry bits of the noise.
	OutputRounded bool `json:"output_rounded"`
	// CircuitPrivacyBits is λ, when the server floods the result for
	// circuit privacy (flood.go); 0 when it does not, and the result's
	// error then carries bits of the weights. FloodWidth is the flood's
	// half-width 2^λ·B in the ciphertext's integers, an integer below
	// maxFloodWidth (a float64: it may pass 2^64; every width hecc
	// computes is one, and below 2^53 its JSON is the integer's), and
	// OutputStep is then that of the flooded output.
	CircuitPrivacyBits int     `json:"circuit_privacy_bits,omitempty"`
	FloodWidth         float64 `json:"flood_width,omitempty"`
}

// OutputStepUsable reports whether rounding an output whose values span
// width to step keeps enough of it: 8 bits of its range.
func OutputStepUsable(step, width float64) bool { return step <= width/256 }

// LayoutBatch puts a different input in every slot: each tensor element is
// one ciphertext, affine maps are sums of ciphertext × scalar products with
// no rotation.
const LayoutBatch = "batch"

// Batched reports whether s is a batch circuit.
func (s *Spec) Batched() bool { return s.Layout == LayoutBatch }

// InputScaling maps a raw input value x of channel c to the model's input
// (x·Scale − Mean[c]) / Std[c]. Mean and Std hold one value for every
// channel, or one per channel (the input's axis 1).
type InputScaling struct {
	Scale float64   `json:"scale"`
	Mean  []float64 `json:"mean"`
	Std   []float64 `json:"std"`
}

// validate checks the scaling against the input shape it applies to.
func (sc *InputScaling) validate(shape []int) error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if !finite(sc.Scale) || sc.Scale == 0 {
		return fmt.Errorf("%w: input scale %g", ErrSpec, sc.Scale)
	}
	for _, list := range [][]float64{sc.Mean, sc.Std} {
		if len(list) != 1 && (len(shape) < 2 || len(list) != shape[1]) {
			return fmt.Errorf("%w: input scaling with %d values for an input of shape %v: one, or one per channel (axis 1)", ErrSpec, len(list), shape)
		}
	}
	for _, m := range sc.Mean {
		if !finite(m) {
			return fmt.Errorf("%w: input mean %g", ErrSpec, m)
		}
	}
	for _, d := range sc.Std {
		if !finite(d) || d <= 0 {
			return fmt.Errorf("%w: input standard deviation %g", ErrSpec, d)
		}
	}
	return nil
}

// ScaleInput returns raw input data, laid out in the model input's shape,
// as the model's input: the spec's InputScaling applied, or data itself
// when the spec has none.
func (s *Spec) ScaleInput(data []float64) []float64 {
	sc := s.InputScaling
	if sc == nil {
		return data
	}
	inner, channels := 1, 1
	if len(s.Input.Shape) >= 2 {
		channels = s.Input.Shape[1]
		inner = ir.NumElements(s.Input.Shape[2:])
	}
	at := func(list []float64, i int) float64 {
		if len(list) == 1 {
			return list[0]
		}
		return list[(i/inner)%channels]
	}
	out := make([]float64, len(data))
	for i, x := range data {
		out[i] = (x*sc.Scale - at(sc.Mean, i)) / at(sc.Std, i)
	}
	return out
}

// ValueRange is a closed interval of values.
type ValueRange struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// ErrOutOfRange reports input values outside the spec's InputRange.
var ErrOutOfRange = errors.New("input outside the range the model was compiled for")

// CheckInputRange reports, wrapping ErrOutOfRange, how many of the model
// input's values (scaled as the spec says) fall outside its InputRange and
// the farthest of them; nil when none does or the spec records no range.
func (s *Spec) CheckInputRange(data []float64) error {
	r := s.InputRange
	if r == nil {
		return nil
	}
	out, worst, at := 0, 0.0, 0
	for i, x := range data {
		d := max(r.Min-x, x-r.Max)
		if d > 0 || math.IsNaN(x) {
			out++
			if d > worst || math.IsNaN(x) {
				worst, at = d, i
			}
		}
	}
	if out == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d of %d values outside [%g, %g], the farthest %g (element %d); the approximated activations may be far off there",
		ErrOutOfRange, out, len(data), r.Min, r.Max, data[at], at)
}

// ScalePixels returns pixel values in 0..255, laid out in the model
// input's shape, as the model's input: the spec's InputScaling applied, or
// divided by 255 when the compile recorded none.
func (s *Spec) ScalePixels(data []float64) []float64 {
	if s.InputScaling != nil {
		return s.ScaleInput(data)
	}
	out := make([]float64, len(data))
	for i, x := range data {
		out[i] = x / 255
	}
	return out
}

// RotationKey is one Galois key of a spec.
type RotationKey struct {
	Galois uint64 `json:"galois"`
	Level  int    `json:"level"`
}

// Fingerprint is the SHA-256 of the spec's canonical JSON.
func (s *Spec) Fingerprint() [32]byte {
	b, _ := json.Marshal(s)
	return sha256.Sum256(b)
}

// ShortFingerprint is the first 12 hex digits, for messages.
func (s *Spec) ShortFingerprint() string {
	f := s.Fingerprint()
	return hex.EncodeToString(f[:6])
}

// ErrSpec reports a spec whose fields are inconsistent.
var ErrSpec = errors.New("invalid spec")

// Validate checks what a hostile .spec could get wrong before Lattigo sees
// it: a valid parameter set, a layout that fits the ring, bounded shapes
// and well-formed Galois elements. The runtime's files additionally refuse
// insecure test parameters.
func (s *Spec) Validate() error {
	if err := s.Params.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrSpec, err)
	}
	if s.LogSlots < 0 || s.LogSlots > s.Params.LogSlots() {
		return fmt.Errorf("%w: 2^%d slots in a ring of 2^%d", ErrSpec, s.LogSlots, s.Params.LogSlots())
	}
	switch s.Layout {
	case "":
		if s.Batch != 0 {
			return fmt.Errorf("%w: a batch of %d in the packed layout", ErrSpec, s.Batch)
		}
	case LayoutBatch:
		if s.Batch < 1 || s.Batch > 1<<s.LogSlots {
			return fmt.Errorf("%w: a batch of %d inputs in 2^%d slots", ErrSpec, s.Batch, s.LogSlots)
		}
		if len(s.Rotations) > 0 || s.InputSlots != nil || s.InputParts != 0 {
			return fmt.Errorf("%w: a batch circuit has no rotation keys and no input layout", ErrSpec)
		}
	default:
		return fmt.Errorf("%w: unknown layout %q", ErrSpec, s.Layout)
	}
	for i, t := range []TensorInfo{s.Input, s.Output} {
		if t.Name == "" || len(t.Shape) == 0 || len(t.Shape) > 8 {
			return fmt.Errorf("%w: tensor %q has shape %v", ErrSpec, t.Name, t.Shape)
		}
		// An input the client lays out may span several ciphertexts.
		fits := 1 << s.LogSlots
		if i == 0 && s.InputSlots != nil {
			fits *= ir.MaxInputParts
		}
		if s.Batched() {
			fits = MaxBatchValues
		}
		n := 1
		for _, d := range t.Shape {
			if d <= 0 || d > fits {
				return fmt.Errorf("%w: tensor %q has shape %v", ErrSpec, t.Name, t.Shape)
			}
			n *= d
			if n > fits {
				return fmt.Errorf("%w: tensor %q of shape %v does not fit 2^%d slots", ErrSpec, t.Name, t.Shape, s.LogSlots)
			}
		}
		if t.Level < 0 || t.Level > s.Params.MaxLevel() {
			return fmt.Errorf("%w: tensor %q at level %d of %d", ErrSpec, t.Name, t.Level, s.Params.MaxLevel())
		}
	}
	parts := max(1, s.InputParts)
	if s.InputParts < 0 || parts > ir.MaxInputParts || len(s.InputSlots)%parts != 0 || (parts > 1 && len(s.InputSlots) == 0) {
		return fmt.Errorf("%w: an input layout of %d slots in %d ciphertexts (at most %d, of equal size)", ErrSpec, len(s.InputSlots), parts, ir.MaxInputParts)
	}
	if len(s.InputSlots)/parts > 1<<s.LogSlots {
		return fmt.Errorf("%w: an input layout of %d slots per ciphertext in 2^%d", ErrSpec, len(s.InputSlots)/parts, s.LogSlots)
	}
	size := ir.NumElements(s.Input.Shape)
	for i, k := range s.InputSlots {
		if k < -1 || k >= size {
			return fmt.Errorf("%w: the input layout puts element %d of %d in slot %d", ErrSpec, k, size, i)
		}
	}
	if s.Input.Level != s.Params.MaxLevel() {
		return fmt.Errorf("%w: input at level %d, the chain's top is %d", ErrSpec, s.Input.Level, s.Params.MaxLevel())
	}
	if s.Output.Post != "" && !ir.KnownPost(s.Output.Post) {
		return fmt.Errorf("%w: unknown post-processing %q", ErrSpec, s.Output.Post)
	}
	twoN := uint64(2) << s.Params.LogN
	if len(s.Rotations) > 1<<12 {
		return fmt.Errorf("%w: %d Galois keys", ErrSpec, len(s.Rotations))
	}
	for i, r := range s.Rotations {
		if r.Galois%2 == 0 || r.Galois <= 1 || r.Galois >= twoN {
			return fmt.Errorf("%w: %d is not a Galois element for N=2^%d", ErrSpec, r.Galois, s.Params.LogN)
		}
		if r.Level < 0 || r.Level > s.Params.MaxLevel() {
			return fmt.Errorf("%w: Galois key at level %d of %d", ErrSpec, r.Level, s.Params.MaxLevel())
		}
		if i > 0 && r.Galois <= s.Rotations[i-1].Galois {
			return fmt.Errorf("%w: Galois elements are not sorted and unique", ErrSpec)
		}
	}
	if f, _ := math.Frexp(s.OutputStep); f != 0.5 {
		return fmt.Errorf("%w: output step %g is not a power of two: the spec records no output precision (made by an older hecc? recompile the model)", ErrSpec, s.OutputStep)
	}
	if s.CircuitPrivacyBits < 0 || s.CircuitPrivacyBits > MaxCircuitPrivacyBits || (s.CircuitPrivacyBits == 0) != (s.FloodWidth == 0) ||
		!(s.FloodWidth >= 0 && s.FloodWidth < maxFloodWidth) || s.FloodWidth != math.Trunc(s.FloodWidth) {
		return fmt.Errorf("%w: circuit privacy of %d bits with a flood of width %g", ErrSpec, s.CircuitPrivacyBits, s.FloodWidth)
	}
	if s.RelinLevel < 0 || s.RelinLevel > s.Params.MaxLevel() {
		return fmt.Errorf("%w: relinearization key at level %d of %d", ErrSpec, s.RelinLevel, s.Params.MaxLevel())
	}
	if b := s.EvalKeyFileBytes(); b > MaxEvalKeyFileBytes {
		return fmt.Errorf("%w: its evaluation keys would take about %.1f GiB, more than the %d GiB any hecc circuit may ask for", ErrSpec, float64(b)/(1<<30), MaxEvalKeyFileBytes>>30)
	}
	if len(s.Ops) > 16 {
		return fmt.Errorf("%w: %d op kinds", ErrSpec, len(s.Ops))
	}
	if r := s.InputRange; r != nil && !(r.Min <= r.Max && !math.IsInf(r.Min, 0) && !math.IsInf(r.Max, 0)) {
		return fmt.Errorf("%w: input range [%g, %g]", ErrSpec, r.Min, r.Max)
	}
	if s.InputScaling != nil {
		return s.InputScaling.validate(s.Input.Shape)
	}
	return nil
}

// InputCiphertexts is the number of ciphertexts the client encrypts its
// input in: one per element in a batch circuit.
func (s *Spec) InputCiphertexts() int {
	if s.Batched() {
		return ir.NumElements(s.Input.Shape)
	}
	return max(1, s.InputParts)
}

// OutputCiphertexts is the number of ciphertexts the result is in.
func (s *Spec) OutputCiphertexts() int {
	if s.Batched() {
		return ir.NumElements(s.Output.Shape)
	}
	return 1
}

// MaxBatchValues bounds the elements of a batch circuit's tensors, each a
// ciphertext.
const MaxBatchValues = 1 << 16

// MaxEvalKeyFileBytes bounds the evaluation key file a spec may ask for,
// so that a hostile spec cannot make keygen fill a disk.
const MaxEvalKeyFileBytes = 32 << 30

// EvalKeyFileBytes estimates the size of the spec's evaluation key file
// from the nominal prime sizes: for each key at level l, ⌈L/|P|⌉ gadget
// entries (L = Limbs(l)), each one polynomial over the L primes and the
// key-switching primes, packed to the primes' bit lengths. Use it on a
// validated parameter set only.
func (s *Spec) EvalKeyFileBytes() int64 {
	pBits := 0
	for _, b := range s.Params.LogP {
		pBits += b
	}
	key := func(level int) int64 {
		limbs := s.Params.Limbs(level)
		qBits := 0
		for _, b := range s.Params.LogQ[:limbs] {
			qBits += b
		}
		entries := (limbs + len(s.Params.LogP) - 1) / len(s.Params.LogP)
		return int64(entries) * int64(qBits+pBits) << s.Params.LogN / 8
	}
	var total int64
	for _, r := range s.Rotations {
		total += key(r.Level)
	}
	if s.Relin {
		total += key(s.RelinLevel)
	}
	return total
}
