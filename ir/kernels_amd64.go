package ir

import "sync"

// hasAVX reports whether the processor and the operating system support
// AVX: clenshaw16 needs its 256-bit registers.
var hasAVX = func() bool {
	_, _, ecx, _ := cpuid(1, 0)
	const osxsave, avx = 1 << 27, 1 << 28
	// XCR0 bits 1 and 2: the OS saves the SSE and AVX registers.
	return ecx&osxsave != 0 && ecx&avx != 0 && xgetbv()&6 == 6
}()

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

func xgetbv() uint32

// clenshaw16 is Clenshaw on the first len(t)/16·16 values, sixteen at a
// time in four 256-bit chains, every value rounded as Clenshaw's scalar
// loop rounds it: ((2t·a − b) + c_k) at each step, t·a − b + c_0 last.
// len(c) ≥ 1.
//
//go:noescape
func clenshaw16(y, c, t []float64)

// clenshawBlocks evaluates the values it can with AVX and returns how
// many.
func clenshawBlocks(y, c, t []float64) int {
	if !hasAVX || len(t) < 16 || len(y) < len(t) {
		return 0
	}
	clenshaw16(y, c, t)
	return len(t) &^ 15
}

// product8x is product4x for eight samples: x[8c+s], y[8r+s].
//
//go:noescape
func product8x(y, x []float64, ptr, cols []int, vals []float64, ncols int) bool

// product4x sets y[4r+s] to row r of the matrix (ptr, cols, vals) times
// sample s of x, x holding the four samples' values interleaved (x[4c+s]),
// every row's terms added in order as product4 adds them. It returns
// false, with y partly set, at a column outside the ncols of x.
//
//go:noescape
func product4x(y, x []float64, ptr, cols []int, vals []float64, ncols int) bool

// interleaved holds the buffers of productBlocks: the samples' inputs
// and outputs interleaved.
var interleaved = sync.Pool{New: func() any { return new([]float64) }}

// productBlocks is product4 with AVX, for four or eight samples, when the
// processor has it, the matrix has enough entries per row and column to
// pay for interleaving the samples, and its structure keeps every read
// inside it: it reports whether it did the product.
func productBlocks(l *Linear, ys, xs [][]float64) bool {
	n := len(xs)
	if !hasAVX || n != 4 && n != 8 || len(l.Vals) < 4*(l.Rows+l.Cols) || !l.rowsInBounds() {
		return false
	}
	xp, yp := interleaved.Get().(*[]float64), interleaved.Get().(*[]float64)
	defer interleaved.Put(xp)
	defer interleaved.Put(yp)
	x := grow(xp, n*l.Cols)
	for s, xs := range xs {
		for c, v := range xs[:l.Cols] {
			x[n*c+s] = v
		}
	}
	y := grow(yp, n*l.Rows)
	product := product4x
	if n == 8 {
		product = product8x
	}
	if !product(y, x, l.RowPtr, l.ColIdx, l.Vals, l.Cols) {
		return false // a column outside the matrix: the Go loop says where
	}
	for s, ys := range ys {
		for r := range ys[:l.Rows] {
			ys[r] = y[n*r+s]
		}
	}
	return true
}

// grow makes *b at least n long and returns its first n values.
func grow(b *[]float64, n int) []float64 {
	if cap(*b) < n {
		*b = make([]float64, n)
	}
	return (*b)[:n]
}

// rowsInBounds reports whether every row's entries are entries of the
// matrix, as check requires of a verified map: product4x reads them
// without bounds checks (it checks each column against the matrix's).
func (l *Linear) rowsInBounds() bool {
	nnz := len(l.ColIdx)
	if len(l.RowPtr) != l.Rows+1 || len(l.Vals) != nnz {
		return false
	}
	for _, k := range l.RowPtr {
		if uint(k) > uint(nnz) {
			return false
		}
	}
	return true
}
