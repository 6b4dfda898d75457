package runtime

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// A linear transformation y = Σ_k D_k ⊙ rot_k(x) is evaluated by splitting
// every diagonal index k into a giant step g and a baby step b, k = g + b:
//
//	y = Σ_g rot_g( Σ_b rot_{−g}(D_{g+b}) ⊙ rot_b(x) )
//
// The baby rotations of x share one decomposition (hoisting); each giant
// step costs one rotation. Lattigo's own evaluator splits k at a power of
// two, which suits dense matrices but not a laid-out convolution, whose
// diagonals are a few clusters (one per channel offset) of the same kernel
// offsets: splitting at the clusters' starts takes channels + kernel
// positions rotations instead of about twice the square root of the span.
// The split with the fewest rotations is chosen among both kinds.

// babyWeight is a hoisted baby rotation's cost relative to a giant one
// (../shared/notes/lattigo-v5.md: 8 hoisted rotations ≈ 3.5 single ones).
const babyWeight = 0.45

// split assigns each diagonal a giant and a baby step.
type split struct {
	giant, baby []int          // distinct steps, sorted
	parts       map[int][2]int // diagonal → (giant, baby)
}

func (s split) cost() float64 {
	nonZero := func(steps []int) int { // distinct steps: 0 at most once
		if slices.Contains(steps, 0) {
			return len(steps) - 1
		}
		return len(steps)
	}
	return splitCost(nonZero(s.giant), nonZero(s.baby))
}

// splitCost is the cost of giants single and babies hoisted rotations, in
// single rotations.
func splitCost(giants, babies int) float64 {
	return float64(giants) + babyWeight*float64(babies)
}

// rotations is the number of key switches the split performs.
func (s split) rotations() int {
	n := 0
	for _, r := range append(slices.Clone(s.giant), s.baby...) {
		if r != 0 {
			n++
		}
	}
	return n
}

func makeSplit(diags []int, slots int, giantOf func(k int) int) split {
	s := split{parts: make(map[int][2]int, len(diags))}
	gs, bs := map[int]bool{}, map[int]bool{}
	for _, k := range diags {
		g := ((giantOf(k) % slots) + slots) % slots
		b := ((k-g)%slots + slots) % slots
		s.parts[k] = [2]int{g, b}
		gs[g], bs[b] = true, true
	}
	for g := range gs {
		s.giant = append(s.giant, g)
	}
	for b := range bs {
		s.baby = append(s.baby, b)
	}
	slices.Sort(s.giant)
	slices.Sort(s.baby)
	return s
}

// bestSplit tries power-of-two splits and splits at the starts of the
// diagonal clusters, and keeps the cheapest.
func bestSplit(diags []int, slots int) split {
	sorted := slices.Clone(diags)
	slices.Sort(sorted)
	// Candidates are costed without building their splits: a candidate
	// is the giant step of each sorted diagonal, and distinct steps are
	// counted with stamps (hundreds of candidates over thousands of
	// diagonals).
	giants := make([]int, len(sorted))
	best := make([]int, len(sorted)) // all zero: every diagonal a baby step
	seenGiant, seenBaby := make([]int, slots), make([]int, slots)
	stamp := 0
	cost := func(giant []int) float64 {
		stamp++
		ng, nb := 0, 0
		for i, k := range sorted {
			g := ((giant[i] % slots) + slots) % slots
			b := ((k-g)%slots + slots) % slots
			if g != 0 && seenGiant[g] != stamp {
				seenGiant[g] = stamp
				ng++
			}
			if b != 0 && seenBaby[b] != stamp {
				seenBaby[b] = stamp
				nb++
			}
		}
		return splitCost(ng, nb)
	}
	bestCost := cost(best)
	consider := func() {
		if c := cost(giants); c < bestCost {
			bestCost = c
			copy(best, giants)
		}
	}
	for n1 := 2; n1 < slots; n1 *= 2 {
		for i, k := range sorted {
			giants[i] = k / n1 * n1
		}
		consider()
	}
	// Clusters: cut the cyclically sorted diagonals at their widest gaps.
	type gap struct{ at, width int }
	gaps := make([]gap, len(sorted))
	for i := range sorted {
		next := sorted[(i+1)%len(sorted)]
		if i == len(sorted)-1 {
			next += slots
		}
		gaps[i] = gap{(i + 1) % len(sorted), next - sorted[i]}
	}
	slices.SortFunc(gaps, func(a, b gap) int { return b.width - a.width })
	starts := make([]bool, len(sorted))
	for m := 1; m <= min(len(gaps), 256); m++ {
		starts[gaps[m-1].at] = true
		first := slices.Index(starts, true)
		start := sorted[first]
		for j := range sorted {
			i := (first + j) % len(sorted)
			if starts[i] {
				start = sorted[i]
			}
			giants[i] = start
		}
		consider()
	}
	giantOf := make(map[int]int, len(sorted))
	for i, k := range sorted {
		giantOf[k] = best[i]
	}
	return makeSplit(diags, slots, func(k int) int { return giantOf[k] })
}

