package runtime

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/hecc-dev/hecc/ir"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// The integer core of a batch circuit's affine map: per limb, polynomial
// and block of coefficients, out[r] = Σ_k W[r][k]·x[ColIdx[k]] modulo the
// limb's prime, exactly. The loops are bound by integer multiplies once
// their operands are in the core's cache, so they are arranged for the
// multiplies: below 2^32 the products are summed without reduction while a
// uint64 holds them (then reduced, or folded by the vector kernels,
// foldTerms), several columns per load and store of a sum, and rows
// reading the same columns are accumulated together, each input
// coefficient loaded once for all of them. Up to 42 bits, each weight is
// split in two halves whose products fit a uint64, two multiplies per
// term (the compiler's code for a 128-bit product spills its registers);
// above, the products are summed in 128 bits. Where the machine has vector
// instructions (batch_accumulate_amd64.go), the kernels below use them:
// four 32-bit products per instruction (AVX2), or eight (AVX-512).
//
// The results are the exact residues, whichever kernel computes them.

// coefficientBlock is how many coefficients of every input a map's rows
// are accumulated over at a time: a block of each of a layer's hundreds of
// ciphertexts stays in the core's cache while every row reads it.
const coefficientBlock = 128

// rowBlock is how many rows reading the same columns are accumulated
// together.
const rowBlock = 4

// rowGroups partitions lin's rows into groups of up to rowBlock rows with
// the same columns (a dense map's rows, a convolution's channels at one
// position), in order of their first row.
func rowGroups(lin *ir.Linear) [][]int {
	open := map[string]int{} // a columns' group being filled
	var groups [][]int
	var key []byte
	for r := range lin.Rows {
		key = key[:0]
		for _, c := range lin.ColIdx[lin.RowPtr[r]:lin.RowPtr[r+1]] {
			key = binary.AppendUvarint(key, uint64(c))
		}
		g, ok := open[string(key)]
		if !ok || len(groups[g]) == rowBlock {
			g = len(groups)
			groups = append(groups, nil)
			open[string(key)] = g
		}
		groups[g] = append(groups[g], r)
	}
	return groups
}

// lazyTerms is how many products below q² a uint64 holds on top of a
// value below q, for a prime below 2^32.
func lazyTerms(q uint64) int {
	return int(min(math.MaxUint64/((q-1)*(q-1)), math.MaxInt32)) - 1
}

// foldTerms is, for a prime q below 2^32, c = 2^32 mod q and how many
// products below q² a uint64 holds on top of a folded sum: folding v to
// (v>>32)·c + v mod 2^32 keeps it modulo q and leaves it at most
// (2^32−1)·(c+1), for one multiply where a reduction takes Barrett's
// several, and vectorizes.
func foldTerms(q uint64) (c uint64, terms int) {
	c = 1 << 32 % q
	return c, int(min((math.MaxUint64-(1<<32-1)*(c+1))/((q-1)*(q-1)), math.MaxInt32))
}

// wideTerms is how many products below q² a 128-bit sum (hi, lo) holds
// on top of a value whose hi is below q: each product adds at most
// (q-1)²/2^64 to hi, plus a carry.
func wideTerms(q uint64) int {
	h, _ := bits.Mul64(q-1, q-1)
	return int(min((math.MaxUint64-q)/(h+1), math.MaxInt32))
}

// splitTerms is how a weight modulo q ≥ 2^32 is split, w = wh·2^sh + wl,
// and how many products x·wl or x·wh a uint64 holds on top of a value
// below q.
func splitTerms(q uint64) (sh uint, terms int) {
	sh = uint(bits.Len64(q)) / 2
	if bits.Len64(q) > 42 {
		return sh, 0 // a product may not fit
	}
	p := (q - 1) * max(1<<sh-1, (q-1)>>sh)
	return sh, int(min((math.MaxUint64-q)/p, math.MaxInt32))
}

