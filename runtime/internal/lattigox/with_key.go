// Mirrors lattigo/v5@v5.0.7 he/hefloat/hefloat.go and core/rlwe/evaluator.go:
// Evaluator.WithKey, with the automorphism index taken from an evaluator
// that already holds the keys instead of recomputed: one table of N
// entries per Galois key, which WithKey builds anew at every call.

package lattigox

import "github.com/tuneinsight/lattigo/v5/he/hefloat"

// WithKeysOf is buffers.WithKey(keyed's keys) without recomputing the
// automorphism index: the evaluator it returns has the keys and index of
// keyed and the buffers, encoder and basis extender of buffers, so it may
// be used wherever buffers could, and not alongside it.
func WithKeysOf(buffers, keyed *hefloat.Evaluator) *hefloat.Evaluator {
	rl := *keyed.Evaluator.Evaluator // parameters, keys and automorphism index
	own := buffers.Evaluator.Evaluator
	rl.EvaluatorBuffers, rl.BasisExtender, rl.Decomposer = own.EvaluatorBuffers, own.BasisExtender, own.Decomposer
	e := *buffers // encoder and the scheme's buffers
	e.Evaluator.Evaluator = &rl
	return &e
}
