// Package params owns hecc's security table and the choice of CKKS
// parameters: the ring degree N, the modulus chain and the scale.
//
// Lattigo applies no security check of its own, so every parameter set a
// user runs is checked here against published bounds for classical
// attacks, a uniform ternary secret and error σ ≈ 3.2 (Lattigo's
// defaults). Small insecure sets exist for unit tests only, behind
// InsecureTestSet.
//
// The package uses the standard library only: the runtime turns a Set into
// Lattigo parameters and re-checks the real primes against the same table.
package params

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// maxLogQP is the largest log2(Q·P) for each security level and log2 N,
// for a uniform ternary secret, error σ ≈ 3.2 and classical attacks.
//
// Every entry is the smaller of two published bounds, so that a set passes
// only if both estimates put it at the level:
//   - the HomomorphicEncryption.org security standard (Albrecht et al.,
//     2018), σ = 3.2, logN 10 to 15 (it stops there); the bounds SEAL,
//     TenSEAL and OpenFHE's HEStd_ternary rows use;
//   - the Security Guidelines for Implementing Homomorphic Encryption
//     (Bossuat et al. 2024, ia.cr/2024/463), Table 5.2, σ = 3.19, logN 10
//     to 17, estimated with a later lattice estimator.
//
// The 2024 bounds are the smaller wherever both tables have an entry (by 1
// to 14 bits), so the table is Table 5.2 but for 192 and 256 bits at
// logN 10, which Table 5.2 leaves out and the 2018 standard gives. The
// paper's text was not read; its ternary classical figures were checked
// against two copies that agree on every entry: the table its authors
// publish with their lattice-estimator scripts (repository
// gong-cr/FHE-Security-Guidelines, the Lattigo example's
// parameters/tables.go, "Table 5.2") and visualDust/fhelium's
// fhelium/config/security.py, which transcribes the published paper.
// OpenFHE's HEStd_ternary classical rows agree for logN 16 and 17 (and
// keep the 2018 bounds below). The scripts' own output
// (output_max_logQ_tables.txt) gives one bit more in four places (128 bits
// at logN 12 and 14, 192 at 13, 256 at 15): the smaller, published figure
// is kept.
var maxLogQP = map[int]map[int]int{
	128: {10: 26, 11: 53, 12: 106, 13: 214, 14: 430, 15: 868, 16: 1747, 17: 3523},
	192: {10: 19, 11: 36, 12: 73, 13: 147, 14: 297, 15: 597, 16: 1199, 17: 2411},
	256: {10: 14, 11: 27, 12: 56, 13: 114, 14: 230, 15: 462, 16: 929, 17: 1866},
}

// Ring degrees Select chooses from: below minLogN a ring holds too few
// slots to be worth it, and maxLogN is the largest in the table.
const (
	minLogN = 11
	maxLogN = 17
)

// Levels lists the supported security levels in bits.
var Levels = []int{128, 192, 256}

// Sentinel errors.
var (
	// ErrInsecure reports a parameter set beyond the security table.
	ErrInsecure = errors.New("parameters are not secure")
	// ErrNoFit reports requirements no secure parameter set can meet.
	ErrNoFit = errors.New("no secure parameters fit")
)

// DefaultMaxKeyBytes is the memory the evaluation keys may take when
// Requirements give no budget: 16 GiB, which leaves a 24 GiB server room
// for the ciphertexts, the encoded weights and the working buffers.
const DefaultMaxKeyBytes int64 = 16 << 30

// MaxLogQP returns the bound for a security level and ring degree, and
// whether the table has it.
func MaxLogQP(security, logN int) (int, bool) {
	b, ok := maxLogQP[security][logN]
	return b, ok
}

// Set is a CKKS parameter set: a power-of-two ring degree, the bit sizes of
// the ciphertext primes (q0 first, one more per level) and of the
// key-switching primes, and the scale Δ = 2^LogScale.
//
// A scale above 64 bits, more than one prime can hold, takes two primes
// per level, as Lattigo decides (its PREC128 mode): LogQ then lists the
// base level's two primes first and two more per level, and a rescale
// divides by both primes of its level. Circuit privacy needs such scales
// (plan.Flood). A level keeps its meaning in the spec and the IR: the
// primes of level ℓ end at RingLevel(ℓ), Lattigo's level.
type Set struct {
	LogN     int   `json:"logN"`
	LogQ     []int `json:"logQ"`
	LogP     []int `json:"logP"`
	LogScale int   `json:"logScale"`
	// LogOutputScale, when not 0, is the scale the circuit's output lands
	// on at the last level, below LogScale: the first prime holds the output
	// at it (see Requirements.LogOutputScale).
	LogOutputScale int `json:"logOutputScale,omitempty"`
	// Security is the level in bits the set was checked against; 0 marks
	// the insecure unit-test sets.
	Security int `json:"security"`
}

