// Package passes holds the transformations that turn a lowered ONNX model
// into a circuit CKKS can evaluate cheaply. Each pass is a function over an
// ir.Graph; the pipeline is data — a list of named passes with the ordering
// rules they rely on — and ir.Verify runs after every pass.
package passes

import (
	"fmt"

	"github.com/hecc-dev/hecc/ir"
)

// Config carries what passes need beyond the graph.
type Config struct {
	// Ranges is where value ranges come from (calibration or an input
	// range); nil leaves them unknown.
	Ranges *RangeSource
	// Approx controls approx-activations.
	Approx ApproxConfig
	// MaxInputSlots bounds the slots of all the ciphertexts a client sends
	// for one input (0: DefaultMaxInputSlots); below two ciphertexts' worth
	// every input is one ciphertext.
	MaxInputSlots int
	// ClientCopies lets the client lay the input of a first convolution
	// out with copies of its values (one ciphertext per kernel position,
	// or a copy per kernel row), which saves the convolution's rotations.
	// The server cannot force a hostile client's copies to agree without
	// the rotations they save, so a query is then no longer one
	// prediction: such a client can put different values in the copies
	// (docs/security.md). Off, every input value sits in one slot.
	ClientCopies bool
	// Log receives one line per notable decision, for the compile report.
	Log func(pass, msg string)
	// Progress, when set, follows the degree search of approx-activations.
	Progress func(SearchProgress)
	// ApproxResult, when set, receives what approx-activations chose and
	// measured; it stays zero when the graph has no activation.
	ApproxResult *ApproxResult
}

func (c *Config) logf(pass, format string, args ...any) {
	if c != nil && c.Log != nil {
		c.Log(pass, fmt.Sprintf(format, args...))
	}
}

// Pass is one named transformation.
type Pass struct {
	Name string
	Run  func(*ir.Graph, *Config) error
	// After names the passes that must have run first, each with the reason.
	After []Dependency
}

// Dependency is an ordering rule between passes.
type Dependency struct {
	Pass   string
	Reason string
}

// Pipeline is the order passes run in.
var Pipeline = []Pass{
	{Name: "fold-constants", Run: FoldConstants},
	{Name: "activations-after-max", Run: ActivationsAfterMax},
	{Name: "calibrate", Run: Ranges, After: []Dependency{
		{"fold-constants", "constant subgraphs have no ranges to record"},
		{"activations-after-max", "the activations it moves are calibrated where they end up"},
	}},
	{Name: "approx-activations", Run: ApproxActivations, After: []Dependency{
		{"calibrate", "each polynomial is fitted on the range its input was calibrated to"},
		{"activations-after-max", "a max tree's ReLUs are fitted on the differences it leaves them"},
	}},
	{Name: "scales-past-add", Run: ScalesPastAdd, After: []Dependency{
		{"approx-activations", "the scalings it moves are the ones that bring a polynomial's output back from [-1, 1]"},
	}},
	{Name: "squash-affine", Run: SquashAffine, After: []Dependency{
		{"scales-past-add", "the scalings it moves are composed into the maps around the sum here"},
		{"fold-constants", "Add/Mul with a constant operand become affine nodes there, and only affine nodes compose"},
		{"approx-activations", "the maps onto [-1, 1] it inserts are folded into the preceding layers"},
	}},
	{Name: "align-scales", Run: AlignScales, After: []Dependency{
		{"squash-affine", "an affine operand that squashing removes cannot be tuned, and one it creates need not be added"},
	}},
	{Name: "layout", Run: Layout, After: []Dependency{
		{"squash-affine", "the slot count follows the tensors that remain, and the output mask must not be squashed into a non-linear producer"},
	}},
	{Name: "depth", Run: Depth, After: []Dependency{
		{"squash-affine", "each remaining affine node costs one level"},
		{"align-scales", "the identity maps it inserts cost a level"},
		{"layout", "the output mask layout adds may cost a level"},
	}},
	{Name: "bound-values", Run: Ranges, After: []Dependency{
		{"layout", "the final circuit's values, masks included, size the first prime"},
		{"approx-activations", "the circuit's values, polynomials included, are what the modulus must hold"},
	}},
}

// CheckOrder verifies that every pass's dependencies precede it.
func CheckOrder(pipeline []Pass) error {
	pos := make(map[string]int, len(pipeline))
	for i, p := range pipeline {
		if _, dup := pos[p.Name]; dup {
			return fmt.Errorf("pass %q appears twice", p.Name)
		}
		pos[p.Name] = i
	}
	for i, p := range pipeline {
		for _, d := range p.After {
			j, ok := pos[d.Pass]
			if !ok || j > i {
				return fmt.Errorf("pass %q must run after %q: %s", p.Name, d.Pass, d.Reason)
			}
		}
	}
	return nil
}

// Run applies the pipeline to g, verifying the graph after every pass.
func Run(g *ir.Graph, pipeline []Pass, cfg *Config) error {
	if err := CheckOrder(pipeline); err != nil {
		return err
	}
	for _, p := range pipeline {
		if err := p.Run(g, cfg); err != nil {
			return fmt.Errorf("pass %s: %w", p.Name, err)
		}
		if err := ir.Verify(g); err != nil {
			return fmt.Errorf("after pass %s: %w", p.Name, err)
		}
	}
	return nil
}