// accumulateBlock sets out[r] to Σ_k w[k]·x[lin.ColIdx[k]] modulo q over
// k in row r's entries, for every row of lin: out[r] and x[c] are one
// block of coefficients of output r and input c, w the map's weights
// modulo q (residues in [0, q)). groups are lin's rowGroups; scratch has
// room for four blocks.
func accumulateBlock(out, x [][]uint64, lin *ir.Linear, groups [][]int, w []uint64, sub *ring.SubRing, scratch []uint64) {
	q, bred := sub.Modulus, sub.BRedConstant
	if sh, lazy := splitTerms(q); q >= 1<<32 && lazy >= 8 {
		for _, g := range groups {
			if len(g) == rowBlock && splitRowsKernel != nil {
				var acc, ws [rowBlock][]uint64
				for i, r := range g {
					acc[i], ws[i] = out[r], w[lin.RowPtr[r]:lin.RowPtr[r+1]]
				}
				splitRowsKernel(&acc, scratch, x, lin.ColIdx[lin.RowPtr[g[0]]:lin.RowPtr[g[0]+1]], &ws, q, bred)
				continue
			}
			for _, r := range g {
				k0, k1 := lin.RowPtr[r], lin.RowPtr[r+1]
				splitKernel(out[r], scratch, x, lin.ColIdx[k0:k1], w[k0:k1], q, bred, sh, lazy)
			}
		}
		return
	}
	if q >= 1<<32 {
		for r := range lin.Rows {
			k0, k1 := lin.RowPtr[r], lin.RowPtr[r+1]
			accumulateWide(out[r], scratch, x, lin.ColIdx[k0:k1], w[k0:k1], q)
		}
		return
	}
	lazy := lazyTerms(q)
	for _, g := range groups {
		if len(g) < rowBlock || lazy < 2*rowBlock {
			for _, r := range g {
				k0, k1 := lin.RowPtr[r], lin.RowPtr[r+1]
				rowKernel(out[r], x, lin.ColIdx[k0:k1], w[k0:k1], q, bred, lazy)
			}
			continue
		}
		var acc, ws [rowBlock][]uint64
		for i, r := range g {
			acc[i], ws[i] = out[r], w[lin.RowPtr[r]:lin.RowPtr[r+1]]
		}
		rowsKernel(&acc, x, lin.ColIdx[lin.RowPtr[g[0]]:lin.RowPtr[g[0]+1]], &ws, q, bred, lazy)
	}
}

// reduceAll reduces every sum of acc modulo q.
func reduceAll(acc []uint64, q uint64, bred []uint64) {
	for t := range acc {
		acc[t] = ring.BRedAdd(acc[t], q, bred)
	}
}

// rowKernel is accumulateRow, with the machine's vector instructions where
// there are.
var rowKernel = accumulateRow

// accumulateRow sets acc to Σ_k w[k]·x[cols[k]] modulo q < 2^32, four
// products per load and store of a sum where lazy allows it (lazy is
// lazyTerms(q)).
func accumulateRow(acc []uint64, x [][]uint64, cols []int, w []uint64, q uint64, bred []uint64, lazy int) {
	clear(acc)
	group := 1
	if lazy >= 8 {
		group = 4
	}
	held := 0 // products in each sum since its last reduction
	for k := 0; k < len(cols); {
		g := group
		if len(cols)-k < g {
			g = 1
		}
		if held+g > lazy {
			reduceAll(acc, q, bred)
			held = 0
		}
		x0, w0 := x[cols[k]][:len(acc)], w[k]
		if g == 4 {
			x1, w1 := x[cols[k+1]][:len(acc)], w[k+1]
			x2, w2 := x[cols[k+2]][:len(acc)], w[k+2]
			x3, w3 := x[cols[k+3]][:len(acc)], w[k+3]
			for t := range acc {
				acc[t] += x0[t]*w0 + x1[t]*w1 + x2[t]*w2 + x3[t]*w3
			}
		} else {
			for t := range acc {
				acc[t] += x0[t] * w0
			}
		}
		held += g
		k += g
	}
	reduceAll(acc, q, bred)
}

// rowsKernel accumulates rowBlock rows reading the same columns: the
// machine's vector instructions where there are (see init in
// batch_accumulate_amd64.go), else accumulateRowsGo.
var rowsKernel rowsFunc = accumulateRowsGo