// LogQP is the nominal size in bits of the whole modulus.
func (s Set) LogQP() int { return sum(s.LogQ) + sum(s.LogP) }

func sum(bits []int) int {
	t := 0
	for _, b := range bits {
		t += b
	}
	return t
}

// MaxLevel is the level of a fresh ciphertext: the number of rescales the
// chain allows.
func (s Set) MaxLevel() int { return len(s.LogQ)/s.PrimesPerLevel() - 1 }

// MaxPrimeLogScale is the largest scale one prime per level holds; a larger
// one takes two (Lattigo's PREC128 starts above 64 bits).
const MaxPrimeLogScale = 64

// MaxLogScale is the largest scale of two primes per level: the runtime
// encodes the weights in double-double arithmetic, whose error stays below
// the rounding to integers up to scales of about 2^108.
const MaxLogScale = 100

// PrimesPerLevel is how many ciphertext primes a rescale divides by: 1, or
// 2 for a scale above MaxPrimeLogScale.
func (s Set) PrimesPerLevel() int {
	if s.LogScale > MaxPrimeLogScale {
		return 2
	}
	return 1
}

// RingLevel is Lattigo's level for level ℓ of the chain: the index in LogQ
// of the last prime of that level.
func (s Set) RingLevel(level int) int {
	k := s.PrimesPerLevel()
	return k*level + k - 1
}

// Level is the level of the chain Lattigo's level ringLevel belongs to.
func (s Set) Level(ringLevel int) int { return ringLevel / s.PrimesPerLevel() }

// LogSlots is log2 of the number of complex slots, N/2.
func (s Set) LogSlots() int { return s.LogN - 1 }

// Insecure reports whether this is a unit-test set.
func (s Set) Insecure() bool { return s.Security == 0 }

func (s Set) String() string {
	sec := fmt.Sprintf("%d-bit", s.Security)
	if s.Insecure() {
		sec = "INSECURE test"
	}
	out := ""
	if s.LogOutputScale != 0 {
		out = fmt.Sprintf(" logOutputScale=%d", s.LogOutputScale)
	}
	primes := ""
	if s.PrimesPerLevel() > 1 {
		primes = fmt.Sprintf(", %d primes per level", s.PrimesPerLevel())
	}
	return fmt.Sprintf("logN=%d logQ=%v logP=%v logScale=%d%s (logQP=%d%s, %s)", s.LogN, s.LogQ, s.LogP, s.LogScale, out, s.LogQP(), primes, sec)
}

// Validate checks the set's shape and, unless it is an insecure test set,
// that its modulus is within the security table. It is the one gate every
// set a user runs passes through.
func (s Set) Validate() error {
	if s.LogN < 4 || s.LogN > 17 {
		return fmt.Errorf("logN=%d is outside [4, 17]", s.LogN)
	}
	if len(s.LogQ) == 0 || len(s.LogQ) > maxCiphertextPrimes || len(s.LogP) == 0 || len(s.LogP) > maxKeySwitchPrimes {
		return fmt.Errorf("modulus chain has %d ciphertext and %d key-switching primes", len(s.LogQ), len(s.LogP))
	}
	for _, b := range s.LogQ {
		if b < 20 || b > 60 {
			return fmt.Errorf("ciphertext prime of %d bits (20 to 60 allowed)", b)
		}
	}
	for _, b := range s.LogP {
		if b < 20 || b > 61 {
			return fmt.Errorf("key-switching prime of %d bits (20 to 61 allowed)", b)
		}
	}
	k := s.PrimesPerLevel()
	if len(s.LogQ)%k != 0 {
		return fmt.Errorf("scale 2^%d takes %d primes per level, the chain has %d primes", s.LogScale, k, len(s.LogQ))
	}
	if s.LogOutputScale != 0 {
		// Only the batch layout lands its output below the scale, on one
		// prime per level.
		if k != 1 || s.LogOutputScale < 10 || s.LogOutputScale >= s.LogScale || s.LogOutputScale >= s.LogQ[0] {
			return fmt.Errorf("logOutputScale=%d must be at least 10, below logScale=%d and below the first prime (%d bits), with one prime per level", s.LogOutputScale, s.LogScale, s.LogQ[0])
		}
		if s.LogScale > 60 {
			return fmt.Errorf("logScale=%d must be in [10, 60]", s.LogScale)
		}
	} else if base := sum(s.LogQ[:k]); s.LogScale < 10 || s.LogScale > MaxLogScale || (k == 1 && s.LogScale > 60) || s.LogScale >= base {
		return fmt.Errorf("logScale=%d must be in [10, 60] (or (%d, %d] with two primes per level) and below the base level's modulus (%d bits)", s.LogScale, MaxPrimeLogScale, MaxLogScale, base)
	}
	if s.Insecure() {
		return nil
	}
	bound, ok := MaxLogQP(s.Security, s.LogN)
	if !ok {
		return fmt.Errorf("%w: no %d-bit bound for logN=%d in the security table", ErrInsecure, s.Security, s.LogN)
	}
	if s.LogQP() > bound {
		return fmt.Errorf("%w: logQP=%d exceeds %d, the %d-bit bound for logN=%d", ErrInsecure, s.LogQP(), bound, s.Security, s.LogN)
	}
	return nil
}

