package ir

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Linear is the affine map y = W·x + b with W a Rows×Cols sparse matrix in
// compressed sparse row form. An identity map (a reshape) has no entries
// and Identity set, so it costs nothing to store or to compose.
type Linear struct {
	Rows, Cols int
	Identity   bool
	RowPtr     []int // len Rows+1; row r's entries are [RowPtr[r], RowPtr[r+1])
	ColIdx     []int
	Vals       []float64
	Bias       []float64 // nil or len Rows
	// Desc says what the map computes ("conv 5@5x5 s2 p1", "gemm 845→100"),
	// joined with " ∘ " when maps are composed; the printer shows it.
	Desc string
	// Geometry, when set, says the map is convolution-like; the layout pass
	// uses it to place outputs where their inputs are. It never changes
	// what the map computes.
	Geometry *Geometry
}

// Geometry relates a convolution-like map's output positions to its input
// positions, on tensors [N, C, spatial…] of the same rank: output position
// e (per spatial axis) reads a window anchored at input position
// Stride·e − Pad. Channels may mix arbitrarily.
type Geometry struct {
	Stride []int
	Pad    []int
}

// SameGeometry is the geometry of an element-wise map on k spatial axes.
func SameGeometry(k int) *Geometry {
	g := &Geometry{Stride: make([]int, k), Pad: make([]int, k)}
	for i := range g.Stride {
		g.Stride[i] = 1
	}
	return g
}

// composeGeometry is outer∘inner: anchor = s_in·(s_out·e − p_out) − p_in.
func composeGeometry(outer, inner *Geometry) *Geometry {
	if outer == nil || inner == nil || len(outer.Stride) != len(inner.Stride) {
		return nil
	}
	g := &Geometry{Stride: make([]int, len(outer.Stride)), Pad: make([]int, len(outer.Stride))}
	for d := range g.Stride {
		g.Stride[d] = outer.Stride[d] * inner.Stride[d]
		g.Pad[d] = inner.Stride[d]*outer.Pad[d] + inner.Pad[d]
	}
	return g
}

// MaxNonZeros bounds the entries of one affine map (12 bytes each, ~1.5 GiB).
const MaxNonZeros = 1 << 27

// ErrTooLarge reports a linear map or tensor beyond the compiler's bounds.
var ErrTooLarge = errors.New("too large")

// NewIdentity is the identity on n values (a reshape or a flatten).
func NewIdentity(n int, desc string) *Linear {
	return &Linear{Rows: n, Cols: n, Identity: true, Desc: desc}
}

// NNZ is the number of stored entries; an identity counts its diagonal.
func (l *Linear) NNZ() int {
	if l.Identity {
		return l.Rows
	}
	return len(l.Vals)
}

// IsNoop reports whether the map is the identity with no bias: evaluating
// it costs nothing.
func (l *Linear) IsNoop() bool { return l.Identity && l.Bias == nil }

// Builder accumulates entries of a Rows×Cols matrix in any order; entries at
// the same position are summed.
type Builder struct {
	rows, cols int
	r, c       []int
	v          []float64
}

// NewBuilder starts a rows×cols matrix.
func NewBuilder(rows, cols int) *Builder { return &Builder{rows: rows, cols: cols} }

// Add records W[r][c] += v. Zero values are dropped.
func (b *Builder) Add(r, c int, v float64) {
	if v == 0 {
		return
	}
	b.r = append(b.r, r)
	b.c = append(b.c, c)
	b.v = append(b.v, v)
}

// Len is the number of entries recorded so far, for callers that bound work.
func (b *Builder) Len() int { return len(b.v) }

