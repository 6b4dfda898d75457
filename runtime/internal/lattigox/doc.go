// Package lattigox holds hecc's copies of Lattigo internals: functions
// that reproduce, bit for bit, what a Lattigo v5.0.7 function computes,
// where hecc needs the computation in another shape (split over workers,
// constants looked up once, a uniform half regenerated from a seed).
//
// Each file mirrors one upstream function and names it in its heading
// comment. Lattigo v5 is deprecated upstream, so every copy is pinned:
// each has a bit-exact test against the Lattigo path it mirrors, and
// TestLattigoVersion fails when go.mod moves to another Lattigo, so that
// every mirrored function is re-checked against the new version before
// the fence is moved.
//
// Worker w of a Workers uses evaluator w and its buffers only, apart from
// the buffers of evaluator 0 that a function names as shared read-only.
package lattigox