// InsecureTestSet returns a small parameter set with no security at all,
// for unit tests whose point is not the parameters. Nothing a user runs may
// call it: the runtime refuses insecure sets unless explicitly allowed. A
// scale above MaxPrimeLogScale gives a chain of two primes per level.
func InsecureTestSet(logN, depth, logScale int) Set {
	q := splitLevel(logScale+15, logScale > MaxPrimeLogScale)
	for range depth {
		q = append(q, splitLevel(logScale, logScale > MaxPrimeLogScale)...)
	}
	// Two key-switching primes, as the secure sets mostly have: the
	// runtime's key switching takes another path with a single one.
	p := min(61, slices.Max(q)+1)
	return Set{LogN: logN, LogQ: q, LogP: []int{p, p}, LogScale: logScale}
}

// splitLevel is the prime sizes of a level of the given bits: one prime,
// or two of nearly equal size.
func splitLevel(bits int, two bool) []int {
	if !two {
		return []int{bits}
	}
	return []int{bits - bits/2, bits / 2}
}

// Requirements are what a circuit needs of its parameters.
type Requirements struct {
	Depth int // rescales between encryption and decryption
	// MinLogScale is the least scale that gives the circuit enough
	// precision; Select uses the largest scale that fits, up to MaxLogScale.
	MinLogScale int
	MaxLogScale int
	// LogMaxValue bounds log2 of the largest magnitude a value reaches at
	// the last level, which the first prime must hold above the scale.
	LogMaxValue int
	// LogOutputScale, when not 0, is the scale the output lands on, the
	// first prime holding LogMaxValue bits above it rather than above the
	// circuit's scale: a layout whose last affine map can land on any
	// scale asks for it to keep its first prime small. A scale at or below
	// it is used as is.
	LogOutputScale int
	LogSlots       int // slots the layout needs
	Security       int
	// Work, when given, makes the choice cost-driven: every secure set
	// that fits is costed with PredictSeconds and the cheapest wins. Its
	// Keys also bound the memory of the evaluation keys.
	Work Workload
	// MaxKeyBytes is the most memory the evaluation keys may take
	// (EvalKeyBytes); 0 means DefaultMaxKeyBytes. A set over it is
	// rejected, with the reason.
	MaxKeyBytes int64
}

// KeyBudget is the most memory the evaluation keys may take.
func (r Requirements) KeyBudget() int64 {
	if r.MaxKeyBytes > 0 {
		return r.MaxKeyBytes
	}
	return DefaultMaxKeyBytes
}

// Choice is a selected set with the reasoning the compile report prints.
type Choice struct {
	Set
	// Binding says which requirement decided the ring degree.
	Binding string
	// Rejected lists each smaller ring and why it did not fit.
	Rejected []string
	// Predicted is the cost model's latency for the set (0 without a
	// workload); RunnerUp describes the next best set and why it lost.
	Predicted float64
	RunnerUp  string
}

