// Package plan decides how a compiled graph is evaluated under encryption:
// the spec the client needs (input and output, parameters, the rotation
// keys and their levels), the form, diagonals and baby-step giant-step
// split of every linear transformation, the block sums, the projection of
// the client's input onto its layout (projection.go), the exact scale of
// every value, the workload the parameter choice costs, and the memory the
// encoded weights take (memory.go). The compiler plans with it, and the
// runtime executes what it decides, never deciding itself: both agree
// because there is one planner.
//
// The package uses the standard library only; the runtime supplies what
// only Lattigo knows (the primes of the modulus chain).
package plan

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
)

// Plan is how a graph is evaluated with one parameter set.
type Plan struct {
	Spec *Spec
	// Linear holds the plan of every affine node that is not the identity.
	Linear map[*ir.Node]*Linear
	// Unrelinearized, for a batch circuit, holds the products (of two
	// ciphertexts, or squares) left as degree-2 ciphertexts: every reader
	// is an affine map that sums their three polynomials and relinearizes
	// its outputs instead (see lazyProducts).
	Unrelinearized map[*ir.Node]bool
	Graph          *ir.Graph // planned
}

// ErrMismatch reports a spec that is not what this planner makes of its
// graph.
var ErrMismatch = errors.New("the spec does not match the plan of its graph")

