package runtime

import (
	"math"
	"math/bits"

	"github.com/tuneinsight/lattigo/v5/ring"
	"golang.org/x/sys/cpu"
)

func init() {
	if cpu.X86.HasAVX2 {
		rowKernel, rowsKernel, splitKernel = accumulateRowAVX2, accumulateRowsAVX2, accumulateSplitAVX2
	}
	if cpu.X86.HasAVX512F {
		rowsKernel = accumulateRowsAVX512
	}
	if cpu.X86.HasAVX512IFMA {
		splitKernel, splitRowsKernel = accumulateSplitIFMA, accumulateSplitRowsIFMA
	}
}

// mac1x4AVX2 sets a[t] += Σ_c xc[t]·w[c] over the columns x0 … x3, for t
// in [0, n), four coefficients at a time: n is a multiple of 4, every x
// and w below 2^32.
//
//go:noescape
func mac1x4AVX2(a, x0, x1, x2, x3 *uint64, n int, w *[4]uint64)

// foldAVX2 sets a[t] = (a[t]>>32)·c + (a[t] mod 2^32) for t in [0, n),
// four coefficients at a time: n is a multiple of 4, c below 2^32.
//
//go:noescape
func foldAVX2(a *uint64, n int, c uint64)

// foldAll folds every sum of acc with c = 2^32 mod q (see foldTerms).
func foldAll(acc []uint64, c uint64) {
	vec := len(acc) &^ 3
	if vec > 0 {
		foldAVX2(&acc[0], vec, c)
	}
	for t := vec; t < len(acc); t++ {
		acc[t] = acc[t]>>32*c + acc[t]&(1<<32-1)
	}
}

// accumulateRowAVX2 is accumulateRow with AVX2's four 32-bit products per
// instruction, four columns at a time, the sums folded (foldTerms) rather
// than reduced between.
func accumulateRowAVX2(acc []uint64, x [][]uint64, cols []int, w []uint64, q uint64, bred []uint64, lazy int) {
	c, fold := foldTerms(q)
	if lazy < 8 || fold < 4 {
		accumulateRow(acc, x, cols, w, q, bred, lazy)
		return
	}
	n := len(acc)
	vec := n &^ 3
	clear(acc)
	held := 0
	for k := 0; k < len(cols); k += 4 {
		if held+4 > fold {
			foldAll(acc, c)
			held = 0
		}
		var xs [4][]uint64
		var ws [4]uint64 // past the last column, weights 0 on the last one
		for c := range xs {
			xs[c] = x[cols[min(k+c, len(cols)-1)]][:n]
			if k+c < len(cols) {
				ws[c] = w[k+c]
			}
		}
		if vec > 0 {
			mac1x4AVX2(&acc[0], &xs[0][0], &xs[1][0], &xs[2][0], &xs[3][0], vec, &ws)
		}
		for t := vec; t < n; t++ {
			acc[t] += xs[0][t]*ws[0] + xs[1][t]*ws[1] + xs[2][t]*ws[2] + xs[3][t]*ws[3]
		}
		held += 4
	}
	reduceAll(acc, q, bred)
}

// columnPair is what the four-row kernels read for columns k and k+1:
// their first n values (column k's twice past the last column) and the
// rows' weights interleaved, w[2r] for column k and w[2r+1] for column
// k+1 (0 past the last).
func columnPair(x [][]uint64, cols []int, ws *[rowBlock][]uint64, k, n int) (x0, x1 []uint64, w [2 * rowBlock]uint64) {
	x0, x1 = x[cols[k]][:n], x[cols[k]][:n]
	for r, v := range ws {
		w[2*r] = v[k]
		if k+1 < len(cols) {
			w[2*r+1] = v[k+1]
		}
	}
	if k+1 < len(cols) {
		x1 = x[cols[k+1]][:n]
	}
	return x0, x1, w
}

// mac4x2AVX2 sets a_r[t] += x0[t]·w[2r] + x1[t]·w[2r+1] for r in [0, 4), t
// in [0, n), four coefficients at a time: n is a multiple of 4, every x
// and w below 2^32.
//
//go:noescape
func mac4x2AVX2(a0, a1, a2, a3, x0, x1 *uint64, n int, w *[8]uint64)