// Select returns the cheapest secure set meeting req: the smallest ring
// degree with enough slots whose modulus budget holds the chain. Within it,
// the number α of key-switching primes is the one with the cheapest key
// switching — key size and time grow with dnum·(L+1+α), dnum = ⌈(L+1)/α⌉ —
// among those that keep the scale at comfortableLogScale (or at what a
// single prime allows, if less); then the largest scale that fits (more
// precision at no extra cost: cost follows the number of primes, not their
// size).
func Select(req Requirements) (Choice, error) {
	if !slices.Contains(Levels, req.Security) {
		return Choice{}, fmt.Errorf("security level %d is not one of %v bits", req.Security, Levels)
	}
	if req.Depth < 0 || req.MinLogScale < 10 || req.MaxLogScale < req.MinLogScale || req.MaxLogScale > MaxLogScale || req.LogMaxValue < 0 || req.LogOutputScale < 0 {
		return Choice{}, fmt.Errorf("invalid requirements %+v", req)
	}
	req = req.primesPerLevel()
	var rejected []string
	for logN := minLogN; logN <= maxLogN; logN++ {
		bound, _ := MaxLogQP(req.Security, logN)
		if logN-1 < req.LogSlots {
			rejected = append(rejected, fmt.Sprintf("logN=%d: %d slots, the layout needs %d", logN, 1<<(logN-1), 1<<req.LogSlots))
			continue
		}
		set, ok := bestChain(logN, req, bound)
		if !ok && req.Depth >= maxCiphertextPrimes {
			rejected = append(rejected, fmt.Sprintf("logN=%d: depth %d needs %d ciphertext primes, at most %d are allowed", logN, req.Depth, req.Depth+1, maxCiphertextPrimes))
			continue
		}
		if !ok {
			least := chain(logN, req, req.MinLogScale, 1)
			rejected = append(rejected, fmt.Sprintf("logN=%d: depth %d at scale 2^%d needs logQP=%d (first prime %d bits), the %d-bit bound is %d",
				logN, req.Depth, req.MinLogScale, least.LogQP(), least.LogQ[0], req.Security, bound))
			continue
		}
		if !req.Work.Empty() {
			return costDriven(req, logN, rejected)
		}
		if why, over := req.overKeyBudget(set); over {
			rejected = append(rejected, why)
			continue
		}
		set.Security = req.Security
		binding := fmt.Sprintf("modulus budget: depth %d at scale 2^%d with %d key-switching primes needs logQP=%d ≤ %d", req.Depth, set.LogScale, len(set.LogP), set.LogQP(), bound)
		if len(rejected) > 0 && strings.Contains(rejected[len(rejected)-1], "slots") {
			binding = fmt.Sprintf("slots: the layout needs %d", 1<<req.LogSlots)
		}
		return Choice{Set: set, Binding: binding, Rejected: rejected}, set.Validate()
	}
	return Choice{}, refusal(req, rejected)
}

// primesPerLevel restricts the scales to one prime per level when one
// prime holds the least scale with the values above it, and to two
// otherwise: two primes double the limbs of every operation and key, which
// a larger scale in the same ring would not show.
func (r Requirements) primesPerLevel() Requirements {
	onePrime := 60 - r.LogMaxValue - 1
	if r.MinLogScale <= onePrime {
		r.MaxLogScale = min(r.MaxLogScale, onePrime)
	} else {
		r.MinLogScale = max(r.MinLogScale, MaxPrimeLogScale+1)
		r.MaxLogScale = max(r.MaxLogScale, r.MinLogScale)
	}
	return r
}

// refusal explains why nothing fits, leading with the depth the circuit
// needs and the most the largest ring holds when depth is what decides.
func refusal(req Requirements, rejected []string) error {
	summary := ""
	if avail := MaxDepth(req.Security, maxLogN, req.MinLogScale, req.LogMaxValue); avail < req.Depth {
		bound, _ := MaxLogQP(req.Security, maxLogN)
		summary = fmt.Sprintf("the circuit needs depth %d, the largest ring (logN=%d, logQP ≤ %d, at most %d ciphertext primes) holds depth %d at scale 2^%d; ",
			req.Depth, maxLogN, bound, maxCiphertextPrimes, max(avail, 0), req.MinLogScale)
	}
	return fmt.Errorf("%w at %d-bit security: %s%s", ErrNoFit, req.Security, summary, strings.Join(rejected, "; "))
}

