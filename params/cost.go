package params

import (
	"math"
)

// Workload is what a circuit does at each level (index = level), for the
// cost model: key switches (rotations, relinearizations and the giant
// steps of linear transformations), baby steps (key switches kept in the
// extended basis, sharing one decomposition), plaintext multiplications
// in Q and diagonal multiplications in QP, ciphertext multiplications,
// rescales; and, for the memory estimate, the evaluation keys (Galois
// keys and the relinearization key) held at each level, each counted at
// the highest level it is used at.
type Workload struct {
	KeySwitches []float64
	BabySteps   []float64
	PtMuls      []float64
	DiagMuls    []float64
	CtMuls      []float64
	Rescales    []float64
	Keys        []float64
	// ScalarMuls counts ciphertext × integer multiply-adds, accumulated
	// lazily (a batch circuit's affine maps).
	ScalarMuls []float64
}

// Empty reports whether the workload holds nothing to cost.
func (w Workload) Empty() bool {
	return len(w.KeySwitches)+len(w.BabySteps)+len(w.PtMuls)+len(w.DiagMuls)+len(w.CtMuls)+len(w.Rescales)+len(w.Keys)+len(w.ScalarMuls) == 0
}

func (w Workload) keys() float64 {
	t := 0.0
	for _, k := range w.Keys {
		t += k
	}
	return t
}

// EvalKeyBytes estimates the memory the workload's evaluation keys take
// under the set, as Lattigo holds them: a key at level ℓ, whose
// ciphertexts have L = Limbs(ℓ) primes, is a gadget ciphertext of
// dnum = ⌈L/α⌉ pairs of polynomials, each with L+α limbs of N 8-byte
// coefficients.
func (s Set) EvalKeyBytes(w Workload) int64 {
	alpha := len(s.LogP)
	var b int64
	for l, k := range w.Keys {
		if l > s.MaxLevel() {
			break
		}
		limbs := s.Limbs(l)
		dnum := (limbs + alpha - 1) / alpha
		b += int64(k * float64(dnum*2*(limbs+alpha)*8<<s.LogN))
	}
	return b
}

// Cost model of Lattigo v5's CKKS, in milliseconds of one core at logN 13;
// docs/cost-model.md gives the measurements it is fitted to and the
// commands that repeat them (hecc bench --floor). Its purpose is to rank
// parameter sets, not to predict wall time. A key switch costs
// keySwitchMs13·(ℓ+1+α)·(dnum+0.4), dnum = ⌈(ℓ+1)/α⌉: every digit is
// multiplied into every limb of QP, which is why more key-switching primes
// can pay for the scale bits they take from the security budget. Limb-wise
// operations double with each step of logN; a key switch, dominated by
// NTTs, grows by 2.15 (about N·log N). A baby step is a share of a key
// switch: it reuses its input's decomposition and skips the ModDown. A
// diagonal multiplication is a ct×pt on the ℓ+1+α limbs of QP.
const (
	keySwitchMs13 = 0.17
	babyStepShare = 0.3
	ptMulMs13     = 0.03
	ctMulMs13     = 0.075
	rescaleMs13   = 0.24
	// A scalar multiply-add on both polynomials of a limb, four terms per
	// load and store of the sum (runtime's BenchmarkBatchAccumulate).
	scalarMulMs13 = 0.011
)

// PredictSeconds estimates the latency of a workload under the set.
func (s Set) PredictSeconds(w Workload) float64 {
	steps := float64(s.LogN - 13)
	ks := keySwitchMs13 * math.Pow(2.15, steps)
	limb := math.Pow(2, steps)
	alpha := len(s.LogP)
	var ms float64
	at := func(v []float64, l int) float64 {
		if l < len(v) {
			return v[l]
		}
		return 0
	}
	for l := 0; l <= s.MaxLevel(); l++ {
		limbs := float64(s.Limbs(l))
		dnum := math.Ceil(limbs / float64(alpha))
		keySwitch := ks * (limbs + float64(alpha)) * (dnum + 0.4)
		ms += at(w.KeySwitches, l) * keySwitch
		ms += at(w.BabySteps, l) * babyStepShare * keySwitch
		ms += at(w.PtMuls, l) * ptMulMs13 * limb * limbs
		ms += at(w.DiagMuls, l) * ptMulMs13 * limb * (limbs + float64(alpha))
		ms += at(w.CtMuls, l) * ctMulMs13 * limb * limbs
		ms += at(w.Rescales, l) * rescaleMs13 * limb * limbs
		ms += at(w.ScalarMuls, l) * scalarMulMs13 * limb * limbs
	}
	return ms / 1000
}
