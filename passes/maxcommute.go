package passes

import (
	"slices"

	"github.com/hecc-dev/hecc/ir"
)

// ActivationsAfterMax moves a non-decreasing activation that feeds a level
// of a max tree (MaxPool, GlobalMaxPool, ReduceMax lowered as
// max(a, b) = b + relu(a − b)) to after that level: f(max(a, b)) =
// max(f(a), f(b)) for every non-decreasing f, so the rewrite is exact. It
// repeats until the activation has passed the whole tree. ReLU → MaxPool
// then takes the max of the convolution's outputs themselves, whose
// differences the tree's ReLUs approximate, and the trailing ReLU —
// max(m, 0), one more level of the same tree — is applied to a window's
// one value instead of each of its k.
func ActivationsAfterMax(g *ir.Graph, cfg *Config) error {
	moved := 0
	for {
		users := g.Users()
		i := slices.IndexFunc(g.Nodes, func(n *ir.Node) bool { return maxLevelAfter(n, users) != nil })
		if i < 0 {
			break
		}
		a := g.Nodes[i]
		lv := maxLevelAfter(a, users)
		x := a.Inputs[0]
		lv.diff.Inputs[0], lv.sel.Inputs[0] = x, x
		after := &ir.Node{Op: ir.OpActivation, Shape: slices.Clone(lv.add.Shape), Origin: a.Origin, Act: a.Act}
		g.Replace(lv.add, after)
		after.Inputs = []*ir.Node{lv.add}
		j := slices.Index(g.Nodes, lv.add)
		g.Nodes = slices.Insert(g.Nodes, j+1, after)
		moved++
	}
	g.Prune()
	if moved > 0 {
		cfg.logf("activations-after-max", "%d activations moved past a level of a max tree (they commute with max)", moved)
	}
	return nil
}

// maxLevel is one level of a max tree: row r of add is
// sel_r·x + mask_r·relu(diff_r·x), with sel_r = e_j, and diff_r = e_i − e_j
// (max(x_i, x_j)) or a masked or empty row (x_j).
type maxLevel struct {
	diff, sel, add *ir.Node
}

// monotone lists the activations that never decrease, which commute with
// max; leaky ReLU does with a non-negative slope.
func monotone(a *ir.Activation) bool {
	switch a.Func {
	case "relu", "clip", "sigmoid", "tanh", "softplus", "sign":
		return true
	case "leaky_relu":
		return a.Alpha >= 0
	}
	return false
}

// maxLevelAfter returns the level of a max tree that a (a non-decreasing
// activation) is all the input of, or nil.
func maxLevelAfter(a *ir.Node, users map[*ir.Node][]*ir.Node) *maxLevel {
	if a.Op != ir.OpActivation || !monotone(a.Act) || len(users[a]) != 2 {
		return nil
	}
	lv := &maxLevel{}
	var relu, mask *ir.Node
	for _, u := range users[a] {
		if u.Op != ir.OpAffine || len(users[u]) != 1 {
			return nil
		}
		switch r := users[u][0]; {
		case r.Op == ir.OpActivation && r.Act.Func == "relu":
			lv.diff, relu = u, r
		case r.Op == ir.OpAdd:
			lv.sel, lv.add = u, r
		}
	}
	if lv.diff == nil || lv.sel == nil || len(users[relu]) != 1 {
		return nil
	}
	term := relu
	if m := users[relu][0]; m.Op == ir.OpAffine {
		if len(users[m]) != 1 {
			return nil
		}
		mask, term = m, m
	}
	if users[term][0] != lv.add || !slices.Contains(lv.add.Inputs, lv.sel) || !slices.Contains(lv.add.Inputs, term) {
		return nil
	}
	empty, ok := maxRows(lv.diff.Linear, lv.sel.Linear, mask)
	if !ok || len(empty) > 0 && a.Act.Eval(0) != 0 && !unread(lv.add, empty, users) {
		return nil
	}
	return lv
}

// unread reports whether no reader of n reads the given elements of it;
// every reader must then be an affine map.
func unread(n *ir.Node, elems []int, users map[*ir.Node][]*ir.Node) bool {
	skip := make(map[int]bool, len(elems))
	for _, e := range elems {
		skip[e] = true
	}
	for _, u := range users[n] {
		if u.Op != ir.OpAffine || u.Linear.Identity {
			return false
		}
		for _, c := range u.Linear.ColIdx {
			if skip[c] {
				return false
			}
		}
	}
	return true
}

// maxRows checks that every row of sel + mask·relu(diff) is the max of two
// elements of its input, one of them, or zero: a row a tree leaves unused
// (a window shorter than the level's widest), which the activation would
// turn into f(0). It returns those rows.
func maxRows(diff, sel *ir.Linear, mask *ir.Node) ([]int, bool) {
	rows := sel.Rows
	if diff.Rows != rows || diff.Cols != sel.Cols || hasBias(diff) || hasBias(sel) {
		return nil, false
	}
	if mask != nil {
		m := mask.Linear
		if m.Rows != rows || m.Cols != rows || hasBias(m) {
			return nil, false
		}
	}
	var empty []int
	for r := range rows {
		var cols []int
		var vals []float64
		sel.Row(r, func(c int, v float64) { cols, vals = append(cols, c), append(vals, v) })
		j := -1
		switch {
		case len(cols) == 1 && vals[0] == 1:
			j = cols[0]
		case len(cols) > 0:
			return nil, false
		}
		keep := 1.0
		if mask != nil {
			keep = 0
			ok := true
			mask.Linear.Row(r, func(c int, v float64) {
				ok = ok && c == r
				keep += v
			})
			if !ok {
				return nil, false
			}
		}
		plus, minus, entries := -1, -1, 0
		diff.Row(r, func(c int, v float64) {
			entries++
			switch v {
			case 1:
				plus = c
			case -1:
				minus = c
			}
		})
		switch {
		case j < 0 && (entries == 0 || keep == 0):
			empty = append(empty, r)
		case j < 0:
			return nil, false
		case entries == 0 || keep == 0: // x_j, relu(0) = 0 or masked
		case keep == 1 && entries == 2 && minus == j && plus >= 0 && plus != j: // max(x_plus, x_j)
		default:
			return nil, false
		}
	}
	return empty, true
}

func hasBias(l *ir.Linear) bool {
	return slices.ContainsFunc(l.Bias, func(v float64) bool { return v != 0 })
}