// MaxDepth is the deepest circuit a ring holds at a security level and
// scale, with values up to 2^logMaxValue at the last level, within the
// security bound and maxCiphertextPrimes: -1 if not even a fresh
// ciphertext fits, or the ring is not in the table.
func MaxDepth(security, logN, logScale, logMaxValue int) int {
	bound, ok := MaxLogQP(security, logN)
	if !ok {
		return -1
	}
	req := Requirements{LogMaxValue: logMaxValue}
	fresh := chain(logN, req, logScale, 1)
	if slices.Max(fresh.LogQ) > 60 {
		return -1
	}
	// bestChain's one bit of margin, and logScale bits per level.
	return min((bound-1-fresh.LogQP())/logScale, maxCiphertextPrimes/fresh.PrimesPerLevel()-1)
}

// overKeyBudget reports whether a set's evaluation keys would take more
// memory than the budget, and why.
func (r Requirements) overKeyBudget(s Set) (string, bool) {
	need := s.EvalKeyBytes(r.Work)
	if need <= r.KeyBudget() {
		return "", false
	}
	return fmt.Sprintf("logN=%d α=%d: %.0f evaluation keys would take %s of memory, over the %s budget",
		s.LogN, len(s.LogP), r.Work.keys(), gib(need), gib(r.KeyBudget())), true
}

func gib(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }

// comfortableLogScale is the precision above which a larger scale matters
// less than cheaper key switching.
const comfortableLogScale = 35

// closeCost is the relative difference in predicted cost below which two
// parameter sets count as equally fast.
const closeCost = 0.05

// maxKeySwitchPrimes bounds α, and maxCiphertextPrimes the chain: depth
// 63 at most, whatever the ring.
const (
	maxKeySwitchPrimes  = 8
	maxCiphertextPrimes = 64
)

// bestChain picks α and then the scale for a ring, or reports that nothing
// fits its budget.
func bestChain(logN int, req Requirements, bound int) (Set, bool) {
	if req.Depth >= maxCiphertextPrimes {
		return Set{}, false
	}
	largest := func(alpha int) (Set, bool) {
		for s := req.MaxLogScale; s >= req.MinLogScale; s-- {
			if set := chain(logN, req, s, alpha); set.fits(bound) {
				return set, true
			}
		}
		return Set{}, false
	}
	single, ok := largest(1)
	if !ok {
		return Set{}, false
	}
	floor := min(comfortableLogScale, single.LogScale)
	best := single
	for alpha := 2; alpha <= min(maxKeySwitchPrimes, len(single.LogQ)); alpha++ {
		set, ok := largest(alpha)
		if ok && set.LogScale >= floor && set.keySwitchCost() < best.keySwitchCost() {
			best = set
		}
	}
	return best, true
}

// keySwitchCost is proportional to a top-level key's size and to the time
// of a key switch: dnum·(L+1+α).
func (s Set) keySwitchCost() int {
	limbs, alpha := len(s.LogQ), len(s.LogP)
	return (limbs + alpha - 1) / alpha * (limbs + alpha)
}

// chain builds the modulus chain for a ring, a requirement, a scale and α:
// the base level holds the output's scale (the circuit's, or
// req.LogOutputScale below it) plus the largest output value (and a sign
// bit), one level of the scale's size follows per rescale (one prime, or
// two above MaxPrimeLogScale), and α key-switching primes each at least as
// large as every ciphertext prime, so that P exceeds the product of the α
// primes of each digit and key-switching noise stays below the scale.
func chain(logN int, req Requirements, logScale, alpha int) Set {
	two := logScale > MaxPrimeLogScale
	out := 0
	if req.LogOutputScale != 0 && req.LogOutputScale < logScale && !two {
		out = req.LogOutputScale
	}
	q := splitLevel(cmp.Or(out, logScale)+req.LogMaxValue+1, two)
	for range req.Depth {
		q = append(q, splitLevel(logScale, two)...)
	}
	p := make([]int, alpha)
	for i := range p {
		p[i] = min(61, slices.Max(q)+1)
	}
	return Set{LogN: logN, LogQ: q, LogP: p, LogScale: logScale, LogOutputScale: out}
}

// fits reports whether a chain's primes can be generated and its modulus
// is within bound, with one bit of margin: Lattigo's primes alternate
// around 2^b, so the real modulus can exceed the nominal sum slightly.
func (s Set) fits(bound int) bool {
	return slices.Max(s.LogQ) <= 60 && len(s.LogQ) <= maxCiphertextPrimes && s.LogQP() <= bound-1
}

