package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/hecc-dev/hecc/params"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
	"github.com/tuneinsight/lattigo/v5/he/hefloat/bootstrapping"
	"github.com/tuneinsight/lattigo/v5/utils"
)

// bootstrapParameters are Lattigo's default dense-secret bootstrapping set
// N16QP1767H32768H32 with hecc's secret distribution (Lattigo's default
// uniform ternary, which hecc's security table is for) instead of a fixed
// Hamming weight of N/2, bootstrapping logSlots slots. The residual chain
// and the bootstrapping chain share the secret: both are checked against
// the table. The encapsulation's ephemeral secret (Hamming weight 32) is
// outside the table, and Lattigo v5.0.7's key to it gives away the secret
// key (docs/bootstrapping.md): these keys are for measuring only.
func bootstrapParameters(logSlots int) (hefloat.Parameters, bootstrapping.Parameters, error) {
	lit := bootstrapping.N16QP1767H32768H32
	residualLit := lit.SchemeParams
	residualLit.Xs = nil
	residual, err := hefloat.NewParametersFromLiteral(residualLit)
	if err != nil {
		return hefloat.Parameters{}, bootstrapping.Parameters{}, fmt.Errorf("cannot build the residual parameters: %w", err)
	}
	btpLit := lit.BootstrappingParams
	btpLit.LogN = utils.Pointy(residual.LogN())
	btpLit.Xs = residual.Xs()
	btpLit.LogSlots = utils.Pointy(logSlots)
	btp, err := bootstrapping.NewParametersFromLiteral(residual, btpLit)
	if err != nil {
		return hefloat.Parameters{}, bootstrapping.Parameters{}, fmt.Errorf("cannot build the bootstrapping parameters: %w", err)
	}
	bound, _ := params.MaxLogQP(128, residual.LogN())
	for _, p := range []hefloat.Parameters{residual, btp.BootstrappingParameters} {
		if p.LogQP() > float64(bound) {
			return hefloat.Parameters{}, bootstrapping.Parameters{}, fmt.Errorf("%w: logQP %.1f above the 128-bit bound %d at logN %d",
				params.ErrInsecure, p.LogQP(), bound, p.LogN())
		}
	}
	return residual, btp, nil
}

// BenchmarkBootstrap times one bootstrap of a ciphertext holding 2^logSlots
// real values in [-1, 1], at 128-bit parameters, and reports the cost of
// its keys and what the result keeps: the key generation time, the keys'
// serialized size and the heap they take, the heap the evaluator's encoded
// DFT matrices take, the levels and scale left after the bootstrap and its
// precision in bits (the smallest and the mean over the slots of -log2 of
// the error). Lattigo bootstraps on one core; the times are given in wall
// and in that thread's CPU time. It calls Evaluate, which bootstraps the
// slots the parameters are for: Bootstrap would first pack a ciphertext of
// fewer slots into the ring's full slots.
//
// The keys and matrices take gigabytes, and their generation as much again
// in garbage unless a memory limit makes the collector keep up: it runs
// only with HECC_LARGE_TESTS=1, one logSlots at a time, e.g.
//
//	HECC_LARGE_TESTS=1 GOMEMLIMIT=14GiB go test ./runtime -run '^$' -bench 'Bootstrap/logSlots=15$' -benchtime 3x
func BenchmarkBootstrap(b *testing.B) {
	if os.Getenv("HECC_LARGE_TESTS") != "1" {
		b.Skip("bootstrapping keys take gigabytes: set HECC_LARGE_TESTS=1")
	}
	for _, logSlots := range []int{15, 14, 10} {
		b.Run(fmt.Sprintf("logSlots=%d", logSlots), func(b *testing.B) {
			residual, btp, err := bootstrapParameters(logSlots)
			if err != nil {
				b.Fatal(err)
			}
			benchmarkBootstrap(b, residual, btp)
		})
	}
}

func benchmarkBootstrap(b *testing.B, residual hefloat.Parameters, btp bootstrapping.Parameters) {
	logSlots := btp.LogMaxSlots()
	// Lattigo's LogPi lists the bits of Q's primes.
	logP := make([]int, residual.PCount())
	for i, p := range residual.P() {
		logP[i] = int(math.Round(math.Log2(float64(p))))
	}
	b.Logf("residual: logN %d, logQ %v, logP %v, logQP %.1f, scale 2^%d; bootstrapping: logQP %.1f, depth %d",
		residual.LogN(), residual.LogQi(), logP, residual.LogQP(), residual.LogDefaultScale(),
		btp.BootstrappingParameters.LogQP(), btp.Depth())

	// Lattigo generates keys and bootstraps on the calling goroutine: its
	// thread's CPU time is what the work costs on a machine others share.
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	kgen := rlwe.NewKeyGenerator(residual)
	sk := kgen.GenSecretKeyNew()
	heapBefore := heapInUse()
	start, startCPU := time.Now(), threadCPU()
	evk, _, err := btp.GenEvaluationKeys(sk)
	if err != nil {
		b.Fatal(err)
	}
	keygen, keygenCPU := time.Since(start), threadCPU()-startCPU
	keyHeap := heapInUse() - heapBefore
	eval, err := bootstrapping.NewEvaluator(btp, evk)
	if err != nil {
		b.Fatal(err)
	}
	evalHeap := heapInUse() - heapBefore - keyHeap

	rng := rand.New(rand.NewPCG(1, uint64(logSlots)))
	want := make([]float64, 1<<logSlots)
	for i := range want {
		want[i] = 2*rng.Float64() - 1
	}
	enc := hefloat.NewEncoder(residual)
	pt := hefloat.NewPlaintext(residual, 0)
	pt.LogDimensions.Cols = logSlots
	if err := enc.Encode(want, pt); err != nil {
		b.Fatal(err)
	}
	in, err := rlwe.NewEncryptor(residual, sk).EncryptNew(pt)
	if err != nil {
		b.Fatal(err)
	}

	var out *rlwe.Ciphertext
	var bootstrapCPU float64
	for b.Loop() {
		start := threadCPU()
		if out, err = eval.Evaluate(in.CopyNew()); err != nil {
			b.Fatal(err)
		}
		bootstrapCPU += threadCPU() - start
	}

	have := make([]float64, 1<<logSlots)
	if err := enc.Decode(rlwe.NewDecryptor(residual, sk).DecryptNew(out), have); err != nil {
		b.Fatal(err)
	}
	worst, sum := 0.0, 0.0
	for i := range want {
		e := math.Abs(have[i] - want[i])
		worst = max(worst, e)
		sum += -math.Log2(e)
	}
	b.ReportMetric(bootstrapCPU/float64(b.N), "cpu-s/op")
	b.ReportMetric(keygen.Seconds(), "keygen-s")
	b.ReportMetric(keygenCPU, "keygen-cpu-s")
	b.ReportMetric(float64(evk.BinarySize())/(1<<20), "keys-MiB")
	b.ReportMetric(float64(keyHeap)/(1<<20), "keys-heap-MiB")
	b.ReportMetric(float64(evalHeap)/(1<<20), "evaluator-heap-MiB")
	b.ReportMetric(float64(len(evk.GetGaloisKeysList())), "galois-keys")
	b.ReportMetric(float64(out.Level()), "levels-after")
	b.ReportMetric(math.Log2(out.Scale.Float64()), "log2-scale-after")
	b.ReportMetric(-math.Log2(worst), "prec-bits-min")
	b.ReportMetric(sum/float64(len(want)), "prec-bits-mean")
}

// heapInUse is the heap in use after a collection.
func heapInUse() int64 {
	goruntime.GC()
	var m goruntime.MemStats
	goruntime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}