// rowsFunc sets acc[i] to Σ_k ws[i][k]·x[cols[k]] modulo q < 2^32 for i in
// [0, rowBlock), reducing the sums every lazy terms at most.
type rowsFunc func(acc *[rowBlock][]uint64, x [][]uint64, cols []int, ws *[rowBlock][]uint64, q uint64, bred []uint64, lazy int)

// accumulateRowsGo is accumulateRow for rowBlock rows reading the same
// columns, weights ws[i] for row i: each input coefficient is loaded once
// for the four rows. lazy must be at least 2·rowBlock.
func accumulateRowsGo(acc *[rowBlock][]uint64, x [][]uint64, cols []int, ws *[rowBlock][]uint64, q uint64, bred []uint64, lazy int) {
	n := len(acc[0])
	a0, a1, a2, a3 := acc[0][:n], acc[1][:n], acc[2][:n], acc[3][:n]
	v0, v1, v2, v3 := ws[0][:len(cols)], ws[1][:len(cols)], ws[2][:len(cols)], ws[3][:len(cols)]
	clear(a0)
	clear(a1)
	clear(a2)
	clear(a3)
	reduce := func() {
		for _, a := range acc {
			reduceAll(a, q, bred)
		}
	}
	held := 0
	k := 0
	for ; k+4 <= len(cols); k += 4 {
		if held+4 > lazy {
			reduce()
			held = 0
		}
		x0, x1, x2, x3 := x[cols[k]][:n], x[cols[k+1]][:n], x[cols[k+2]][:n], x[cols[k+3]][:n]
		w00, w01, w02, w03 := v0[k], v0[k+1], v0[k+2], v0[k+3]
		w10, w11, w12, w13 := v1[k], v1[k+1], v1[k+2], v1[k+3]
		w20, w21, w22, w23 := v2[k], v2[k+1], v2[k+2], v2[k+3]
		w30, w31, w32, w33 := v3[k], v3[k+1], v3[k+2], v3[k+3]
		for t := range n {
			y0, y1, y2, y3 := x0[t], x1[t], x2[t], x3[t]
			a0[t] += y0*w00 + y1*w01 + y2*w02 + y3*w03
			a1[t] += y0*w10 + y1*w11 + y2*w12 + y3*w13
			a2[t] += y0*w20 + y1*w21 + y2*w22 + y3*w23
			a3[t] += y0*w30 + y1*w31 + y2*w32 + y3*w33
		}
		held += 4
	}
	for ; k < len(cols); k++ {
		if held+1 > lazy {
			reduce()
			held = 0
		}
		x0 := x[cols[k]][:n]
		w0, w1, w2, w3 := v0[k], v1[k], v2[k], v3[k]
		for t := range n {
			y := x0[t]
			a0[t] += y * w0
			a1[t] += y * w1
			a2[t] += y * w2
			a3[t] += y * w3
		}
		held++
	}
	reduce()
}

// splitKernel is accumulateSplit, with the machine's vector instructions
// where there are.
var splitKernel = accumulateSplit

// splitRowsKernel, if not nil, is splitKernel for rowBlock rows reading
// the same columns (weights ws[i] for row i), each input coefficient
// loaded once for all of them.
var splitRowsKernel func(acc *[rowBlock][]uint64, scratch []uint64, x [][]uint64, cols []int, ws *[rowBlock][]uint64, q uint64, bred []uint64)

