package runtime

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

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
	// Ops counts the circuit's IR nodes by kind: the architecture's shape,
	// never its weights.
	Ops map[string]int `json:"ops"`
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
// and well-formed Galois elements. Files additionally refuse insecure test
// parameters (see parseSpec).
func (s *Spec) Validate() error {
	if err := s.Params.Validate(); err != nil {
		return err
	}
	if s.LogSlots < 0 || s.LogSlots > s.Params.LogSlots() {
		return fmt.Errorf("%w: 2^%d slots in a ring of 2^%d", ErrSpec, s.LogSlots, s.Params.LogSlots())
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
	parts := s.InputCiphertexts()
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
	if s.RelinLevel < 0 || s.RelinLevel > s.Params.MaxLevel() {
		return fmt.Errorf("%w: relinearization key at level %d of %d", ErrSpec, s.RelinLevel, s.Params.MaxLevel())
	}
	if len(s.Ops) > 16 {
		return fmt.Errorf("%w: %d op kinds", ErrSpec, len(s.Ops))
	}
	return nil
}

// Plan derives the spec of a graph that has been through the passes (so its
// levels and layout are set) for a parameter set: the input and output, and
// the exact rotations the linear transformations will perform.
func Plan(model string, g *ir.Graph, set params.Set) (*Spec, error) {
	ins, outs := g.Inputs(), g.Outputs()
	if len(ins) != 1 || len(outs) != 1 {
		return nil, fmt.Errorf("the runtime evaluates circuits with one input and one output; this one has %d and %d", len(ins), len(outs))
	}
	if g.Depth != set.MaxLevel() {
		return nil, fmt.Errorf("circuit depth %d does not match the %d levels of %s", g.Depth, set.MaxLevel(), set)
	}
	if g.LogSlots > set.LogSlots() {
		return nil, fmt.Errorf("layout needs 2^%d slots, %s has 2^%d", g.LogSlots, set, set.LogSlots())
	}
	p, err := NewParameters(set)
	if err != nil {
		return nil, err
	}
	s := &Spec{
		Model:    model,
		Params:   set,
		LogSlots: g.LogSlots,
		Input:    TensorInfo{Name: ins[0].Name, Shape: ins[0].InputShape(), Level: ins[0].Level},
		Output:   TensorInfo{Name: outs[0].Name, Shape: outs[0].Shape, Level: outs[0].Level, Post: outs[0].Post},
		Ops:      g.Counts(),
	}
	if gather := ins[0].Gather; gather != nil {
		s.InputSlots = gather.Slots
		if gather.Parts > 1 {
			s.InputParts = gather.Parts
		}
	}
	// Each key at the highest level it is used at: a key below the
	// ciphertext's level gives a wrong result without an error in Lattigo,
	// one above it only costs size.
	level := map[uint64]int{}
	planned := plans(g)
	for _, n := range g.Nodes {
		switch n.Op {
		case ir.OpActivation:
			return nil, fmt.Errorf("node %s: activation %s has not been approximated by a polynomial", n.Label(), n.Act)
		case ir.OpConst:
			return nil, fmt.Errorf("node %s: a constant survived fold-constants", n.Label())
		case ir.OpMul:
			s.Relin = true
			s.RelinLevel = max(s.RelinLevel, n.Inputs[0].Level, n.Inputs[1].Level)
		case ir.OpPoly:
			if n.Poly.Degree() >= 2 {
				s.Relin = true
				s.RelinLevel = max(s.RelinLevel, n.Inputs[0].Level)
			}
		case ir.OpAffine:
			if n.Linear.Identity {
				continue
			}
			for _, k := range linearKeys(p, g, n, planned[n]) {
				level[k.galois] = max(level[k.galois], k.level)
			}
		}
	}
	for e, l := range level {
		s.Rotations = append(s.Rotations, RotationKey{Galois: e, Level: l})
	}
	slices.SortFunc(s.Rotations, func(a, b RotationKey) int { return cmp.Compare(a.Galois, b.Galois) })
	return s, s.Validate()
}

// diagonalIndices lists the non-zero generalized diagonals of l embedded in
// an n×n matrix: entry (r, c) lies on diagonal (c-r) mod n.
func diagonalIndices(l *ir.Linear, n int) []int {
	seen := make(map[int]bool)
	for r := 0; r < l.Rows; r++ {
		l.Row(r, func(c int, _ float64) { seen[((c-r)%n+n)%n] = true })
	}
	out := make([]int, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// diagonals materialises the non-zero diagonals on n slots, their indices
// taken modulo mod (n, or the period an input repeats with): diag[k][r] =
// W[r][c] for c ≡ r + k.
func diagonals(l *ir.Linear, n, mod int) map[int][]float64 {
	d := make(map[int][]float64)
	for r := 0; r < l.Rows; r++ {
		l.Row(r, func(c int, v float64) {
			k := ((c-r)%mod + mod) % mod
			if d[k] == nil {
				d[k] = make([]float64, n)
			}
			d[k][r] = v
		})
	}
	return d
}

// InputCiphertexts is the number of ciphertexts the client encrypts its
// input in.
func (s *Spec) InputCiphertexts() int { return max(1, s.InputParts) }
