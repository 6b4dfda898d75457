package lattigox

import (
	"bufio"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/hecc-dev/hecc/params"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// checkedAgainst is the Lattigo version every function of this package
// was compared with.
const (
	lattigoModule  = "github.com/tuneinsight/lattigo/v5"
	checkedAgainst = "v5.0.7"
)

// TestLattigoVersion fails when go.mod requires (or replaces) Lattigo at
// another version than the one the copies were checked against.
func TestLattigoVersion(t *testing.T) {
	f, err := os.Open("../../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var found []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require"))
		for i, field := range fields {
			if field == lattigoModule {
				found = append(found, strings.Join(fields[i:], " "))
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0] != lattigoModule+" "+checkedAgainst {
		t.Fatalf("go.mod has %q where %s %s was expected: re-check every function of runtime/internal/lattigox (each file names the upstream function it mirrors) against the new version, then update checkedAgainst and the files' headings",
			found, lattigoModule, checkedAgainst)
	}
}

// testParameters are the parameter sets the copies are compared on:
// small, whose large overflow margins never make a lazy sum reduce early;
// wide, whose 60- and 61-bit primes allow four lazy products between
// reductions and whose 34 primes make 17 key-switching parts, more than
// four for every worker; and two-prime, a scale of 2^70 on two primes per
// level (Lattigo's PREC128 mode); thirty-bit, primes on both sides of 2^30
// like those of hecc's batch circuits, which package ntt transforms; and
// mixed, one P prime and Q primes on both sides of ntt.MaxModulus, like
// CryptoNets' packed parameters.
func testParameters(t testing.TB) map[string]hefloat.Parameters {
	t.Helper()
	small, two := params.InsecureTestSet(11, 4, 35), params.InsecureTestSet(11, 3, 70)
	wideQ := make([]int, 34)
	for i := range wideQ {
		wideQ[i] = 60
	}
	out := map[string]hefloat.Parameters{}
	for name, lit := range map[string]hefloat.ParametersLiteral{
		"small":      {LogN: small.LogN, LogQ: small.LogQ, LogP: small.LogP, LogDefaultScale: small.LogScale},
		"wide":       {LogN: 10, LogQ: wideQ, LogP: []int{61, 61}, LogDefaultScale: 45},
		"two-prime":  {LogN: two.LogN, LogQ: two.LogQ, LogP: two.LogP, LogDefaultScale: two.LogScale},
		"thirty-bit": {LogN: 12, LogQ: []int{30, 29, 30, 30, 30}, LogP: []int{31}, LogDefaultScale: 30},
		"mixed":      {LogN: 11, LogQ: []int{33, 28, 28, 28, 28}, LogP: []int{34}, LogDefaultScale: 28},
	} {
		p, err := hefloat.NewParametersFromLiteral(lit)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = p
	}
	return out
}

// nttParameters are testParameters and, for the functions that take
// package ntt's transforms, flooded, one P prime and Q primes of 36 to 40
// bits, two per level, like the flooded CryptoNets batch's; wide-last, Q
// primes below ntt.MaxModulus but the last, which one rescale divides by;
// and two rescales by two primes of 36 and 37 bits onto primes below
// ntt.MaxModulus, and by two primes above ntt.MaxWideModulus onto primes
// below it.
func nttParameters(t testing.TB) map[string]hefloat.Parameters {
	t.Helper()
	out := testParameters(t)
	for name, lit := range map[string]hefloat.ParametersLiteral{
		"flooded":         {LogN: 12, LogQ: []int{39, 39, 37, 36, 37, 36}, LogP: []int{40}, LogDefaultScale: 73},
		"wide-last":       {LogN: 11, LogQ: []int{30, 29, 30, 36}, LogP: []int{37}, LogDefaultScale: 30},
		"two-onto-narrow": {LogN: 11, LogQ: []int{30, 29, 36, 37}, LogP: []int{38}, LogDefaultScale: 73},
		"two-above-2^50":  {LogN: 11, LogQ: []int{45, 40, 55, 55}, LogP: []int{56}, LogDefaultScale: 110},
	} {
		p, err := hefloat.NewParametersFromLiteral(lit)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = p
	}
	return out
}

// keyedPRNG is a deterministic PRNG; two made with the same key read the
// same stream.
func keyedPRNG(t testing.TB, key string) sampling.PRNG {
	t.Helper()
	prng, err := sampling.NewKeyedPRNG([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return prng
}

// dirtyPool lends elements filled with random residues, as a reused one
// would be, and counts those not given back.
type dirtyPool struct {
	mu   sync.Mutex
	prng sampling.PRNG
	out  int
}

func (d *dirtyPool) Element(p *hefloat.Parameters, levelQ int) *rlwe.Element[ringqp.Poly] {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.out++
	el := rlwe.NewElementExtended(p, 1, levelQ, p.MaxLevelP())
	s := ringqp.NewUniformSampler(d.prng, *p.RingQP()).AtLevel(levelQ, p.MaxLevelP())
	for _, v := range el.Value {
		s.Read(v)
	}
	return el
}

func (d *dirtyPool) Release(els ...*rlwe.Element[ringqp.Poly]) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range els {
		if e != nil {
			d.out--
		}
	}
}

// workerCounts are the numbers of workers each split function is run
// with: one takes Lattigo's own path where there is one.
var workerCounts = []int{1, 2, 3}

// newWorkers makes n workers sharing eval's keys, lending dirty elements.
func newWorkers(t testing.TB, eval *hefloat.Evaluator, n int) (Workers, *dirtyPool) {
	pool := &dirtyPool{prng: keyedPRNG(t, "dirty")}
	evals := make([]*hefloat.Evaluator, n)
	for i := range evals {
		evals[i] = eval.ShallowCopy()
	}
	return Workers{Evals: evals, Pool: pool}, pool
}

// equalCiphertexts reports whether a and b hold the same residues and
// metadata.
func equalCiphertexts(a, b *rlwe.Ciphertext) bool {
	return a.Level() == b.Level() && a.Degree() == b.Degree() && a.Equal(b)
}
