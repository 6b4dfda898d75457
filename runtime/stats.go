package runtime

import (
	"cmp"
	"slices"
	"sync"

	"github.com/hecc-dev/hecc/runtime/internal/lattigox"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
)

// The Lattigo primitives an evaluation performs, as Stats counts them and
// PrimitiveSeconds times them.
const (
	PrimBabyStep    = "baby-step"    // a rotation kept in the extended basis QP, sharing its input's decomposition
	PrimGiantStep   = "giant-step"   // a ModDown of c1, a key switch kept in QP and an automorphism added to the sum
	PrimMulDiagonal = "mul-diagonal" // a QP ciphertext × a QP diagonal, accumulated lazily
	PrimModDown     = "mod-down"     // a transformation's sum brought from QP down to Q
	PrimRelinearize = "relinearize"  // a key switch with the relinearization key
	PrimMul         = "mul"          // ciphertext × ciphertext, before relinearization
	PrimMulPlain    = "mul-plain"    // ciphertext × encoded plaintext (and accumulate)
	PrimMulConst    = "mul-const"    // ciphertext × scalar
	PrimRescale     = "rescale"
	PrimAdd         = "add" // ciphertext + ciphertext or + plaintext vector
)

// Primitives lists them in report order.
var Primitives = []string{PrimBabyStep, PrimGiantStep, PrimMulDiagonal, PrimModDown, PrimRelinearize, PrimMul, PrimMulPlain, PrimMulConst, PrimRescale, PrimAdd}

// OpCount is how many times an evaluation performed a primitive at a level.
type OpCount struct {
	Op    string `json:"op"`
	Level int    `json:"level"`
	Count int    `json:"count"`
}

type opKey struct {
	op    string
	level int
}

// opCounter accumulates counts; linear transformations count from several
// goroutines. It is given Lattigo's levels, those of the ciphertexts, and
// counts at the chain's levels: perLevel primes each (1 if unset).
type opCounter struct {
	mu       sync.Mutex
	m        map[opKey]int
	perLevel int
}

func (c *opCounter) add(op string, ringLevel, n int) {
	if n == 0 {
		return
	}
	level := ringLevel / max(1, c.perLevel)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[opKey]int{}
	}
	c.m[opKey{op, level}] += n
}

// list returns the counts sorted by primitive, then level from the top.
func (c *opCounter) list() []OpCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]OpCount, 0, len(c.m))
	for k, n := range c.m {
		out = append(out, OpCount{k.op, k.level, n})
	}
	order := func(op string) int { return slices.Index(Primitives, op) }
	slices.SortFunc(out, func(a, b OpCount) int {
		return cmp.Or(cmp.Compare(order(a.Op), order(b.Op)), cmp.Compare(b.Level, a.Level))
	})
	return out
}

func (c *opCounter) total(ops ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := 0
	for k, n := range c.m {
		if slices.Contains(ops, k.op) {
			t += n
		}
	}
	return t
}

// countingEvaluator is the evaluator Lattigo's polynomial evaluator gets:
// it counts every primitive the evaluation performs, at its level, and
// relinearizes and rescales on all the workers (workers[0] is the embedded evaluator).
type countingEvaluator struct {
	*hefloat.Evaluator
	c       *opCounter
	workers []*hefloat.Evaluator
	buf     *buffers
}

func (e countingEvaluator) mulKind(op1 rlwe.Operand) string {
	switch op1.(type) {
	case *rlwe.Ciphertext:
		return PrimMul
	case *rlwe.Plaintext, []float64, []complex128:
		return PrimMulPlain
	}
	return PrimMulConst
}

func (e countingEvaluator) Mul(op0 *rlwe.Ciphertext, op1 rlwe.Operand, out *rlwe.Ciphertext) error {
	e.c.add(e.mulKind(op1), op0.Level(), 1)
	return e.Evaluator.Mul(op0, op1, out)
}

func (e countingEvaluator) MulNew(op0 *rlwe.Ciphertext, op1 rlwe.Operand) (*rlwe.Ciphertext, error) {
	e.c.add(e.mulKind(op1), op0.Level(), 1)
	return e.Evaluator.MulNew(op0, op1)
}

func (e countingEvaluator) MulThenAdd(op0 *rlwe.Ciphertext, op1 rlwe.Operand, out *rlwe.Ciphertext) error {
	e.c.add(e.mulKind(op1), op0.Level(), 1)
	return e.Evaluator.MulThenAdd(op0, op1, out)
}

func (e countingEvaluator) MulRelin(op0 *rlwe.Ciphertext, op1 rlwe.Operand, out *rlwe.Ciphertext) error {
	e.countRelin(op0, op1)
	ct1, ok := op1.(*rlwe.Ciphertext)
	if !ok || op0.Degree() != 1 || ct1.Degree() != 1 {
		return e.Evaluator.MulRelin(op0, op1, out)
	}
	product, err := e.Evaluator.MulNew(op0, ct1)
	if err != nil {
		return err
	}
	return lattigox.Relinearize(lattigox.Workers{Evals: e.workers, Pool: e.buf}, product, out)
}

func (e countingEvaluator) MulRelinNew(op0 *rlwe.Ciphertext, op1 rlwe.Operand) (*rlwe.Ciphertext, error) {
	out := hefloat.NewCiphertext(*e.GetParameters(), 1, op0.Level())
	if err := e.MulRelin(op0, op1, out); err != nil {
		return nil, err
	}
	return out, nil
}

func (e countingEvaluator) countRelin(op0 *rlwe.Ciphertext, op1 rlwe.Operand) {
	kind := e.mulKind(op1)
	e.c.add(kind, op0.Level(), 1)
	if kind == PrimMul {
		e.c.add(PrimRelinearize, op0.Level(), 1)
	}
}

func (e countingEvaluator) Relinearize(op0, out *rlwe.Ciphertext) error {
	e.c.add(PrimRelinearize, op0.Level(), 1)
	return lattigox.Relinearize(lattigox.Workers{Evals: e.workers, Pool: e.buf}, op0, out)
}

func (e countingEvaluator) Rescale(op0, out *rlwe.Ciphertext) error {
	e.c.add(PrimRescale, op0.Level(), 1)
	return lattigox.Rescale(lattigox.Workers{Evals: e.workers}, op0, out)
}

func (e countingEvaluator) Add(op0 *rlwe.Ciphertext, op1 rlwe.Operand, out *rlwe.Ciphertext) error {
	e.c.add(PrimAdd, op0.Level(), 1)
	return e.Evaluator.Add(op0, op1, out)
}

func (e countingEvaluator) AddNew(op0 *rlwe.Ciphertext, op1 rlwe.Operand) (*rlwe.Ciphertext, error) {
	e.c.add(PrimAdd, op0.Level(), 1)
	return e.Evaluator.AddNew(op0, op1)
}

func (e countingEvaluator) Sub(op0 *rlwe.Ciphertext, op1 rlwe.Operand, out *rlwe.Ciphertext) error {
	e.c.add(PrimAdd, op0.Level(), 1)
	return e.Evaluator.Sub(op0, op1, out)
}

func (e countingEvaluator) SubNew(op0 *rlwe.Ciphertext, op1 rlwe.Operand) (*rlwe.Ciphertext, error) {
	e.c.add(PrimAdd, op0.Level(), 1)
	return e.Evaluator.SubNew(op0, op1)
}
