package runtime

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/hecc-dev/hecc/runtime/internal/lattigox"
	"github.com/hecc-dev/hecc/runtime/internal/parallel"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
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

// babyWeight is a baby step's cost relative to a giant step: hecc bench
// --floor measured 0.34 at logN 13 and 0.24 at logN 15.
const babyWeight = 0.3

// split assigns each diagonal a giant and a baby step.
type split struct {
	giant, baby []int          // distinct steps, sorted
	parts       map[int][2]int // diagonal → (giant, baby)
}

func (s split) cost() float64 {
	return splitCost(s.giants(), s.babies())
}

// splitCost is the cost of giants giant steps and babies baby steps, in
// giant steps.
func splitCost(giants, babies int) float64 {
	return float64(giants) + babyWeight*float64(babies)
}

// giants and babies count the non-zero steps: each is a key switch.
func (s split) giants() int { return nonZero(s.giant) }
func (s split) babies() int { return nonZero(s.baby) }

func nonZero(steps []int) int {
	n := 0
	for _, r := range steps {
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
// baby steps and the pre-rotated diagonals they multiply. The diagonals are
// encoded in the extended basis QP (NTT and Montgomery form) because the
// products are accumulated there, as in Lattigo's own BSGS evaluator: baby
// steps stay in QP (no ModDown each), every giant step brings down only the
// c1 it key-switches, and the result comes down once at the end.
type linearTransform struct {
	split  split
	level  int
	slots  int
	scale  rlwe.Scale                  // of the encoded diagonals
	blocks map[int][]lattigox.BabyTerm // giant step → terms
}

// encodeLinearTransform encodes the diagonals at level with scale, on
// workers goroutines with an encoder each.
func encodeLinearTransform(p hefloat.Parameters, ecd *hefloat.Encoder, diags map[int][]float64, sp split, level, logSlots int, scale rlwe.Scale, workers int) (*linearTransform, error) {
	slots := 1 << logSlots
	lt := &linearTransform{split: sp, level: level, slots: slots, scale: scale, blocks: map[int][]lattigox.BabyTerm{}}
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
	meta := &rlwe.MetaData{
		PlaintextMetaData:  rlwe.PlaintextMetaData{Scale: scale, LogDimensions: ring.Dimensions{Rows: 0, Cols: logSlots}, IsBatched: true},
		CiphertextMetaData: rlwe.CiphertextMetaData{IsNTT: true, IsMontgomery: true},
	}
	ringQP := p.RingQP().AtLevel(level, p.MaxLevelP())
	pts := make([]ringqp.Poly, len(keys))
	workers = max(1, workers)
	embedders, buffers := make([]*lattigox.Embedder, workers), make([][]float64, workers)
	for w := range embedders {
		embedders[w], buffers[w] = lattigox.NewEmbedder(p, ecd, level, p.MaxLevelP()), make([]float64, slots)
	}
	if err := parallel.ForEach(workers, len(keys), func(w, i int) error {
		d, g, rotated := diags[keys[i]], sp.parts[keys[i]][0], buffers[w]
		for j := range rotated { // rot_{−g}(D_k)[j] = D_k[j − g]
			rotated[j] = d[((j-g)%slots+slots)%slots]
		}
		pts[i] = ringQP.NewPoly()
		return embedders[w].Embed(rotated, meta, pts[i])
	}); err != nil {
		return nil, err
	}
	for i, k := range keys {
		part := sp.parts[k]
		lt.blocks[part[0]] = append(lt.blocks[part[0]], lattigox.BabyTerm{Baby: part[1], Pt: pts[i]})
	}
	for g := range lt.blocks {
		slices.SortFunc(lt.blocks[g], func(a, b lattigox.BabyTerm) int { return a.Baby - b.Baby })
	}
	return lt, nil
}

// count records the primitives one evaluation performs: a baby step per
// non-zero baby rotation, a product per diagonal, a giant step per
// non-zero giant rotation, and the final ModDown.
func (lt *linearTransform) count(c *opCounter) {
	c.add(PrimBabyStep, lt.level, lt.split.babies())
	diags := 0
	for g, terms := range lt.blocks {
		diags += len(terms)
		if g != 0 {
			c.add(PrimGiantStep, lt.level, 1)
		}
	}
	c.add(PrimMulDiagonal, lt.level, diags)
	c.add(PrimModDown, lt.level, 1)
}

// evaluate computes the transformation of ct (not rescaled): the baby
// steps and then the giant steps split over workers, each with its own
// evaluator and accumulator, in elements borrowed from buf.
func (lt *linearTransform) evaluate(evals []*hefloat.Evaluator, buf *buffers, ct *rlwe.Ciphertext) (*rlwe.Ciphertext, error) {
	if ct.Level() != lt.level {
		return nil, fmt.Errorf("input at level %d, the transformation is encoded for level %d", ct.Level(), lt.level)
	}
	if ct.Degree() != 1 || !ct.IsNTT {
		return nil, fmt.Errorf("input of degree %d (NTT %v): a relinearized ciphertext in the NTT domain is expected", ct.Degree(), ct.IsNTT)
	}
	// The costliest giant steps first, so that the workers finish together:
	// those with a rotation before the one without, then by their terms.
	giants := make([]int, 0, len(lt.blocks))
	for g := range lt.blocks {
		giants = append(giants, g)
	}
	slices.SortFunc(giants, func(a, b int) int {
		if (a == 0) != (b == 0) {
			return map[bool]int{true: 1, false: -1}[a == 0]
		}
		if c := cmp.Compare(len(lt.blocks[b]), len(lt.blocks[a])); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return lattigox.MultiplyByDiagMatrixBSGS(lattigox.Workers{Evals: evals, Pool: buf}, ct, giants, lt.blocks, lt.scale)
}
