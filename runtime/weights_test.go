package runtime

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// partsNet is a circuit with every kind of encoded weight: an input in
// three parts read by a parts map, a square, and two dense layers with
// biases, whose diagonals are split in giant and baby steps.
func partsNet() *ir.Graph {
	const n, parts = 16, 3
	b := &graphBuilder{g: &ir.Graph{}, rng: rand.New(rand.NewPCG(31, 32))}
	first := b.partsMap(n, parts)
	return b.output(b.dense(b.poly(b.dense(b.poly(first, ir.Square()), 12, 0.8), ir.Square()), 5, 1))
}

// TestWeightBudgetConcurrentRunsIdentical: a circuit prepared with no
// weight kept, with some, and with all evaluates to the same bytes, from
// several goroutines at once on two workers each (run with -race: each
// encodes on demand with encoders of its own); the prepared circuit holds
// what the plan predicts, encoded and as values, and keeps no more than
// the budget.
func TestWeightBudgetConcurrentRunsIdentical(t *testing.T) {
	for _, logScale := range []int{35, 70} { // 70: two primes per level, double-double embedding
		t.Run(fmt.Sprintf("scale 2^%d", logScale), func(t *testing.T) {
			g := partsNet()
			if err := passes.Run(g, passes.Pipeline, nil); err != nil {
				t.Fatal(err)
			}
			pl, err := plan.Build("budget", g, params.InsecureTestSet(11, g.Depth, logScale))
			if err != nil {
				t.Fatal(err)
			}
			spec, circuit := pl.Spec, &Circuit{Spec: pl.Spec, Graph: g}
			weights := pl.Weights()
			all := weights.Bytes()
			if all != pl.EncodedBytes() || len(weights) != 6 {
				t.Fatalf("%d groups of weights, %d bytes, EncodedBytes %d: want 3 maps with a bias each", len(weights), all, pl.EncodedBytes())
			}
			keys, err := GenerateKeys(spec, nil)
			if err != nil {
				t.Fatal(err)
			}
			const runs = 3
			inputs := make([]*Ciphertext, runs)
			for i := range inputs {
				if inputs[i], err = encryptImages(spec, keys, g, 1, uint64(i)); err != nil {
					t.Fatal(err)
				}
			}
			var want [runs][]byte
			for _, budget := range []int64{-1, 0, all / 3, all - 1, all} {
				prepared, err := Prepare(circuit, MaxWeightBytes(budget))
				if err != nil {
					t.Fatal(err)
				}
				kept := weights.Within(budget)
				m := prepared.Memory()
				if m.Encoded != kept.Bytes || m.OnDemand != kept.Values || budget >= 0 && m.Encoded > budget {
					t.Fatalf("budget %d: the prepared circuit holds %d bytes encoded and %d of values, the plan predicts %d and %d", budget, m.Encoded, m.OnDemand, kept.Bytes, kept.Values)
				}
				if (kept.Seconds > 0) != (budget >= 0 && budget < all) || kept.OnDemand+kept.Bytes != all {
					t.Fatalf("budget %d of %d: %+v", budget, all, kept)
				}
				srv, err := prepared.WithKeys(keys.Eval)
				if err != nil {
					t.Fatal(err)
				}
				srv.Workers = 2
				var got [runs][]byte
				errs := make([]error, runs)
				var wg sync.WaitGroup
				for i := range runs {
					wg.Go(func() {
						out, _, err := srv.Run(context.Background(), inputs[i])
						if err == nil {
							got[i], err = EncodeCiphertext(spec, out)
						}
						errs[i] = err
					})
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Fatalf("budget %d, run %d: %v", budget, i, err)
					}
					if want[i] == nil {
						want[i] = got[i]
					} else if !bytes.Equal(got[i], want[i]) {
						t.Errorf("budget %d, run %d: the result differs from the one with every weight kept", budget, i)
					}
				}
			}
			// The results are right, not only alike.
			shape := g.Inputs()[0].InputShape()
			if worst := worstError(t, spec, keys, mustServer(t, circuit, keys, 0), g, &ir.Tensor{Shape: shape, Data: randomInputs(9, ir.NumElements(shape), 1)}); worst > 1e-5 {
				t.Errorf("error %g with every weight encoded on demand", worst)
			}
		})
	}
}