// accumulateRowsAVX2 is accumulateRowsGo with AVX2's four 32-bit products
// per instruction, two columns at a time, the sums folded (foldTerms)
// rather than reduced between.
func accumulateRowsAVX2(acc *[rowBlock][]uint64, x [][]uint64, cols []int, ws *[rowBlock][]uint64, q uint64, bred []uint64, lazy int) {
	c, fold := foldTerms(q)
	if fold < 2 {
		accumulateRowsGo(acc, x, cols, ws, q, bred, lazy)
		return
	}
	n := len(acc[0])
	vec := n &^ 3
	a0, a1, a2, a3 := acc[0][:n], acc[1][:n], acc[2][:n], acc[3][:n]
	for _, a := range acc {
		clear(a)
	}
	held := 0
	for k := 0; k < len(cols); k += 2 {
		if held+2 > fold {
			for _, a := range acc {
				foldAll(a, c)
			}
			held = 0
		}
		x0, x1, w := columnPair(x, cols, ws, k, n)
		if vec > 0 {
			mac4x2AVX2(&a0[0], &a1[0], &a2[0], &a3[0], &x0[0], &x1[0], vec, &w)
		}
		for t := vec; t < n; t++ {
			a0[t] += x0[t]*w[0] + x1[t]*w[1]
			a1[t] += x0[t]*w[2] + x1[t]*w[3]
			a2[t] += x0[t]*w[4] + x1[t]*w[5]
			a3[t] += x0[t]*w[6] + x1[t]*w[7]
		}
		held += 2
	}
	for _, a := range acc {
		reduceAll(a, q, bred)
	}
}

// mac2splitAVX2 sets, with x = xh·2^32 + xl and column c's weight split as
// (wl_c, wh_c) = (w[2c], w[2c+1]), a0[t] += Σ_c xl·wl_c, a1[t] += Σ_c
// xl·wh_c, a2[t] += Σ_c xh·wl_c, a3[t] += Σ_c xh·wh_c over the columns x0
// and x1, for t in [0, n): n is a multiple of 4, every w below 2^32.
//
//go:noescape
func mac2splitAVX2(a0, a1, a2, a3, x0, x1 *uint64, n int, w *[4]uint64)

// accumulateSplitAVX2 is accumulateSplit with AVX2's 32-bit products: each
// input coefficient is split too, x = xh·2^32 + xl, into four sums of
// products below 2^32·max(wl, wh), two columns at a time.
func accumulateSplitAVX2(acc, scratch []uint64, x [][]uint64, cols []int, w []uint64, q uint64, bred []uint64, sh uint, _ int) {
	n := len(acc)
	vec := n &^ 3
	a := [4][]uint64{acc, scratch[:n], scratch[n : 2*n], scratch[2*n : 3*n]}
	for _, s := range a {
		clear(s)
	}
	// A term adds at most (2^32-1)·max(wl, wh) to a sum.
	lazy := int(min((math.MaxUint64-q)/((1<<32-1)*max(1<<sh-1, (q-1)>>sh)), math.MaxInt32))
	mask := uint64(1)<<sh - 1
	held := 0
	for k := 0; k < len(cols); k += 2 {
		if held+2 > lazy {
			for _, s := range a {
				reduceAll(s, q, bred)
			}
			held = 0
		}
		x0, x1 := x[cols[k]][:n], x[cols[k]][:n]
		ws := [4]uint64{w[k] & mask, w[k] >> sh} // the second column's stay 0 past the last
		if k+1 < len(cols) {
			x1, ws[2], ws[3] = x[cols[k+1]][:n], w[k+1]&mask, w[k+1]>>sh
		}
		if vec > 0 {
			mac2splitAVX2(&a[0][0], &a[1][0], &a[2][0], &a[3][0], &x0[0], &x1[0], vec, &ws)
		}
		for t := vec; t < n; t++ {
			l0, h0, l1, h1 := x0[t]&(1<<32-1), x0[t]>>32, x1[t]&(1<<32-1), x1[t]>>32
			a[0][t] += l0*ws[0] + l1*ws[2]
			a[1][t] += l0*ws[1] + l1*ws[3]
			a[2][t] += h0*ws[0] + h1*ws[2]
			a[3][t] += h0*ws[1] + h1*ws[3]
		}
		held += 2
	}
	// x·w = xl·wl + xl·wh·2^sh + xh·wl·2^32 + xh·wh·2^(32+sh)
	c1 := ring.BRedAdd(1<<sh, q, bred)
	c2 := ring.BRedAdd(1<<32, q, bred)
	c3 := ring.BRed(c1, c2, q, bred)
	for t := range acc {
		v := ring.BRedAdd(a[0][t], q, bred) +
			ring.BRed(ring.BRedAdd(a[1][t], q, bred), c1, q, bred) +
			ring.BRed(ring.BRedAdd(a[2][t], q, bred), c2, q, bred) +
			ring.BRed(ring.BRedAdd(a[3][t], q, bred), c3, q, bred)
		acc[t] = ring.BRedAdd(v, q, bred)
	}
}

