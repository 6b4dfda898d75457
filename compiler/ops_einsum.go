package compiler

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
)

var einsumOps = []opEntry{
	{"Einsum", 12, lowerEinsum,
		"explicit and implicit outputs, ellipsis, diagonals; one encrypted operand gives one affine map, " +
			"each further encrypted operand costs one level"},
}

// einsum is a parsed equation: the letters of each operand and of the
// output, and the size of every letter. Ellipsis axes get letters of
// their own (upper-case runes beyond 'Z' cannot clash with the equation's).
type einsum struct {
	operands [][]rune
	output   []rune
	letters  []rune // every letter, output letters first
	size     map[rune]int
}

func (l *lowerer) parseEinsum(eq string, shapes [][]int) (*einsum, error) {
	eq = strings.ReplaceAll(eq, " ", "")
	lhs, rhs, explicit := strings.Cut(eq, "->")
	terms := strings.Split(lhs, ",")
	if len(terms) != len(shapes) {
		return nil, l.fail(ErrModel, "equation %q has %d operands, the node %d", eq, len(terms), len(shapes))
	}
	e := &einsum{size: map[rune]int{}}
	ellipsis := 0 // axes the ellipsis stands for, the most over operands
	for i, t := range terms {
		k := len([]rune(strings.ReplaceAll(t, "...", "")))
		if strings.Contains(t, "...") {
			ellipsis = max(ellipsis, len(shapes[i])-k)
		}
	}
	ellLetters := make([]rune, ellipsis)
	for i := range ellLetters {
		ellLetters[i] = rune(0x10000 + i)
	}
	expand := func(t string, rank int) ([]rune, error) {
		before, after, has := strings.Cut(t, "...")
		var out []rune
		for _, r := range before {
			out = append(out, r)
		}
		if has {
			n := rank - len([]rune(before)) - len([]rune(after))
			if n < 0 {
				return nil, l.fail(ErrModel, "term %q does not fit rank %d", t, rank)
			}
			out = append(out, ellLetters[ellipsis-n:]...)
		}
		for _, r := range after {
			out = append(out, r)
		}
		for _, r := range out {
			if r < 0x10000 && !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
				return nil, l.fail(ErrModel, "equation %q has an invalid letter %q", eq, r)
			}
		}
		return out, nil
	}
	count := map[rune]int{}
	for i, t := range terms {
		letters, err := expand(t, len(shapes[i]))
		if err != nil {
			return nil, err
		}
		if len(letters) != len(shapes[i]) {
			return nil, l.fail(ErrModel, "term %q does not fit operand %d of shape %v", t, i, shapes[i])
		}
		for a, r := range letters {
			d := shapes[i][a]
			if old, ok := e.size[r]; ok && old != d && old != 1 && d != 1 {
				return nil, l.fail(ErrModel, "letter %q is %d and %d long", r, old, d)
			}
			e.size[r] = max(e.size[r], d)
			count[r]++
		}
		e.operands = append(e.operands, letters)
	}
	if explicit {
		out, err := expand(rhs, ellipsis+len([]rune(strings.ReplaceAll(rhs, "...", ""))))
		if err != nil {
			return nil, err
		}
		for _, r := range out {
			if _, ok := e.size[r]; !ok {
				return nil, l.fail(ErrModel, "output letter %q appears in no operand", r)
			}
		}
		e.output = out
	} else {
		// Implicit output: the ellipsis, then the letters used once, sorted.
		e.output = slices.Clone(ellLetters)
		var once []rune
		for r, c := range count {
			if c == 1 && r < 0x10000 {
				once = append(once, r)
			}
		}
		slices.Sort(once)
		e.output = append(e.output, once...)
	}
	e.letters = slices.Clone(e.output)
	for _, ops := range e.operands {
		for _, r := range ops {
			if !slices.Contains(e.letters, r) {
				e.letters = append(e.letters, r)
			}
		}
	}
	return e, nil
}

// offsets returns, for letters laid out as space, the flat offset an
// increment of each letter moves in a tensor whose axes are term with the
// given shape (0 for a broadcast axis of size 1 or a missing letter).
func (e *einsum) offsets(space, term []rune, shape []int) []int {
	strides := ir.Strides(shape)
	off := make([]int, len(space))
	for a, r := range term {
		if shape[a] == 1 {
			continue
		}
		off[slices.Index(space, r)] += strides[a]
	}
	return off
}

