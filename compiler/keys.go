package compiler

import (
	"fmt"

	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/plan"
)

// maxKeyRounds bounds selectPlan's rounds: each one rejects the set it
// planned, and the security table holds few.
const maxKeyRounds = 16

// selectPlan chooses parameters for req and plans the circuit under them
// (build) until the plan's evaluation keys fit req's key budget. The
// workload counts the keys before any plan exists and misses those that
// depend on the ring, such as the input projection's: when the plan's keys
// are over the budget, their count at each level raises the workload's and
// the choice is made again, which rejects that set (its keys now count in
// full). It returns req with the counts raised, for later choices.
func selectPlan(req params.Requirements, build func(params.Set) (*plan.Plan, error)) (params.Requirements, params.Choice, *plan.Plan, error) {
	for range maxKeyRounds {
		choice, err := params.Select(req)
		if err != nil {
			return req, params.Choice{}, nil, err
		}
		pl, err := build(choice.Set)
		if err != nil {
			return req, params.Choice{}, nil, err
		}
		planned := plannedKeys(pl.Spec)
		if choice.EvalKeyBytes(params.Workload{Keys: planned}) <= req.KeyBudget() {
			return req, choice, pl, nil
		}
		keys := make([]float64, max(len(req.Work.Keys), len(planned)))
		copy(keys, req.Work.Keys)
		for l, k := range planned {
			keys[l] = max(keys[l], k)
		}
		req.Work.Keys = keys
	}
	return req, params.Choice{}, nil, fmt.Errorf("%w: the planned evaluation keys were over the %.1f GiB budget in each of %d parameter sets tried",
		params.ErrNoFit, float64(req.KeyBudget())/(1<<30), maxKeyRounds)
}

// plannedKeys counts a plan's evaluation keys at each level.
func plannedKeys(s *plan.Spec) []float64 {
	keys := make([]float64, s.Params.MaxLevel()+1)
	for _, r := range s.Rotations {
		keys[r.Level]++
	}
	if s.Relin {
		keys[s.RelinLevel]++
	}
	return keys
}