// mac2ifma sets lo[t] += Σ_c low52(xc[t]·w[c]) and hi[t] += Σ_c
// high52(xc[t]·w[c]) (the product's bits 52 to 103) over the columns x0
// and x1, for t in [0, n), eight coefficients at a time (AVX-512 IFMA): n
// is a multiple of 8, every x and w below 2^52.
//
//go:noescape
func mac2ifma(lo, hi, x0, x1 *uint64, n int, w *[2]uint64)

// accumulateSplitIFMA is accumulateSplit with AVX-512 IFMA's 52-bit
// multiply-adds: no split, each product summed as its low and high 52
// bits, two columns at a time.
func accumulateSplitIFMA(acc, scratch []uint64, x [][]uint64, cols []int, w []uint64, q uint64, bred []uint64, _ uint, _ int) {
	n := len(acc)
	vec := n &^ 7
	hi := scratch[:n]
	clear(acc)
	clear(hi)
	// A term adds below 2^52 to either sum (q < 2^43).
	lazy := int(min((math.MaxUint64-q)>>52, math.MaxInt32))
	const low = 1<<52 - 1
	held := 0
	for k := 0; k < len(cols); k += 2 {
		if held+2 > lazy {
			reduceAll(acc, q, bred)
			reduceAll(hi, q, bred)
			held = 0
		}
		x0, x1 := x[cols[k]][:n], x[cols[k]][:n]
		ws := [2]uint64{w[k]} // the second column's stays 0 past the last
		if k+1 < len(cols) {
			x1, ws[1] = x[cols[k+1]][:n], w[k+1]
		}
		if vec > 0 {
			mac2ifma(&acc[0], &hi[0], &x0[0], &x1[0], vec, &ws)
		}
		for t := vec; t < n; t++ {
			h0, l0 := bits.Mul64(x0[t], ws[0])
			h1, l1 := bits.Mul64(x1[t], ws[1])
			acc[t] += l0&low + l1&low
			hi[t] += (h0<<12 | l0>>52) + (h1<<12 | l1>>52)
		}
		held += 2
	}
	c, cs := shoup52(q, bred)
	for t := range acc {
		acc[t] = combine52(acc[t], hi[t], q, c, cs, bred)
	}
}

// shoup52 is c = 2^52 mod q and its Shoup quotient ⌊c·2^64/q⌋, for
// combine52.
func shoup52(q uint64, bred []uint64) (c, cs uint64) {
	c = ring.BRedAdd(1<<52, q, bred)
	cs, _ = bits.Div64(c, 0, q)
	return c, cs
}

// combine52 is (lo + hi·2^52) mod q, in [0, q), for any lo and hi and q
// below 2^62: hi·c less Shoup's estimate of its quotient times q is in
// [0, 2q) whatever hi, which spares hi's reduction and a Barrett product.
func combine52(lo, hi, q, c, cs uint64, bred []uint64) uint64 {
	quo, _ := bits.Mul64(hi, cs)
	v := ring.BRedAdd(lo, q, bred) + hi*c - quo*q
	if v >= q {
		v -= q
	}
	if v >= q {
		v -= q
	}
	return v
}

// mac4x2ifma sets, for r in [0, 4), lo[r][t] += Σ_c low52(xc[t]·w[2r+c])
// and hi[r][t] += Σ_c high52(xc[t]·w[2r+c]) over the columns x0 and x1,
// for t in [0, n): n is a multiple of 8, every x and w below 2^52.
//
//go:noescape
func mac4x2ifma(lo, hi *[4]*uint64, x0, x1 *uint64, n int, w *[8]uint64)