// Build returns the matrix with the given bias (nil for none).
func (b *Builder) Build(bias []float64, desc string) (*Linear, error) {
	if len(b.v) > MaxNonZeros {
		return nil, fmt.Errorf("%s: %d non-zero weights: %w", desc, len(b.v), ErrTooLarge)
	}
	for i := range b.r {
		if b.r[i] < 0 || b.r[i] >= b.rows || b.c[i] < 0 || b.c[i] >= b.cols {
			return nil, fmt.Errorf("%s: entry (%d,%d) outside a %d×%d matrix", desc, b.r[i], b.c[i], b.rows, b.cols)
		}
	}
	idx := make([]int, len(b.v))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(i, j int) int {
		if b.r[i] != b.r[j] {
			return b.r[i] - b.r[j]
		}
		return b.c[i] - b.c[j]
	})
	l := &Linear{Rows: b.rows, Cols: b.cols, RowPtr: make([]int, b.rows+1), Bias: bias, Desc: desc}
	for k, i := range idx {
		if k > 0 && b.r[i] == b.r[idx[k-1]] && b.c[i] == b.c[idx[k-1]] {
			l.Vals[len(l.Vals)-1] += b.v[i]
			continue
		}
		l.ColIdx = append(l.ColIdx, b.c[i])
		l.Vals = append(l.Vals, b.v[i])
		l.RowPtr[b.r[i]+1] = len(l.Vals)
	}
	for r := 1; r <= b.rows; r++ {
		l.RowPtr[r] = max(l.RowPtr[r], l.RowPtr[r-1])
	}
	return l, nil
}

// Apply computes W·x + b.
func (l *Linear) Apply(x []float64) []float64 {
	y := make([]float64, l.Rows)
	l.ApplyTo(y, x)
	return y
}

// ApplyTo is Apply into y, of length Rows (y must not overlap x).
func (l *Linear) ApplyTo(y, x []float64) {
	if l.Identity {
		copy(y, x)
	} else {
		l.product(y, x)
	}
	l.addBias(y)
}

// ApplyBatch sets ys[s] to W·xs[s] + b for every sample s, each ys[s] of
// length Rows and overlapping no input. Samples go through the matrix
// eight at a time where the processor has vector registers, else four, so
// that each entry is read once for several of them; every sample's row
// sums run in Apply's order, so each ys[s] is Apply(xs[s]) bit for bit.
func (l *Linear) ApplyBatch(ys, xs [][]float64) {
	s := 0
	if !l.Identity {
		for _, n := range []int{8, 4} {
			for ; s+n <= len(xs); s += n {
				if n == 8 && !productBlocks(l, ys[s:s+8:s+8], xs[s:s+8:s+8]) {
					break
				}
				if n == 4 {
					l.product4(ys[s:s+4:s+4], xs[s:s+4:s+4])
				}
				for _, y := range ys[s : s+n] {
					l.addBias(y)
				}
			}
		}
	}
	for ; s < len(xs); s++ {
		l.ApplyTo(ys[s], xs[s])
	}
}

// product4 is product for four samples: one pass over the matrix, four
// independent chains of additions.
func (l *Linear) product4(ys, xs [][]float64) {
	if productBlocks(l, ys, xs) {
		return
	}
	ptr, cols, vals := l.RowPtr, l.ColIdx, l.Vals
	x0, x1, x2, x3 := xs[0], xs[1], xs[2], xs[3]
	y0, y1, y2, y3 := ys[0][:l.Rows], ys[1][:l.Rows], ys[2][:l.Rows], ys[3][:l.Rows]
	for r := range y0 {
		var s0, s1, s2, s3 float64
		for k := ptr[r]; k < ptr[r+1]; k++ {
			c, v := cols[k], vals[k]
			s0 += v * x0[c]
			s1 += v * x1[c]
			s2 += v * x2[c]
			s3 += v * x3[c]
		}
		y0[r], y1[r], y2[r], y3[r] = s0, s1, s2, s3
	}
}

func (l *Linear) addBias(y []float64) {
	for r, b := range l.Bias {
		y[r] += b
	}
}

