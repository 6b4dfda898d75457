package passes

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hecc-dev/hecc/ir"
)

// Depth budget of the approximation search.
//
// The parameters hold a circuit of bounded depth (the security bound on
// the modulus, the primes a chain may have, the memory of the keys), and
// the activations' forms are most of a deep net's depth. When the forms
// the search settles on make a circuit deeper than ApproxConfig.
// MaxCircuitDepth, it searches again with every candidate over the budget
// pruned before it is simulated; if none within the budget meets the
// target, it refuses with the depth the target needs, the depth available
// and the best it reached within it.

// ErrOverDepth reports an accuracy target only a circuit deeper than the
// parameters allow meets.
var ErrOverDepth = errors.New("accuracy target needs more depth than the parameters hold")

// DepthError is ErrOverDepth (and ErrTargetUnreachable) with what the
// search found: the depth the target needs and with which forms, the
// depth available, and the best it reached within it.
type DepthError struct {
	Needed, Available int
	NeededForms       string
	BestDepth         int
	// Best is what the best candidate within the budget reaches ("" for
	// none), with its forms; Relaxed is the configuration whose target it meets, and Flag
	// the option that sets it ("" when no useful target would).
	Best, BestForms string
	Relaxed         ApproxConfig
	Flag            string
	what            string // the criterion and its target
	// Advice is what a caller verified would work, appended to the message.
	Advice []string
}

func (e *DepthError) Error() string {
	within := "no candidate within it keeps every activation's input inside its polynomial's domain"
	if e.Best != "" {
		within = fmt.Sprintf("the best the search found within it reaches %s (%s, depth %d)", e.Best, e.BestForms, e.BestDepth)
	}
	msg := fmt.Sprintf("%v: %s needs a circuit of depth %d (%s), the parameters hold depth %d; %s",
		ErrOverDepth, e.what, e.Needed, e.NeededForms, e.Available, within)
	if len(e.Advice) > 0 {
		msg += ": " + strings.Join(e.Advice, "; ")
	}
	return msg
}

func (e *DepthError) Unwrap() []error { return []error{ErrOverDepth, ErrTargetUnreachable} }

// circuitDepth is the depth of the circuit with every target in its form,
// as the depth pass will count it once squash-affine has composed each
// chain of affine maps into one (one level, none if all are identities).
// It does not see the levels later passes may add (a map squashing keeps
// apart, a scale alignment, an output mask): the caller that sets the
// budget measures those on the compiled circuit.
func (s *search) circuitDepth(forms []form) int {
	if s.users == nil {
		s.users = s.g.Users()
		s.targetOf = make(map[*ir.Node]int, len(s.targets))
		for i, t := range s.targets {
			s.targetOf[t.node] = i
		}
	}
	depth := make(map[*ir.Node]int, len(s.g.Nodes))
	paid := map[*ir.Node]bool{} // an affine chain whose level is counted
	total := 0
	for _, n := range s.g.Nodes {
		d := 0
		for _, in := range n.Inputs {
			d = max(d, depth[in])
		}
		switch {
		case n.Op == ir.OpActivation:
			if i, ok := s.targetOf[n]; ok {
				d += forms[i].depth()
			}
		case n.Op == ir.OpAffine:
			in := n.Inputs[0]
			level := !n.Linear.Identity
			if in.Op == ir.OpAffine && len(s.users[in]) == 1 {
				paid[n] = paid[in] || level
				d = depth[in]
				if level && !paid[in] {
					d++
				}
			} else if level {
				paid[n] = true
				d++
			}
		default:
			d += levelCost(n)
		}
		depth[n] = d
		total = max(total, d)
	}
	return total
}

// fits reports whether forms keep the circuit within the budget.
func (s *search) fits(forms []form) bool {
	return s.budget == 0 || s.circuitDepth(forms) <= s.budget
}

// withinBudget searches again, with every candidate deeper than
// MaxCircuitDepth pruned, after the forms of needed made the circuit too
// deep: it returns the outcome that meets the target within the budget,
// or a DepthError.
func (s *search) withinBudget(needed *outcome) (*outcome, error) {
	s.budget = s.cfg.MaxCircuitDepth
	s.best, s.bestScore, s.bestMet, s.bestOutcome = "", 0, false, nil
	o, err := s.singleFits()
	if err != nil {
		return nil, err
	}
	if !o.met {
		if o, err = s.composites(); err != nil {
			return nil, err
		}
	}
	if o != nil && o.met && s.fits(o.forms) {
		s.budgetNote = fmt.Sprintf("; within the circuit depth the parameters hold (%d; the cheapest forms need %d: %s)",
			s.budget, s.circuitDepth(needed.forms), formsText(needed.forms))
		return s.cheaperComposites(o)
	}
	e := &DepthError{Needed: s.circuitDepth(needed.forms), NeededForms: formsText(needed.forms), Available: s.budget,
		what: s.crit.name() + " " + s.crit.targetText()}
	if b := s.bestOutcome; b != nil {
		e.Best = fmt.Sprintf("%s %s", s.crit.name(), s.crit.value(b.r))
		e.BestForms, e.BestDepth = formsText(b.forms), s.circuitDepth(b.forms)
		e.Relaxed, e.Flag = s.crit.relax(b.r, s.cfg)
	}
	return nil, e
}

// deepestSingle is the deepest single fit of target i within --max-depth
// that keeps the circuit within the budget, the others in forms, or false.
func (s *search) deepestSingle(forms []form, i int) (form, bool) {
	cand := append([]form(nil), forms...)
	for d := s.cfg.MaxDepth; d >= 1; d-- {
		cand[i] = single(1<<d - 1)
		if s.fits(cand) {
			return cand[i], true
		}
	}
	return form{}, false
}