// accumulateSplitRowsIFMA is accumulateSplitIFMA for rowBlock rows reading
// the same columns, weights ws[i] for row i: each input coefficient is
// loaded once for the four rows.
func accumulateSplitRowsIFMA(acc *[rowBlock][]uint64, scratch []uint64, x [][]uint64, cols []int, ws *[rowBlock][]uint64, q uint64, bred []uint64) {
	n := len(acc[0])
	vec := n &^ 7
	var hi [rowBlock][]uint64
	var loPtr, hiPtr [rowBlock]*uint64
	for r := range acc {
		acc[r], hi[r] = acc[r][:n], scratch[r*n:(r+1)*n]
		clear(acc[r])
		clear(hi[r])
		if vec > 0 {
			loPtr[r], hiPtr[r] = &acc[r][0], &hi[r][0]
		}
	}
	lazy := int(min((math.MaxUint64-q)>>52, math.MaxInt32)) // as in accumulateSplitIFMA
	const low = 1<<52 - 1
	held := 0
	for k := 0; k < len(cols); k += 2 {
		if held+2 > lazy {
			for r := range acc {
				reduceAll(acc[r], q, bred)
				reduceAll(hi[r], q, bred)
			}
			held = 0
		}
		x0, x1, w := columnPair(x, cols, ws, k, n)
		if vec > 0 {
			mac4x2ifma(&loPtr, &hiPtr, &x0[0], &x1[0], vec, &w)
		}
		for r := range acc {
			for t := vec; t < n; t++ {
				h0, l0 := bits.Mul64(x0[t], w[2*r])
				h1, l1 := bits.Mul64(x1[t], w[2*r+1])
				acc[r][t] += l0&low + l1&low
				hi[r][t] += (h0<<12 | l0>>52) + (h1<<12 | l1>>52)
			}
		}
		held += 2
	}
	c, cs := shoup52(q, bred)
	for r := range acc {
		for t := range acc[r] {
			acc[r][t] = combine52(acc[r][t], hi[r][t], q, c, cs, bred)
		}
	}
}

// mac4x4AVX512 sets a_r[t] += Σ_c x_c[t]·w[4r+c] for r and c in [0, 4), t
// in [0, n), eight coefficients at a time: n is a multiple of 8, every x
// and w below 2^32.
//
//go:noescape
func mac4x4AVX512(a, x *[4]*uint64, n int, w *[16]uint64)

// accumulateRowsAVX512 is accumulateRowsAVX2 with AVX-512's eight 32-bit
// products per instruction and four columns at a time: a quarter of the
// loads and stores of the sums per product.
func accumulateRowsAVX512(acc *[rowBlock][]uint64, x [][]uint64, cols []int, ws *[rowBlock][]uint64, q uint64, bred []uint64, lazy int) {
	c, fold := foldTerms(q)
	n := len(acc[0])
	vec := n &^ 7
	if fold < 4 || vec == 0 {
		accumulateRowsAVX2(acc, x, cols, ws, q, bred, lazy)
		return
	}
	var a [rowBlock]*uint64
	for r := range acc {
		acc[r] = acc[r][:n]
		clear(acc[r])
		a[r] = &acc[r][0]
	}
	held := 0
	for k := 0; k < len(cols); k += 4 {
		if held+4 > fold {
			for _, s := range acc {
				foldAll(s, c)
			}
			held = 0
		}
		var xs [4][]uint64
		var xp [4]*uint64
		var w [16]uint64 // past the last column, weights 0 on the last one
		for j := range xs {
			xs[j] = x[cols[min(k+j, len(cols)-1)]][:n]
			xp[j] = &xs[j][0]
			if k+j < len(cols) {
				for r, v := range ws {
					w[4*r+j] = v[k+j]
				}
			}
		}
		mac4x4AVX512(&a, &xp, vec, &w)
		for r := range acc {
			for t := vec; t < n; t++ {
				acc[r][t] += xs[0][t]*w[4*r] + xs[1][t]*w[4*r+1] + xs[2][t]*w[4*r+2] + xs[3][t]*w[4*r+3]
			}
		}
		held += 4
	}
	for _, s := range acc {
		reduceAll(s, q, bred)
	}
}