func mustServer(t *testing.T, c *Circuit, keys *Keys, budget int64) *Server {
	t.Helper()
	srv, err := NewServer(c, keys.Eval, MaxWeightBytes(budget))
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// TestWeightsKeepCostliestPerByte: a budget keeps the weights with the
// fewest limbs (the later layers', costlier to encode per byte) first, a
// group's plaintexts up to what fits.
func TestWeightsKeepCostliestPerByte(t *testing.T) {
	g := partsNet()
	if err := passes.Run(g, passes.Pipeline, nil); err != nil {
		t.Fatal(err)
	}
	pl, err := plan.Build("order", g, params.InsecureTestSet(11, g.Depth, 35))
	if err != nil {
		t.Fatal(err)
	}
	w := pl.Weights()
	for i := 1; i < len(w); i++ {
		if a, b := w[i-1], w[i]; a.Seconds/float64(a.Bytes) < b.Seconds/float64(b.Bytes) {
			t.Errorf("group %d (%s) is cheaper per byte than group %d (%s), yet kept first", i-1, a.Node.Label(), i, b.Node.Label())
		}
	}
	last := w[len(w)-1]
	budget := w.Bytes() - last.Bytes // all but one plaintext of the last group
	k := w.Within(budget)
	if k.Count[len(w)-1] != last.Count-1 || k.Bytes != budget || k.OnDemand != last.Bytes {
		t.Errorf("budget of all but one plaintext: kept %v (%d bytes, %d on demand)", k.Count, k.Bytes, k.OnDemand)
	}
}

// BenchmarkEncodeDiagonal times the encoding of one diagonal into QP at
// logN 16, as Prepare and an evaluation over its weights budget do it, on
// 2^14 and 2^15 slots, at a low and a high level, in float64 (scale 2^45)
// and in double-double arithmetic (scale 2^70, two primes per level): what
// plan's encoding cost (encodeSeconds) is fitted to, in the process's CPU
// time (the machine may be shared).
func BenchmarkEncodeDiagonal(b *testing.B) {
	for _, logScale := range []int{45, 70} {
		set := params.InsecureTestSet(16, 12, logScale)
		p, err := newParameters(set)
		if err != nil {
			b.Fatal(err)
		}
		ecd := newWeightEncoder(p, set)
		for _, logSlots := range []int{14, 15} {
			for _, level := range []int{1, 12} {
				ringLevel := set.RingLevel(level)
				limbs := ringLevel + 1 + p.PCount()
				b.Run(fmt.Sprintf("scale=2^%d/slots=2^%d/limbs=%d", logScale, logSlots, limbs), func(b *testing.B) {
					e := newEmbedder(p, ecd, ringLevel)
					values := randomInputs(1, 1<<logSlots, 1)
					meta := &rlwe.MetaData{
						PlaintextMetaData:  rlwe.PlaintextMetaData{Scale: rlwe.NewScale(math.Exp2(float64(set.LogScale))), LogDimensions: ring.Dimensions{Cols: logSlots}, IsBatched: true},
						CiphertextMetaData: rlwe.CiphertextMetaData{IsNTT: true, IsMontgomery: true},
					}
					out := p.RingQP().AtLevel(ringLevel, p.MaxLevelP()).NewPoly()
					var r0, r1 syscall.Rusage
					syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
					for b.Loop() {
						if err := e.Embed(values, meta, out); err != nil {
							b.Fatal(err)
						}
					}
					syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
					b.ReportMetric(float64(r1.Utime.Nano()-r0.Utime.Nano())/float64(b.N)/1e6, "cpu-ms/op")
				})
			}
		}
	}
}

// TestBuffersLendHigherLevels: an element freed at a level is lent again
// below it, its upper limbs hidden, and comes back whole: a deep circuit
// keeps what its evaluations borrow at once, not that at every level.
func TestBuffersLendHigherLevels(t *testing.T) {
	p, err := newParameters(params.InsecureTestSet(11, 6, 35))
	if err != nil {
		t.Fatal(err)
	}
	b := newBuffers(p)
	high := b.Element(&p, 5)
	before := b.bytes.Load()
	b.Release(high)
	low := b.Element(&p, 2)
	if low != high || low.Value[0].Q.Level() != 2 || low.Value[1].Q.Level() != 2 || low.Value[0].P.Level() != p.MaxLevelP() || b.bytes.Load() != before {
		t.Fatalf("borrowed at level 2 after one at 5 was freed: the same element %v, at level %d, %d bytes allocated more", low == high, low.Value[0].Q.Level(), b.bytes.Load()-before)
	}
	if other := b.Element(&p, 3); other == high || other.Value[0].Q.Level() != 3 || b.bytes.Load() == before {
		t.Fatal("an element lent twice, or not allocated at its level")
	}
	b.Release(low)
	if again := b.Element(&p, 5); again != high || again.Value[0].Q.Level() != 5 || again.Value[1].Q.Level() != 5 {
		t.Fatalf("the element came back at level %d, not whole", again.Value[0].Q.Level())
	}
}
