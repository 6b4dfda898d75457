package compiler

import (
	"fmt"
	"slices"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/ir"
)

var matmulOps = []opEntry{
	{"Gemm", 1, lowerGemm, "alpha, beta, transA, transB; a constant operand gives one affine map, two encrypted operands cost one level"},
	{"MatMul", 1, binary(func(l *lowerer, a, b *value) (*value, error) { return l.matmul(a, b, 1) }),
		"numpy semantics with batch broadcasting; a constant operand gives one affine map, two encrypted operands cost one level"},
}

func lowerGemm(l *lowerer, n *onnx.Node, ins []*value) ([]*value, error) {
	a, bv, err := l.inputPair(ins)
	if err != nil {
		return nil, err
	}
	alpha, err1 := n.AttrFloat("alpha", 1)
	beta, err2 := n.AttrFloat("beta", 1)
	transA, err3 := n.AttrInt("transA", 0)
	transB, err4 := n.AttrInt("transB", 0)
	if err := firstErr(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	if len(a.shape) != 2 || len(bv.shape) != 2 {
		return nil, l.fail(ErrModel, "operands %v and %v must be matrices", a.shape, bv.shape)
	}
	// Gemm is MatMul of the (possibly transposed) operands, scaled.
	at, bt := a, bv
	if transA != 0 {
		if at, err = l.transpose(a, []int{1, 0}); err != nil {
			return nil, err
		}
	}
	if transB != 0 {
		if bt, err = l.transpose(bv, []int{1, 0}); err != nil {
			return nil, err
		}
	}
	y, err := l.matmul(at, bt, alpha)
	if err != nil {
		return nil, err
	}
	if len(ins) > 2 && ins[2] != nil && beta != 0 {
		if y, err = l.add(y, l.scale(ins[2], beta)); err != nil {
			return nil, err
		}
	}
	return []*value{y}, nil
}

// matmul is numpy's matmul scaled by alpha. With a constant operand it is
// one affine map; with two encrypted operands, see matmulEncrypted.
func (l *lowerer) matmul(a, b *value, alpha float64) (*value, error) {
	as, bs := slices.Clone(a.shape), slices.Clone(b.shape)
	if len(as) == 0 || len(bs) == 0 {
		return nil, l.fail(ErrModel, "matmul of a scalar")
	}
	squeezeM, squeezeN := len(as) == 1, len(bs) == 1
	if squeezeM {
		as = []int{1, as[0]}
	}
	if squeezeN {
		bs = []int{bs[0], 1}
	}
	M, K, K2, N := as[len(as)-2], as[len(as)-1], bs[len(bs)-2], bs[len(bs)-1]
	if K != K2 {
		return nil, l.fail(ErrModel, "cannot multiply %v by %v: inner dimensions %d and %d differ", a.shape, b.shape, K, K2)
	}
	batch, err := l.broadcastShape(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		return nil, err
	}
	out := slices.Concat(batch, []int{M, N})
	enc := a // the encrypted operand, if any
	if a.isConst() && !b.isConst() {
		enc = b
	}
	rows, err := l.resultSize(enc, out)
	if err != nil {
		return nil, err
	}
	aBatch, bBatch := as[:len(as)-2], bs[:len(bs)-2]
	aStr, bStr := ir.Strides(as), ir.Strides(bs)
	final := slices.Clone(out)
	if squeezeM {
		final = slices.Delete(final, len(final)-2, len(final)-1)
	}
	if squeezeN {
		final = final[:len(final)-1]
	}
	if !a.isConst() && !b.isConst() {
		y, err := l.matmulEncrypted(l.reshape(a, as), l.reshape(b, bs), batch, M, K, N, alpha)
		if err != nil {
			return nil, err
		}
		return l.reshape(y, final), nil
	}
	if rows*K > ir.MaxNonZeros {
		return nil, l.errorf("matmul has more than %d weights", ir.MaxNonZeros)
	}
	weights := b
	if enc == b {
		weights = a
	}
	bld := ir.NewBuilder(rows, enc.size())
	row := 0
	forEach(batch, func(bi []int) {
		ao, bo := batchOffset(bi, aBatch, aStr), batchOffset(bi, bBatch, bStr)
		for m := range M {
			for nn := range N {
				for k := range K {
					ia := ao + m*aStr[len(as)-2] + k
					ib := bo + k*bStr[len(bs)-2] + nn
					if enc == a {
						bld.Add(row, ia, alpha*weights.c.Data[ib])
					} else {
						bld.Add(row, ib, alpha*weights.c.Data[ia])
					}
				}
				row++
			}
		}
	})
	lin, err := bld.Build(nil, fmt.Sprintf("matmul %d×%d·%d×%d", M, K, K, N))
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	if a.isConst() && b.isConst() {
		// Both constant: the map built for a as the "encrypted" side.
		return constValue(&ir.Tensor{Shape: final, Data: lin.Apply(a.c.Data)}), nil
	}
	return l.linear(enc, lin, final), nil
}

// batchOffset is the flat offset of a broadcast batch index idx in an
// operand whose batch axes have the given shape and strides.
func batchOffset(idx []int, shape, strides []int) int {
	off, skip := 0, len(idx)-len(shape)
	for d := range shape {
		if shape[d] != 1 {
			off += idx[d+skip] * strides[d]
		}
	}
	return off
}

// matmulEncrypted multiplies two encrypted operands a [batch…, M, K] and
// b [batch…, K, N]: both are replicated to [batch, M, N, K] by selections
// (A'[·,m,n,k] = a[·,m,k], B'[·,m,n,k] = b[·,k,n]), multiplied element-wise
// (one level), and summed over k by an affine map that also applies alpha.
// The selections squash into whatever affine map produced each operand.
func (l *lowerer) matmulEncrypted(a, b *value, batch []int, M, K, N int, alpha float64) (*value, error) {
	as, bs := a.shape, b.shape
	aBatch, bBatch := as[:len(as)-2], bs[:len(bs)-2]
	aStr, bStr := ir.Strides(as), ir.Strides(bs)
	wide := slices.Concat(batch, []int{M, N, K})
	nb := len(batch)
	ar, err := l.selection(a, wide, "matmul operand", 0, func(o []int) (int, bool) {
		return batchOffset(o[:nb], aBatch, aStr) + o[nb]*aStr[len(as)-2] + o[nb+2], true
	})
	if err != nil {
		return nil, err
	}
	br, err := l.selection(b, wide, "matmul operand", 0, func(o []int) (int, bool) {
		return batchOffset(o[:nb], bBatch, bStr) + o[nb+2]*bStr[len(bs)-2] + o[nb+1], true
	})
	if err != nil {
		return nil, err
	}
	prod, err := l.mul(ar, br)
	if err != nil {
		return nil, err
	}
	rows := ir.NumElements(wide) / K
	sum := ir.NewBuilder(rows, prod.size())
	for r := range rows {
		for k := range K {
			sum.Add(r, r*K+k, alpha)
		}
	}
	lin, err := sum.Build(nil, fmt.Sprintf("matmul sum over %d", K))
	if err != nil {
		return nil, l.errorf("%v", err)
	}
	return l.linear(prod, lin, slices.Concat(batch, []int{M, N})), nil
}
