package runtime

import (
	"context"
	"fmt"
	"math/rand/v2"
	goruntime "runtime"
	"syscall"
	"testing"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/compiler/tensorio"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/plan"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// BenchmarkBatchCryptoNetsCPU estimates a batch evaluation of the bundled
// CryptoNets (calibrated, as hecc bench --batch compiles it) at 128-bit
// security, unflooded and flooded at λ = 8 and 40, from the CPU time of its
// parts on one thread: every primitive the evaluation performs, counted by
// a run of the same circuit on the same chain at logN 11 and timed at the
// circuit's own ring, the affine maps' kernels over one block of
// coefficients per limb, scaled to the ring, and the flood. Its s/batch is
// that CPU time over two cores, as the runtime spreads every node over
// them: a flooded batch at logN 15 holds 784 input ciphertexts of 12 limbs
// and more during the first map, about 8 GB, which a shared machine cannot
// always evaluate whole (hecc bench --batch does).
func BenchmarkBatchCryptoNetsCPU(b *testing.B) {
	calib, err := tensorio.ReadNPZ("../testdata/samples/mnist_calib.npz")
	if err != nil {
		b.Fatal(err)
	}
	for _, bits := range []int{0, 8, 40} {
		b.Run(fmt.Sprintf("λ=%d", bits), func(b *testing.B) {
			res, err := compiler.CompileFile("../testdata/models/cryptonets.onnx", compiler.Options{Name: "cryptonets", Batch: true,
				Calibration: calib["x"], Margin: compiler.DefaultMargin, CircuitPrivacyBits: bits})
			if err != nil {
				b.Fatal(err)
			}
			srv, _ := batchCPUServer(b, res.Spec, res.Graph)
			ops := batchCPUCounts(b, res.Spec, res.Graph)
			goruntime.LockOSThread()
			defer goruntime.UnlockOSThread()
			var prim, kern, flood float64
			for range b.N {
				prim, kern, flood = 0, batchCPUKernels(b, srv), 0
				for _, op := range ops {
					if op.Op != PrimMulConst {
						prim += float64(op.Count) * primitiveCPU(b, srv, op.Op, op.Level)
					}
				}
				if bits > 0 {
					flood = floodCPU(b, srv) * float64(res.Spec.OutputCiphertexts())
				}
			}
			batch := (prim + kern + flood) / 2
			b.Logf("%s, batch %d: CPU s primitives %.2f, kernels %.2f, flood %.3f", res.Spec.Params, res.Spec.Batch, prim, kern, flood)
			b.ReportMetric(batch, "s/batch")
			b.ReportMetric(float64(res.Spec.Batch)/batch, "inputs/s")
		})
	}
}

// batchCPUServer is a server of the circuit with fresh keys, the public
// key too when it floods, and the keys.
func batchCPUServer(b *testing.B, spec *plan.Spec, g *ir.Graph) (*Server, *Keys) {
	keys, err := GenerateKeys(spec, nil)
	if err != nil {
		b.Fatal(err)
	}
	if spec.CircuitPrivacyBits > 0 {
		if err := keys.Eval.WithPublicKey(keys.Public); err != nil {
			b.Fatal(err)
		}
	}
	srv, err := NewServer(&Circuit{Spec: spec, Graph: g}, keys.Eval)
	if err != nil {
		b.Fatal(err)
	}
	return srv, keys
}

// batchCPUCounts is what an evaluation of g on spec's chain performs, at
// each level: counted by a run at logN 11, whose counts are the same.
func batchCPUCounts(b *testing.B, spec *plan.Spec, g *ir.Graph) []OpCount {
	small := spec.Params
	small.LogN, small.Security = 11, 0
	pl, err := plan.BuildBatch(spec.Model, g, small, 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := pl.SetCircuitPrivacy(spec.CircuitPrivacyBits); err != nil {
		b.Fatal(err)
	}
	srv, keys := batchCPUServer(b, pl.Spec, g)
	size := ir.NumElements(pl.Spec.Input.Shape)
	x := &ir.Tensor{Shape: append([]int{8}, batchInputShape(pl.Spec.Input)...), Data: randomInputs(1, 8*size, 1)}
	ct, err := Encrypt(pl.Spec, keys.Secret, x)
	if err != nil {
		b.Fatal(err)
	}
	_, st, err := srv.Run(context.Background(), ct)
	if err != nil {
		b.Fatal(err)
	}
	return st.Ops
}

// threadCPU is the calling thread's CPU time, in seconds.
func threadCPU() float64 {
	var ru syscall.Rusage
	const rusageThread = 1 // Linux's RUSAGE_THREAD
	syscall.Getrusage(rusageThread, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// cpuPer is the CPU time of one of the n operations run performs, over
// at least a third of a second, after a warm-up.
func cpuPer(b *testing.B, run func() error, n int) float64 {
	if err := run(); err != nil {
		b.Fatal(err)
	}
	reps, start := 0, threadCPU()
	for threadCPU()-start < 0.3 {
		if err := run(); err != nil {
			b.Fatal(err)
		}
		reps += n
	}
	return (threadCPU() - start) / float64(reps)
}

// primitiveCPU is the CPU time of one op at level (Server.primitive).
func primitiveCPU(b *testing.B, srv *Server, op string, level int) float64 {
	run, n, err := srv.primitive(op, level)
	if err != nil {
		b.Fatal(err)
	}
	return cpuPer(b, run, n)
}

// floodCPU is the CPU time of flooding one result ciphertext.
func floodCPU(b *testing.B, srv *Server) float64 {
	prng, err := sampling.NewPRNG()
	if err != nil {
		b.Fatal(err)
	}
	spec := srv.circuit.Spec
	ct := rlwe.NewCiphertextRandom(prng, srv.params, 1, spec.Params.RingLevel(spec.Output.Level))
	return cpuPer(b, func() error { _, err := srv.flood(ct); return err }, 1)
}

// batchCPUKernels is the CPU time of every affine map's kernels over
// the whole ring: one block of random coefficients per limb, times the
// blocks of the ring and the polynomials of the map's input.
func batchCPUKernels(b *testing.B, srv *Server) float64 {
	var total float64
	n := srv.params.N()
	for _, node := range srv.circuit.Graph.Nodes {
		ba := srv.batch[node]
		if ba == nil {
			continue
		}
		lin, polys := node.Linear, 2
		if srv.unrelinearized[node.Inputs[0]] {
			polys = 3
		}
		for i := range ba.weights {
			sub := srv.params.RingQ().SubRings[i]
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			x, y := make([][]uint64, lin.Cols), make([][]uint64, lin.Rows)
			for c := range x {
				x[c] = make([]uint64, coefficientBlock)
				for k := range x[c] {
					x[c][k] = rng.Uint64N(sub.Modulus)
				}
			}
			for r := range y {
				y[r] = make([]uint64, coefficientBlock)
			}
			scratch := make([]uint64, 4*coefficientBlock)
			block := cpuPer(b, func() error {
				accumulateBlock(y, x, lin, ba.groups, ba.weights[i], sub, scratch)
				return nil
			}, 1)
			total += block * float64(polys*n/coefficientBlock)
		}
	}
	return total
}