// Limbs is the number of ciphertext primes of a ciphertext at level ℓ.
func (s Set) Limbs(level int) int { return s.RingLevel(level) + 1 }

// costDriven costs every secure set from the smallest ring that fits up to
// the largest and every α, each with its largest scale, and returns the
// cheapest with its runner-up. Sets whose evaluation keys would not fit the
// memory budget are left out; a ring left without any is listed among the
// rejected. Sets within closeCost of the cheapest count as equal, and the
// one with the larger scale (more precision) wins.
func costDriven(req Requirements, smallest int, rejected []string) (Choice, error) {
	type candidate struct {
		set  Set
		cost float64
	}
	var all []candidate
	for logN := smallest; logN <= maxLogN; logN++ {
		bound, _ := MaxLogQP(req.Security, logN)
		if logN-1 < req.LogSlots || req.Depth >= maxCiphertextPrimes {
			continue
		}
		fits, lightest := 0, ""
		var lightestBytes int64
		for alpha := 1; alpha <= min(maxKeySwitchPrimes, len(chain(logN, req, req.MaxLogScale, 1).LogQ)); alpha++ {
			for s := req.MaxLogScale; s >= req.MinLogScale; s-- {
				set := chain(logN, req, s, alpha)
				if set.fits(bound) {
					if why, over := req.overKeyBudget(set); over {
						if b := set.EvalKeyBytes(req.Work); lightest == "" || b < lightestBytes {
							lightest, lightestBytes = why, b
						}
						break
					}
					set.Security = req.Security
					all = append(all, candidate{set, set.PredictSeconds(req.Work)})
					fits++
					break
				}
			}
		}
		if fits == 0 && lightest != "" {
			rejected = append(rejected, lightest)
		}
	}
	if len(all) == 0 {
		return Choice{}, refusal(req, rejected)
	}
	slices.SortStableFunc(all, func(a, b candidate) int { return cmp.Compare(a.cost, b.cost) })
	// Among the near-cheapest, the most precise.
	pick := 0
	for i := range all {
		if all[i].cost <= all[0].cost*(1+closeCost) && all[i].set.LogScale > all[pick].set.LogScale {
			pick = i
		}
	}
	best := &all[pick]
	var second *candidate
	for i := range all {
		if i != pick {
			second = &all[i]
			break
		}
	}
	choice := Choice{Set: best.set, Rejected: rejected, Predicted: best.cost,
		Binding: fmt.Sprintf("lowest predicted latency (%.3g s by the cost model) among %d secure sets with scale ≥ 2^%d", best.cost, len(all), req.MinLogScale)}
	if second != nil && second.cost < best.cost {
		choice.RunnerUp = fmt.Sprintf("logN=%d α=%d scale=2^%d, predicted %.3g s (%.2f× the pick, within %.0f%%: the pick's scale 2^%d is more precise)",
			second.set.LogN, len(second.set.LogP), second.set.LogScale, second.cost, second.cost/best.cost, 100*closeCost, best.set.LogScale)
	} else if second != nil {
		why := "more limbs or larger key switches"
		switch {
		case second.set.LogN > best.set.LogN:
			why = fmt.Sprintf("a larger ring (logN=%d)", second.set.LogN)
		case len(second.set.LogP) != len(best.set.LogP):
			why = fmt.Sprintf("%d key-switching primes instead of %d", len(second.set.LogP), len(best.set.LogP))
		}
		choice.RunnerUp = fmt.Sprintf("logN=%d α=%d scale=2^%d, predicted %.3g s (%.2f× slower: %s)",
			second.set.LogN, len(second.set.LogP), second.set.LogScale, second.cost, second.cost/best.cost, why)
	}
	return choice, choice.Validate()
}

// DepthBudget is the deepest circuit any secure set Select could choose
// holds under req (its Depth ignored), or -1 when none holds even a
// fresh ciphertext. The workload's evaluation keys count as if all were
// generated at the top level, where they are largest: a deeper circuit
// moves them up, so the budget errs on the side of a set that fits.
func DepthBudget(req Requirements) int {
	keys := req.Work.keys()
	for d := maxCiphertextPrimes - 1; d >= 0; d-- {
		r := req
		r.Depth = d
		if !req.Work.Empty() {
			r.Work = Workload{Keys: make([]float64, d+1)}
			r.Work.Keys[d] = keys
		}
		if _, err := Select(r); err == nil {
			return d
		}
	}
	return -1
}