// accumulateSplit sets acc to Σ_k w[k]·x[cols[k]] modulo q ≥ 2^32, each
// weight split in two (see splitTerms) so that the products fit a uint64:
// acc sums the low halves' products, hi the high halves', lazily, four
// columns per load and store of a sum.
func accumulateSplit(acc, scratch []uint64, x [][]uint64, cols []int, w []uint64, q uint64, bred []uint64, sh uint, lazy int) {
	n := len(acc)
	hi := scratch[:n]
	clear(acc)
	clear(hi)
	mask := uint64(1)<<sh - 1
	held := 0
	for k := 0; k < len(cols); {
		g := 4
		if len(cols)-k < g {
			g = 1
		}
		if held+g > lazy {
			reduceAll(acc, q, bred)
			reduceAll(hi, q, bred)
			held = 0
		}
		x0, l0, h0 := x[cols[k]][:n], w[k]&mask, w[k]>>sh
		if g == 4 {
			x1, l1, h1 := x[cols[k+1]][:n], w[k+1]&mask, w[k+1]>>sh
			x2, l2, h2 := x[cols[k+2]][:n], w[k+2]&mask, w[k+2]>>sh
			x3, l3, h3 := x[cols[k+3]][:n], w[k+3]&mask, w[k+3]>>sh
			for t := range n {
				y0, y1, y2, y3 := x0[t], x1[t], x2[t], x3[t]
				acc[t] += y0*l0 + y1*l1 + y2*l2 + y3*l3
				hi[t] += y0*h0 + y1*h1 + y2*h2 + y3*h3
			}
		} else {
			for t := range n {
				y := x0[t]
				acc[t] += y * l0
				hi[t] += y * h0
			}
		}
		held += g
		k += g
	}
	shift := ring.BRedAdd(1<<sh, q, bred)
	for t := range acc {
		v := ring.BRedAdd(acc[t], q, bred) + ring.BRed(ring.BRedAdd(hi[t], q, bred), shift, q, bred)
		if v >= q {
			v -= q
		}
		acc[t] = v
	}
}

// accumulateWide sets acc to Σ_k w[k]·x[cols[k]] modulo q ≥ 2^32: the
// products are summed in 128 bits, acc the low and hi the high words,
// four per load and store of a sum, and reduced once.
func accumulateWide(acc, hi []uint64, x [][]uint64, cols []int, w []uint64, q uint64) {
	n := len(acc)
	hi = hi[:n]
	clear(acc)
	clear(hi)
	lazy := wideTerms(q)
	held := 0
	for k := 0; k < len(cols); {
		g := 2
		if len(cols)-k < g {
			g = 1
		}
		if held+g > lazy {
			for t := range hi {
				hi[t] %= q // (hi, lo) keeps its value modulo q
			}
			held = 0
		}
		if g == 2 {
			x0, x1 := x[cols[k]][:n], x[cols[k+1]][:n]
			w0, w1 := w[k], w[k+1]
			for t := range n {
				h0, l0 := bits.Mul64(x0[t], w0)
				h1, l1 := bits.Mul64(x1[t], w1)
				l, c0 := bits.Add64(acc[t], l0, 0)
				l, c1 := bits.Add64(l, l1, 0)
				acc[t] = l
				hi[t] += h0 + h1 + c0 + c1
			}
		} else {
			x0, w0 := x[cols[k]][:n], w[k]
			for t := range n {
				h, l := bits.Mul64(x0[t], w0)
				l, c := bits.Add64(acc[t], l, 0)
				acc[t] = l
				hi[t] += h + c
			}
		}
		held += g
		k += g
	}
	for t := range acc {
		acc[t] = bits.Rem64(hi[t], acc[t], q)
	}
}

// BatchKernelMACs runs the accumulation kernel of a batch circuit's maps
// below 2^32 (rows four at a time, a 29-bit prime, the machine's vector
// instructions where there are) rounds times on operands in the core's
// first-level cache, and returns the multiply-adds it did: the rate a
// batch evaluation's floor is measured with.
func BatchKernelMACs(rounds int) float64 {
	const n, inputs, terms = 128, 8, 64
	q := uint64(1<<29 - 11<<14 + 1) // an NTT-friendly prime at logN 13
	bred := ring.BRedConstant(q)
	x := make([][]uint64, inputs)
	for c := range x {
		x[c] = make([]uint64, n)
		for t := range x[c] {
			x[c][t] = uint64(c*n+t) % q
		}
	}
	cols := make([]int, terms)
	var acc, ws [rowBlock][]uint64
	for r := range rowBlock {
		acc[r], ws[r] = make([]uint64, n), make([]uint64, terms)
		for k := range terms {
			cols[k], ws[r][k] = k%inputs, uint64(r*terms+k+1)
		}
	}
	for range rounds {
		rowsKernel(&acc, x, cols, &ws, q, bred, lazyTerms(q))
	}
	return float64(rounds * rowBlock * terms * n)
}
