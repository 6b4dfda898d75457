package lattigox

import (
	"fmt"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
)

// TestSumRotationsMatchesLattigo: each stage of SumRotations is Lattigo's
// single-hoisted MultiplyByDiagMatrix (he/linear_transformation_evaluator.go)
// with every diagonal the constant 1 (in Montgomery form, so that the
// products multiply by 1 exactly): ct + Σ rot_r(ct), its rotations summed
// in QP before one ModDown. Bit for bit on every worker count, and every
// borrowed element given back.
func TestSumRotationsMatchesLattigo(t *testing.T) {
	for name, p := range testParameters(t) {
		slots := p.MaxSlots()
		var stages [][]int // four terms a stage, two for the last if need be
		for stride := 4; stride < slots; {
			m := 4
			if stride*4 > slots {
				m = 2
			}
			var stage []int
			for j := 1; j < m; j++ {
				stage = append(stage, j*stride)
			}
			stages = append(stages, stage)
			stride *= m
		}
		var galEls []uint64
		for _, st := range stages {
			for _, r := range st {
				galEls = append(galEls, p.GaloisElement(r))
			}
		}
		eval := galoisEvaluator(p, galEls)
		ringQP := p.RingQP().AtLevel(ltLevel, p.MaxLevelP())
		one := ringQP.NewPoly()
		for _, c := range append(one.Q.Coeffs, one.P.Coeffs...) {
			for i := range c {
				c[i] = 1
			}
		}
		ringQP.MForm(one, one)
		ltEval := hefloat.NewLinearTransformationEvaluator(eval)
		in := randomCiphertext(t, p, name)
		want := in
		for _, st := range stages {
			lt := hefloat.LinearTransformation(he.LinearTransformation{
				MetaData: &rlwe.MetaData{
					PlaintextMetaData:  rlwe.PlaintextMetaData{Scale: rlwe.NewScale(1), LogDimensions: ring.Dimensions{Cols: p.LogMaxSlots()}, IsBatched: true},
					CiphertextMetaData: rlwe.CiphertextMetaData{IsNTT: true, IsMontgomery: true},
				},
				LogBabyStepGianStepRatio: -1,
				Level:                    ltLevel,
				Vec:                      map[int]ringqp.Poly{0: one},
			})
			for _, r := range st {
				lt.Vec[r] = one
			}
			out := hefloat.NewCiphertext(p, 1, ltLevel)
			if err := ltEval.Evaluate(want, lt, out); err != nil {
				t.Fatal(err)
			}
			want = out
		}
		for _, n := range workerCounts {
			tc := fmt.Sprintf("%s/workers=%d", name, n)
			w, pool := newWorkers(t, eval, n)
			got, err := SumRotations(w, stages, in)
			if err != nil {
				t.Fatalf("%s: %v", tc, err)
			}
			if !equalCiphertexts(want, got) {
				t.Errorf("%s: the ciphertext differs from Lattigo's", tc)
			}
			if pool.out != 0 {
				t.Errorf("%s: %d elements not given back", tc, pool.out)
			}
		}
	}
}