// linearTransform is an encoded transformation: for each giant step, the
// baby steps and the pre-rotated diagonals they multiply.
type linearTransform struct {
	split  split
	level  int
	slots  int
	blocks map[int][]babyTerm // giant step → terms
}

type babyTerm struct {
	baby int
	pt   *rlwe.Plaintext
}

// encodeLinearTransform encodes the diagonals at level with scale, on
// workers goroutines with an encoder each.
func encodeLinearTransform(p hefloat.Parameters, ecd *hefloat.Encoder, diags map[int][]float64, sp split, level, logSlots int, scale rlwe.Scale, workers int) (*linearTransform, error) {
	slots := 1 << logSlots
	lt := &linearTransform{split: sp, level: level, slots: slots, blocks: map[int][]babyTerm{}}
	if len(diags) == 0 {
		// An all-zero map still multiplies by a plaintext, so the result
		// carries the scale the following rescale expects.
		diags = map[int][]float64{0: make([]float64, slots)}
	}
	keys := make([]int, 0, len(diags))
	for k := range diags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	pts := make([]*rlwe.Plaintext, len(keys))
	errs := make([]error, max(1, workers))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			enc := ecd.ShallowCopy()
			rotated := make([]float64, slots)
			for i := w; i < len(keys); i += len(errs) {
				d, g := diags[keys[i]], sp.parts[keys[i]][0]
				for j := range rotated { // rot_{−g}(D_k)[j] = D_k[j − g]
					rotated[j] = d[((j-g)%slots+slots)%slots]
				}
				pt := hefloat.NewPlaintext(p, level)
				pt.Scale = scale
				pt.LogDimensions = ring.Dimensions{Rows: 0, Cols: logSlots}
				if errs[w] = enc.Encode(rotated, pt); errs[w] != nil {
					return
				}
				pts[i] = pt
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i, k := range keys {
		part := sp.parts[k]
		lt.blocks[part[0]] = append(lt.blocks[part[0]], babyTerm{part[1], pts[i]})
	}
	for g := range lt.blocks {
		slices.SortFunc(lt.blocks[g], func(a, b babyTerm) int { return a.baby - b.baby })
	}
	return lt, nil
}

// count records the primitives one evaluation performs: hoisted baby
// rotations, a plaintext product per diagonal, a rotation per giant step
// and the additions that combine the giant steps.
func (lt *linearTransform) count(c *opCounter) {
	babies := 0
	for _, b := range lt.split.baby {
		if b != 0 {
			babies++
		}
	}
	c.add(PrimRotateHoisted, lt.level, babies)
	diags := 0
	for g, terms := range lt.blocks {
		diags += len(terms)
		if g != 0 {
			c.add(PrimRotate, lt.level, 1)
		}
	}
	c.add(PrimMulPlain, lt.level, diags)
	c.add(PrimAdd, lt.level, len(lt.blocks)-1)
}

// evaluate computes the transformation of ct (not rescaled), splitting
// the giant steps over workers, each with its own evaluator.
func (lt *linearTransform) evaluate(evals []*hefloat.Evaluator, ct *rlwe.Ciphertext) (*rlwe.Ciphertext, error) {
	if ct.Level() != lt.level {
		return nil, fmt.Errorf("input at level %d, the transformation is encoded for level %d", ct.Level(), lt.level)
	}
	var babies []int
	for _, b := range lt.split.baby {
		if b != 0 {
			babies = append(babies, b)
		}
	}
	rotated := map[int]*rlwe.Ciphertext{0: ct}
	if len(babies) > 0 {
		r, err := evals[0].RotateHoistedNew(ct, babies)
		if err != nil {
			return nil, err
		}
		for b, c := range r {
			rotated[b] = c
		}
	}
	giants := make([]int, 0, len(lt.blocks))
	for g := range lt.blocks {
		giants = append(giants, g)
	}
	slices.Sort(giants)
	partial := make([]*rlwe.Ciphertext, len(evals))
	errs := make([]error, len(evals))
	var wg sync.WaitGroup
	for w, eval := range evals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(giants); i += len(evals) {
				g := giants[i]
				var acc *rlwe.Ciphertext
				for _, t := range lt.blocks[g] {
					if acc == nil {
						if acc, errs[w] = eval.MulNew(rotated[t.baby], t.pt); errs[w] != nil {
							return
						}
					} else if errs[w] = eval.MulThenAdd(rotated[t.baby], t.pt, acc); errs[w] != nil {
						return
					}
				}
				if g != 0 {
					if errs[w] = eval.Rotate(acc, g, acc); errs[w] != nil {
						return
					}
				}
				if partial[w] == nil {
					partial[w] = acc
				} else if errs[w] = eval.Add(partial[w], acc, partial[w]); errs[w] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	var out *rlwe.Ciphertext
	for w, pt := range partial {
		if errs[w] != nil {
			return nil, errs[w]
		}
		if pt == nil {
			continue
		}
		if out == nil {
			out = pt
		} else if err := evals[0].Add(out, pt, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}