func (e *einsum) shapeOf(letters []rune) []int {
	s := make([]int, len(letters))
	for i, r := range letters {
		s[i] = e.size[r]
	}
	return s
}

func lowerEinsum(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	eq, err := n.AttrString("equation", "")
	if err != nil {
		return nil, err
	}
	if len(ins) == 0 {
		return nil, l.fail(ErrModel, "no operands")
	}
	shapes := make([][]int, len(ins))
	for i := range ins {
		if ins[i], err = l.input(ins, i); err != nil {
			return nil, err
		}
		shapes[i] = ins[i].shape
	}
	e, err := l.parseEinsum(eq, shapes)
	if err != nil {
		return nil, err
	}
	out := e.shapeOf(e.output)
	full := e.shapeOf(e.letters)
	work, err := ir.CheckedNumElements(toInt64(full))
	if err != nil || work > ir.MaxNonZeros {
		return nil, l.errorf("equation %q sums over more than %d terms", eq, ir.MaxNonZeros)
	}
	var enc []int
	for i, v := range ins {
		if !v.isConst() {
			enc = append(enc, i)
		}
	}
	if len(enc) > 1 {
		v, err := l.einsumEncrypted(e, ins, full, out)
		return []*value{v}, err
	}
	// At most one encrypted operand: each output element is a sum over the
	// contracted letters of that operand's elements times the constants'.
	offs := make([][]int, len(ins))
	for i, v := range ins {
		offs[i] = e.offsets(e.letters, e.operands[i], v.shape)
	}
	outOff := e.offsets(e.letters, e.output, out)
	flat := func(idx, off []int) int {
		p := 0
		for a, x := range idx {
			p += x * off[a]
		}
		return p
	}
	idx := make([]int, len(full))
	if len(enc) == 0 {
		t := ir.NewTensor(out...)
		for range work {
			w := 1.0
			for i, v := range ins {
				w *= v.c.Data[flat(idx, offs[i])]
			}
			t.Data[flat(idx, outOff)] += w
			next(idx, full)
		}
		return []*value{constValue(t)}, nil
	}
	src := ins[enc[0]]
	rows, err := l.resultSize(src, out)
	if err != nil {
		return nil, err
	}
	b := ir.NewBuilder(rows, src.size())
	for range work {
		w := 1.0
		for i, v := range ins {
			if i != enc[0] {
				w *= v.c.Data[flat(idx, offs[i])]
			}
		}
		b.Add(flat(idx, outOff), flat(idx, offs[enc[0]]), w)
		next(idx, full)
	}
	lin, err := b.Build(nil, "einsum "+eq)
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	return []*value{l.linear(src, lin, out)}, nil
}

// einsumEncrypted handles several encrypted operands: each is replicated
// over the space of all letters by a selection, the copies are multiplied
// (one level each beyond the first), constant operands multiply in as one
// constant, and an affine map sums the contracted letters away.
func (l *lowerer) einsumEncrypted(e *einsum, ins []*value, full, out []int) (*value, error) {
	var prod *value
	for i, v := range ins {
		off := e.offsets(e.letters, e.operands[i], v.shape)
		rep, err := l.selection(v, full, "einsum operand", 0, func(o []int) (int, bool) {
			p := 0
			for a, x := range o {
				p += x * off[a]
			}
			return p, true
		})
		if err != nil {
			return nil, err
		}
		if prod == nil {
			prod = rep
		} else if prod, err = l.mul(prod, rep); err != nil {
			return nil, err
		}
	}
	outOff := e.offsets(e.letters, e.output, out)
	rows := ir.NumElements(out)
	b := ir.NewBuilder(rows, prod.size())
	idx := make([]int, len(full))
	for col := range prod.size() {
		row := 0
		for a, x := range idx {
			row += x * outOff[a]
		}
		b.Add(row, col, 1)
		next(idx, full)
	}
	lin, err := b.Build(nil, fmt.Sprintf("einsum sum to %v", out))
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	return l.linear(prod, lin, out), nil
}