// product sets y to the map's matrix times x. Four rows are summed in one
// loop, each in its own order: the four independent chains of additions
// keep the processor busy where one would wait on each sum, and every
// row's result is the one a row at a time gives.
func (l *Linear) product(y, x []float64) {
	ptr, cols, vals := l.RowPtr, l.ColIdx, l.Vals
	r := 0
	for ; r+4 <= l.Rows; r += 4 {
		k0, k1, k2, k3 := ptr[r], ptr[r+1], ptr[r+2], ptr[r+3]
		n := min(k1-k0, k2-k1, k3-k2, ptr[r+4]-k3)
		var s0, s1, s2, s3 float64
		for j := range n {
			s0 += vals[k0+j] * x[cols[k0+j]]
			s1 += vals[k1+j] * x[cols[k1+j]]
			s2 += vals[k2+j] * x[cols[k2+j]]
			s3 += vals[k3+j] * x[cols[k3+j]]
		}
		y[r] = rowTail(s0, k0+n, ptr[r+1], cols, vals, x)
		y[r+1] = rowTail(s1, k1+n, ptr[r+2], cols, vals, x)
		y[r+2] = rowTail(s2, k2+n, ptr[r+3], cols, vals, x)
		y[r+3] = rowTail(s3, k3+n, ptr[r+4], cols, vals, x)
	}
	for ; r < l.Rows; r++ {
		y[r] = rowTail(0, ptr[r], ptr[r+1], cols, vals, x)
	}
}

// rowTail adds entries [from, to) times x to the partial sum s.
func rowTail(s float64, from, to int, cols []int, vals, x []float64) float64 {
	for k := from; k < to; k++ {
		s += vals[k] * x[cols[k]]
	}
	return s
}

// Row calls f for every stored entry of row r (the diagonal for an identity).
func (l *Linear) Row(r int, f func(c int, v float64)) {
	if l.Identity {
		f(r, 1)
		return
	}
	for k := l.RowPtr[r]; k < l.RowPtr[r+1]; k++ {
		f(l.ColIdx[k], l.Vals[k])
	}
}

// Compose returns outer∘inner: x ↦ outer(inner(x)).
func Compose(outer, inner *Linear) (*Linear, error) {
	if outer.Cols != inner.Rows {
		return nil, fmt.Errorf("cannot compose %s (%d inputs) after %s (%d outputs)", outer.Desc, outer.Cols, inner.Desc, inner.Rows)
	}
	desc := outer.Desc + " ∘ " + inner.Desc
	bias := composeBias(outer, inner)
	geom := composeGeometry(outer.Geometry, inner.Geometry)
	switch {
	case outer.Identity && inner.Identity:
		l := NewIdentity(outer.Rows, desc)
		l.Bias = bias
		return l, nil
	case outer.Identity:
		l := inner.clone()
		l.Bias, l.Desc = bias, desc
		return l, nil
	case inner.Identity:
		l := outer.clone()
		l.Bias, l.Desc = bias, desc
		return l, nil
	}
	// Gustavson's row-by-row sparse product with a dense accumulator.
	l := &Linear{Rows: outer.Rows, Cols: inner.Cols, RowPtr: make([]int, outer.Rows+1), Bias: bias, Desc: desc, Geometry: geom}
	acc := make([]float64, inner.Cols)
	seen := make([]bool, inner.Cols)
	var cols []int
	for r := 0; r < outer.Rows; r++ {
		cols = cols[:0]
		for k := outer.RowPtr[r]; k < outer.RowPtr[r+1]; k++ {
			m, w := outer.ColIdx[k], outer.Vals[k]
			for j := inner.RowPtr[m]; j < inner.RowPtr[m+1]; j++ {
				c := inner.ColIdx[j]
				if !seen[c] {
					seen[c] = true
					cols = append(cols, c)
				}
				acc[c] += w * inner.Vals[j]
			}
		}
		slices.Sort(cols)
		for _, c := range cols {
			if acc[c] != 0 {
				l.ColIdx = append(l.ColIdx, c)
				l.Vals = append(l.Vals, acc[c])
			}
			acc[c], seen[c] = 0, false
		}
		if len(l.Vals) > MaxNonZeros {
			return nil, fmt.Errorf("composing %s: more than %d non-zero weights: %w", desc, MaxNonZeros, ErrTooLarge)
		}
		l.RowPtr[r+1] = len(l.Vals)
	}
	return l, nil
}