// Build plans a graph that has been through the passes (so its levels and
// layout are set) for a parameter set: the spec, with the exact rotations
// the linear transformations will perform, and those transformations.
func Build(model string, g *ir.Graph, set params.Set) (*Plan, error) {
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
	if err := set.Validate(); err != nil {
		return nil, err
	}
	if set.LogOutputScale != 0 {
		return nil, fmt.Errorf("%s: the packed layout's output is at the circuit's scale, not at a lower output scale", set)
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
	planned := linears(g)
	if users := g.Users()[ins[0]]; len(users) == 1 && planned[users[0]] != nil {
		planned[users[0]].Projection = newProjection(ins[0], g.LogSlots, set.LogSlots())
		s.InputProjected = true
	}
	for _, n := range g.Nodes {
		if err := recordProducts(s, n); err != nil {
			return nil, err
		}
		switch n.Op {
		case ir.OpAffine:
			if n.Linear.Identity {
				continue
			}
			for _, k := range planned[n].Keys(n, set.LogN) {
				level[k.Galois] = max(level[k.Galois], k.Level)
			}
		}
	}
	for e, l := range level {
		s.Rotations = append(s.Rotations, RotationKey{Galois: e, Level: l})
	}
	slices.SortFunc(s.Rotations, func(a, b RotationKey) int { return cmp.Compare(a.Galois, b.Galois) })
	return validPlan(&Plan{Spec: s, Linear: planned, Graph: g})
}

// validPlan records the output precision the plan guarantees in its spec
// and validates the spec.
func validPlan(p *Plan) (*Plan, error) {
	if err := p.setOutputStep(); err != nil {
		return nil, err
	}
	if err := p.Spec.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Rebuild plans g as spec says it was planned: in the spec's layout, with
// its parameters and batch size. Check then compares the result with spec.
func Rebuild(spec *Spec, g *ir.Graph) (*Plan, error) {
	var p *Plan
	var err error
	if spec.Batched() {
		p, err = BuildBatch(spec.Model, g, spec.Params, spec.Batch)
	} else {
		p, err = Build(spec.Model, g, spec.Params)
	}
	if err != nil {
		return nil, err
	}
	if err := p.SetCircuitPrivacy(spec.CircuitPrivacyBits); err != nil {
		return nil, err
	}
	return p, nil
}

// Check refuses a spec that is not the one this plan derives: a circuit
// compiled by another planner or file format, or altered since.
func (p *Plan) Check(spec *Spec) error {
	// The input scaling and range, and whether decryption rounds, are
	// recorded beside the plan: the graph does not determine them.
	planned := *p.Spec
	planned.InputScaling, planned.InputRange, planned.OutputRounded = spec.InputScaling, spec.InputRange, spec.OutputRounded
	if got, want := spec.Fingerprint(), planned.Fingerprint(); got != want {
		return fmt.Errorf("%w: the circuit's spec (compile %s) is not what this hecc plans for its graph (%s): it was compiled by another planner or file format, or altered; recompile the model",
			ErrMismatch, spec.ShortFingerprint(), planned.ShortFingerprint())
	}
	return nil
}

// String lists, for every affine map in graph order, its form, diagonals,
// split and block sum with the levels they rotate at, then the spec's keys
// (Galois element@level): a readable account of the plan for reviews and
// golden files.
func (p *Plan) String() string {
	var b strings.Builder
	for i, n := range p.Graph.Nodes {
		pl := p.Linear[n]
		if pl == nil {
			continue
		}
		fmt.Fprintf(&b, "%%%d %s", i, pl.Form)
		switch pl.Form {
		case Parts:
			fmt.Fprintf(&b, ": %d parts, no rotation\n", pl.Parts)
			writeProjection(&b, n, pl)
			continue
		case Scalars:
			fmt.Fprintf(&b, " at level %d: %d outputs, %d ciphertext × scalar products, no rotation\n", n.Inputs[0].Level, n.Size(), pl.Products)
			continue
		case Hybrid:
			fmt.Fprintf(&b, " block %d", pl.Block)
		case Standard:
			if pl.Period > 0 {
				fmt.Fprintf(&b, " period %d", pl.Period)
			}
			if pl.Repeats {
				b.WriteString(" repeating")
			}
		}
		fmt.Fprintf(&b, " at level %d: %d diagonals, %d giant steps %v, %d baby steps %v\n", n.Inputs[0].Level,
			len(pl.Diagonals), pl.Split.Giants(), nonZeroSteps(pl.Split.Giant), pl.Split.Babies(), nonZeroSteps(pl.Split.Baby))
		if pl.Form == Hybrid {
			fmt.Fprintf(&b, "  block sum at level %d: %d stages %v\n", n.Level, len(pl.BlockSum), pl.BlockSum)
		}
		writeProjection(&b, n, pl)
	}
	if p.Spec.Relin {
		fmt.Fprintf(&b, "relinearization key at level %d\n", p.Spec.RelinLevel)
	}
	fmt.Fprintf(&b, "%d rotation keys (Galois element@level):", len(p.Spec.Rotations))
	for _, k := range p.Spec.Rotations {
		fmt.Fprintf(&b, " %d@%d", k.Galois, k.Level)
	}
	b.WriteString("\n")
	return b.String()
}

func nonZeroSteps(steps []int) []int {
	return slices.DeleteFunc(slices.Clone(steps), func(r int) bool { return r == 0 })
}

// writeProjection describes the input projection of n's plan, if any.
func writeProjection(b *strings.Builder, n *ir.Node, pl *Linear) {
	if pj := pl.Projection; pj != nil {
		fmt.Fprintf(b, "  input projection at level %d: conjugation, trace %v, weights × %g\n", n.Inputs[0].Level, pj.Trace, pj.Factor)
	}
}

// recordProducts refuses a node no layout can evaluate encrypted and
// records in s the relinearization key a product or a polynomial needs, at
// the highest level it is used.
func recordProducts(s *Spec, n *ir.Node) error {
	switch n.Op {
	case ir.OpActivation:
		return fmt.Errorf("node %s: activation %s has not been approximated by a polynomial", n.Label(), n.Act)
	case ir.OpConst:
		return fmt.Errorf("node %s: a constant survived fold-constants", n.Label())
	case ir.OpMul:
		s.Relin = true
		s.RelinLevel = max(s.RelinLevel, n.Inputs[0].Level, n.Inputs[1].Level)
	case ir.OpPoly:
		if n.Poly.Degree() >= 2 {
			s.Relin = true
			s.RelinLevel = max(s.RelinLevel, n.Inputs[0].Level)
		}
	}
	return nil
}
