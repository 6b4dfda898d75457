package runtime

import "golang.org/x/sys/cpu"

func init() {
	if cpu.X86.HasAVX2 {
		rowsKernel = accumulateRowsAVX2
	}
}

// mac4x2AVX2 sets a_r[t] += x0[t]·w[2r] + x1[t]·w[2r+1] for r in [0, 4), t
// in [0, n), four coefficients at a time: n is a multiple of 4, every x
// and w below 2^32.
//
//go:noescape
func mac4x2AVX2(a0, a1, a2, a3, x0, x1 *uint64, n int, w *[8]uint64)

// accumulateRowsAVX2 is accumulateRowsGo with AVX2's four 32-bit products
// per instruction, two columns at a time.
func accumulateRowsAVX2(acc *[rowBlock][]uint64, x [][]uint64, cols []int, ws *[rowBlock][]uint64, q uint64, bred []uint64, lazy int) {
	n := len(acc[0])
	vec := n &^ 3
	a0, a1, a2, a3 := acc[0][:n], acc[1][:n], acc[2][:n], acc[3][:n]
	for _, a := range acc {
		clear(a)
	}
	held := 0
	for k := 0; k < len(cols); k += 2 {
		if held+2 > lazy {
			for _, a := range acc {
				reduceAll(a, q, bred)
			}
			held = 0
		}
		x0, x1 := x[cols[k]][:n], x[cols[k]][:n]
		var w [8]uint64 // the second column's weights stay 0 past the last
		for r, v := range ws {
			w[2*r] = v[k]
			if k+1 < len(cols) {
				w[2*r+1] = v[k+1]
			}
		}
		if k+1 < len(cols) {
			x1 = x[cols[k+1]][:n]
		}
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
