package plan

import "slices"

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

// Split assigns each diagonal a giant and a baby step.
type Split struct {
	Giant, Baby []int          // distinct steps, sorted
	Steps       map[int][2]int // diagonal → (giant, baby)
}

// Cost is the split's cost in giant steps.
func (s Split) Cost() float64 {
	return splitCost(s.Giants(), s.Babies())
}

// splitCost is the cost of giants giant steps and babies baby steps, in
// giant steps.
func splitCost(giants, babies int) float64 {
	return float64(giants) + babyWeight*float64(babies)
}

// Giants counts the non-zero giant steps: each is a key switch.
func (s Split) Giants() int { return nonZero(s.Giant) }

// Babies counts the non-zero baby steps: each is a key switch too, cheaper
// since they share one decomposition.
func (s Split) Babies() int { return nonZero(s.Baby) }

func nonZero(steps []int) int {
	n := 0
	for _, r := range steps {
		if r != 0 {
			n++
		}
	}
	return n
}

func makeSplit(diags []int, slots int, giantOf func(k int) int) Split {
	s := Split{Steps: make(map[int][2]int, len(diags))}
	gs, bs := map[int]bool{}, map[int]bool{}
	for _, k := range diags {
		g := ((giantOf(k) % slots) + slots) % slots
		b := ((k-g)%slots + slots) % slots
		s.Steps[k] = [2]int{g, b}
		gs[g], bs[b] = true, true
	}
	for g := range gs {
		s.Giant = append(s.Giant, g)
	}
	for b := range bs {
		s.Baby = append(s.Baby, b)
	}
	slices.Sort(s.Giant)
	slices.Sort(s.Baby)
	return s
}

// bestSplit tries power-of-two splits and splits at the starts of the
// diagonal clusters, and keeps the cheapest.
func bestSplit(diags []int, slots int) Split {
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
	cost := func(giant []int) (float64, int) {
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
		return splitCost(ng, nb), ng + nb
	}
	// Between splits of equal cost, the one with fewer distinct steps
	// needs fewer keys.
	const tie = 1e-9
	bestCost, bestKeys := cost(best)
	consider := func() {
		if c, k := cost(giants); c < bestCost-tie || (c < bestCost+tie && k < bestKeys) {
			bestCost, bestKeys = c, k
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