// composeBias is outer.W·inner.b + outer.b, or nil when both are absent.
func composeBias(outer, inner *Linear) []float64 {
	if inner.Bias == nil && outer.Bias == nil {
		return nil
	}
	var b []float64
	if inner.Bias != nil {
		b = (&Linear{Rows: outer.Rows, Cols: outer.Cols, Identity: outer.Identity,
			RowPtr: outer.RowPtr, ColIdx: outer.ColIdx, Vals: outer.Vals}).Apply(inner.Bias)
	} else {
		b = make([]float64, outer.Rows)
	}
	for i, v := range outer.Bias {
		b[i] += v
	}
	return b
}

func (l *Linear) clone() *Linear {
	c := *l
	c.RowPtr = slices.Clone(l.RowPtr)
	c.ColIdx = slices.Clone(l.ColIdx)
	c.Vals = slices.Clone(l.Vals)
	c.Bias = slices.Clone(l.Bias)
	return &c
}

// Sum returns the map x ↦ a(x) + b(x) of two maps with the same dimensions.
func Sum(a, b *Linear) (*Linear, error) {
	if a.Rows != b.Rows || a.Cols != b.Cols {
		return nil, fmt.Errorf("cannot add %s (%d×%d) and %s (%d×%d)", a.Desc, a.Rows, a.Cols, b.Desc, b.Rows, b.Cols)
	}
	bld := NewBuilder(a.Rows, a.Cols)
	for _, l := range []*Linear{a, b} {
		for r := 0; r < l.Rows; r++ {
			l.Row(r, func(c int, v float64) { bld.Add(r, c, v) })
		}
	}
	var bias []float64
	if a.Bias != nil || b.Bias != nil {
		bias = make([]float64, a.Rows)
		for i := range bias {
			if a.Bias != nil {
				bias[i] += a.Bias[i]
			}
			if b.Bias != nil {
				bias[i] += b.Bias[i]
			}
		}
	}
	return bld.Build(bias, "("+a.Desc+" + "+b.Desc+")")
}

// check validates the CSR structure and the values.
func (l *Linear) check() error {
	if l.Rows <= 0 || l.Cols <= 0 {
		return fmt.Errorf("linear map has %d×%d dimensions", l.Rows, l.Cols)
	}
	if l.Bias != nil && len(l.Bias) != l.Rows {
		return fmt.Errorf("bias has %d values for %d rows", len(l.Bias), l.Rows)
	}
	for _, b := range l.Bias {
		if math.IsNaN(b) || math.IsInf(b, 0) {
			return fmt.Errorf("bias holds %v", b)
		}
	}
	if l.Identity {
		if l.Rows != l.Cols || len(l.Vals) != 0 {
			return fmt.Errorf("identity map is %d×%d with %d entries", l.Rows, l.Cols, len(l.Vals))
		}
		return nil
	}
	if len(l.RowPtr) != l.Rows+1 || l.RowPtr[0] != 0 || l.RowPtr[l.Rows] != len(l.Vals) || len(l.ColIdx) != len(l.Vals) {
		return fmt.Errorf("sparse matrix structure is inconsistent (%d rows, %d row pointers, %d values, %d column indices)",
			l.Rows, len(l.RowPtr), len(l.Vals), len(l.ColIdx))
	}
	for r := 0; r < l.Rows; r++ {
		if l.RowPtr[r] > l.RowPtr[r+1] {
			return fmt.Errorf("row pointers decrease at row %d", r)
		}
		prev := -1
		for k := l.RowPtr[r]; k < l.RowPtr[r+1]; k++ {
			c := l.ColIdx[k]
			if c <= prev || c >= l.Cols {
				return fmt.Errorf("row %d: column %d out of order or outside %d columns", r, c, l.Cols)
			}
			prev = c
			if v := l.Vals[k]; math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("weight (%d,%d) is %v", r, c, v)
			}
		}
	}
	return nil
}
