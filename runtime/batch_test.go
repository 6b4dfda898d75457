package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hecc-dev/hecc/compiler"
	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
	"github.com/hecc-dev/hecc/compiler/tensorio"
	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// batchServer plans g, which has been through passes.BatchPipeline, as a
// batch circuit at insecure test parameters (ring degree 2^logN) and
// prepares a server with fresh keys.
func batchServer(t *testing.T, g *ir.Graph, logN int) (*plan.Spec, *Keys, *Server) {
	t.Helper()
	pl, err := plan.BuildBatch("batch", g, params.InsecureTestSet(logN, g.Depth, 35), 0)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := GenerateKeys(pl.Spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(&Circuit{Spec: pl.Spec, Graph: g}, keys.Eval)
	if err != nil {
		t.Fatal(err)
	}
	return pl.Spec, keys, srv
}

// batchWorst encrypts images inputs of the circuit's input shape in one
// batch (through the files, under the secret key: seeded), evaluates it and
// returns the largest error of any image's result against the plaintext
// interpretation of that image alone, and the evaluation's counts.
func batchWorst(t *testing.T, spec *plan.Spec, keys *Keys, srv *Server, g *ir.Graph, images int, seed uint64) (float64, *Stats) {
	t.Helper()
	one := batchInputShape(spec.Input)
	size := ir.NumElements(one)
	x := &ir.Tensor{Shape: append([]int{images}, one...), Data: randomInputs(seed, images*size, 1)}
	data, err := EncryptFile(spec, keys.Secret, x)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := DecodeCiphertext(spec, KindInputCt, keys.Secret.KeySet(), data)
	if err != nil {
		t.Fatal(err)
	}
	out, st, err := srv.Run(context.Background(), ct)
	if err != nil {
		t.Fatal(err)
	}
	data, err = EncodeCiphertext(spec, out)
	if err != nil {
		t.Fatal(err)
	}
	if out, err = DecodeCiphertext(spec, KindOutputCt, keys.Secret.KeySet(), data); err != nil {
		t.Fatal(err)
	}
	got, err := Decrypt(spec, keys.Secret, out)
	if err != nil {
		t.Fatal(err)
	}
	outputs := ir.NumElements(spec.Output.Shape)
	if got.Shape[0] != spec.Batch || len(got.Data) != spec.Batch*outputs {
		t.Fatalf("decrypted %v, want %d rows of %d", got.Shape, spec.Batch, outputs)
	}
	var worst float64
	for i := range images {
		in := &ir.Tensor{Shape: spec.Input.Shape, Data: x.Data[i*size : (i+1)*size]}
		want, err := ir.Interpret(g, map[string]*ir.Tensor{spec.Input.Name: in})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range want[spec.Output.Name].Data {
			worst = max(worst, math.Abs(v-got.Data[i*outputs+k]))
		}
	}
	return worst, st
}

// Every image of a batch decrypts to its own plaintext result, with two
// batches evaluated at once on one server.
func TestBatchConcurrentMatchesPlaintext(t *testing.T) {
	cases := []struct {
		name  string
		build func() *ir.Graph
	}{
		{"affine square affine", func() *ir.Graph {
			b, x := newGraph(1, 40)
			h := b.dense(x, 30, 0.3)
			return b.output(b.dense(b.poly(h, ir.Square()), 10, 1))
		}},
		{"chebyshev degree 7 on [-3,3]", func() *ir.Graph {
			b, x := newGraph(3, 8)
			h := b.dense(x, 8, 1)
			p := b.poly(h, &ir.Polynomial{Basis: ir.Chebyshev, Coeffs: []float64{0.3, 0.5, 0.2, -0.1, 0.05, 0.02, -0.01, 0.01}, Interval: ir.Interval{Lo: -3, Hi: 3}})
			return b.output(b.dense(p, 3, 1))
		}},
		{"product and sum of two branches", func() *ir.Graph {
			b, x := newGraph(5, 12)
			a, c := b.dense(x, 6, 1), b.dense(x, 6, 1)
			m := b.node(ir.OpMul, a.Shape, a, c)
			s := b.node(ir.OpAdd, a.Shape, m, b.dense(x, 6, 1))
			return b.output(b.dense(s, 2, 1))
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.build()
			if err := passes.Run(g, passes.BatchPipeline, nil); err != nil {
				t.Fatal(err)
			}
			spec, keys, srv := batchServer(t, g, 11)
			srv.Workers = 2
			var wg sync.WaitGroup
			worst := make([]float64, 2)
			for j := range worst {
				wg.Add(1)
				go func() {
					defer wg.Done()
					worst[j], _ = batchWorst(t, spec, keys, srv, g, 37+j*100, uint64(10*i+j))
				}()
			}
			wg.Wait()
			for _, w := range worst {
				// Values are O(1); at scale 2^35 CKKS errors are around 2^-20.
				if w > 1e-4 {
					t.Fatalf("an encrypted result differs from plaintext by %g", w)
				}
			}
			t.Logf("max abs error %.2g", max(worst[0], worst[1]))
		})
	}
}

// compileTiny compiles onnxtest's TinyCryptoNets as a batch circuit.
func compileTiny(t *testing.T) *compiler.Result {
	t.Helper()
	m, err := onnx.Decode(onnxtest.TinyCryptoNets(1))
	if err != nil {
		t.Fatal(err)
	}
	res, err := compiler.Compile(m, compiler.Options{Name: "tiny", Batch: true, InputRange: &ir.Interval{Lo: -1, Hi: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// A product read only by affine maps stays of degree 2: the maps sum its
// three polynomials and relinearize their outputs, fewer than the product's
// values. Dropping the third polynomial, or relinearizing it wrongly,
// changes every result.
func TestBatchLazyRelinearization(t *testing.T) {
	cases := []struct {
		name  string
		build func() *ir.Graph
		// relinearizations: the rows of maps reading a degree-2 input,
		// and the values of products read by anything else.
		relinearizations int
	}{
		{"square and product read by maps", func() *ir.Graph {
			b, x := newGraph(7, 16)
			s := b.poly(b.dense(x, 24, 1), ir.Square())
			a, c := b.dense(s, 6, 1), b.dense(s, 6, 1)
			return b.output(b.dense(b.node(ir.OpMul, a.Shape, a, c), 3, 1))
		}, 6 + 6 + 3},
		{"square read by a sum", func() *ir.Graph {
			b, x := newGraph(8, 16)
			h := b.dense(x, 12, 1)
			s := b.node(ir.OpAdd, h.Shape, b.poly(h, ir.Square()), b.dense(x, 12, 1))
			return b.output(b.dense(s, 3, 1))
		}, 12},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.build()
			if err := passes.Run(g, passes.BatchPipeline, nil); err != nil {
				t.Fatal(err)
			}
			spec, keys, srv := batchServer(t, g, 11)
			srv.Workers = 2
			worst, st := batchWorst(t, spec, keys, srv, g, 50, 3)
			// Around 1e-7 at scale 2^35; rescaling the product's third
			// polynomial before the sum shows at a few 1e-6.
			if worst > 1e-6 {
				t.Errorf("an encrypted result differs from plaintext by %g", worst)
			}
			if st.KeySwitches != tc.relinearizations {
				t.Errorf("%d relinearizations, want %d", st.KeySwitches, tc.relinearizations)
			}
			t.Logf("max abs error %.2g", worst)
		})
	}
}

// RunConsuming writes the first map's outputs over the input's
// ciphertexts and gives Run's result bit for bit, whether the map has more
// outputs than inputs or fewer: an output block written before a later row
// reads the input block beneath it would change the result.
func TestBatchRunConsuming(t *testing.T) {
	for _, rows := range []int{24, 6} {
		t.Run(fmt.Sprint(rows, " outputs"), func(t *testing.T) {
			b, x := newGraph(9, 16)
			g := b.output(b.dense(b.poly(b.dense(x, rows, 1), ir.Square()), 3, 1))
			if err := passes.Run(g, passes.BatchPipeline, nil); err != nil {
				t.Fatal(err)
			}
			spec, keys, srv := batchServer(t, g, 11)
			srv.Workers = 2
			in := &ir.Tensor{Shape: append([]int{40}, batchInputShape(spec.Input)...), Data: randomInputs(4, 40*16, 1)}
			data, err := EncryptFile(spec, keys.Secret, in)
			if err != nil {
				t.Fatal(err)
			}
			var results [2][]byte
			var inputs [2]*Ciphertext
			for k, run := range []func(context.Context, *Ciphertext) (*Ciphertext, *Stats, error){srv.Run, srv.RunConsuming} {
				if inputs[k], err = DecodeCiphertext(spec, KindInputCt, keys.Secret.KeySet(), data); err != nil {
					t.Fatal(err)
				}
				out, _, err := run(context.Background(), inputs[k])
				if err != nil {
					t.Fatal(err)
				}
				if results[k], err = EncodeCiphertext(spec, out); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(results[0], results[1]) {
				t.Error("RunConsuming's result differs from Run's")
			}
			if inputs[0].cts[0].Equal(inputs[1].cts[0]) {
				t.Error("RunConsuming left its input as it was: the map wrote its outputs elsewhere")
			}
		})
	}
}

// The compiler's batch circuit of a small CryptoNets-like model, at test
// parameters, against the plaintext interpretation of each image.
func TestBatchConcurrentTinyCryptoNets(t *testing.T) {
	res := compileTiny(t)
	if !res.Spec.Batched() || len(res.Spec.Rotations) != 0 || !res.Spec.Relin {
		t.Fatalf("compiled spec: layout %q, %d rotation keys, relinearization %v", res.Spec.Layout, len(res.Spec.Rotations), res.Spec.Relin)
	}
	spec, keys, srv := batchServer(t, res.Graph, 11)
	srv.Workers = 2
	if worst, _ := batchWorst(t, spec, keys, srv, res.Graph, 300, 7); worst > 1e-3 {
		t.Fatalf("an encrypted result differs from plaintext by %g", worst)
	} else {
		t.Logf("max abs error %.2g", worst)
	}
}

// A ring smaller than a block of coefficients (logN 7: 128) is summed
// whole.
func TestBatchSmallRing(t *testing.T) {
	b, x := newGraph(2, 10)
	g := b.output(b.dense(b.poly(b.dense(x, 6, 1), ir.Square()), 3, 1))
	if err := passes.Run(g, passes.BatchPipeline, nil); err != nil {
		t.Fatal(err)
	}
	spec, keys, srv := batchServer(t, g, 7)
	if worst, _ := batchWorst(t, spec, keys, srv, g, spec.Batch, 5); worst > 1e-3 {
		t.Fatalf("an encrypted result differs from plaintext by %g", worst)
	}
}

// A batch circuit refuses more inputs than its batch, inputs of another
// shape, and a result in the wrong number of ciphertexts.
func TestBatchRefusals(t *testing.T) {
	b, x := newGraph(1, 6)
	g := b.output(b.dense(b.poly(b.dense(x, 5, 1), ir.Square()), 2, 1))
	if err := passes.Run(g, passes.BatchPipeline, nil); err != nil {
		t.Fatal(err)
	}
	spec, keys, srv := batchServer(t, g, 11)
	for _, shape := range [][]int{{spec.Batch + 1, 6}, {2, 7}, {6}, {0, 6}} {
		x := &ir.Tensor{Shape: shape, Data: make([]float64, ir.NumElements(shape))}
		if _, err := Encrypt(spec, keys.Secret, x); !errors.Is(err, ErrShape) {
			t.Errorf("input of shape %v: %v", shape, err)
		}
		var file bytes.Buffer
		if n, err := WriteEncrypted(&file, spec, keys.Public, x); !errors.Is(err, ErrShape) || n != 0 || file.Len() != 0 {
			t.Errorf("input of shape %v streamed: %d bytes written, %v", shape, file.Len(), err)
		}
	}
	// Streamed, the file is written whole, and counted.
	var file bytes.Buffer
	n, err := WriteEncrypted(&file, spec, keys.Public, &ir.Tensor{Shape: []int{3, 6}, Data: make([]float64, 18)})
	if err != nil || n != int64(file.Len()) {
		t.Fatalf("%d bytes written, %d counted: %v", file.Len(), n, err)
	}
	if _, err := DecodeCiphertext(spec, KindInputCt, keys.Secret.KeySet(), file.Bytes()); err != nil {
		t.Fatal(err)
	}
	ct, err := Encrypt(spec, keys.Secret, &ir.Tensor{Shape: []int{3, 6}, Data: make([]float64, 18)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.Run(context.Background(), &Ciphertext{kind: KindInputCt, id: ct.id, cts: ct.cts[:5]}); err == nil {
		t.Error("an input missing a ciphertext was evaluated")
	}
	if _, err := Decrypt(spec, keys.Secret, &Ciphertext{kind: KindOutputCt, id: ct.id, cts: ct.cts[:1]}); !errors.Is(err, ErrFormat) {
		t.Errorf("a result in one ciphertext of two: %v", err)
	}
}

// The blocked lazy accumulation of a map equals its sum reduced exactly
// (big integers), whatever the prime's size: past the terms a uint64 holds
// before a reduction (a few at 31 bits, 16 at 30, 64 at 29; with weights
// split in two halves, 15 at 40 bits, or the inputs split too, 2^12 at 42
// bits) or a 128-bit sum before its high word is reduced (42 bits and
// above: 56 at 61), in the worst case
// (weights q−1, inputs near q−1, thousands of terms), for rows accumulated
// four at a time (the same columns: a dense block, a convolution's
// channels, column counts not multiples of four), one at a time (a group's
// remainder, rows of their own columns) and rows without entries, with the
// machine's vector kernel and without.
func TestBatchAccumulateLazy(t *testing.T) {
	const inputs, block = 9000, 27 // vectors of 4 coefficients and 3
	rng := rand.New(rand.NewPCG(1, 2))
	// Rows 0-4 read 300 inputs (a group of four and one), 5-13 the same
	// 41 columns (two groups and one), 14-16 columns of their own, 17 every
	// input (past the 2^12 terms of the vector kernel's split sums), 18
	// none.
	b := ir.NewBuilder(19, inputs)
	spread := rng.Perm(inputs)[:41]
	for r := range 19 {
		var cols []int
		switch {
		case r < 5:
			cols = rng.Perm(300)
		case r < 14:
			cols = spread
		case r < 17:
			cols = rng.Perm(inputs)[:7+r]
		case r == 17:
			cols = rng.Perm(inputs)
		}
		for _, c := range cols {
			b.Add(r, c, 1)
		}
	}
	lin, err := b.Build(nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	groups := rowGroups(lin)
	if len(groups) != 10 || len(groups[0]) != rowBlock || len(groups[2]) != rowBlock {
		t.Fatalf("row groups %v: want the dense rows and the shared columns' rows four at a time", groups)
	}
	type kernels struct {
		row       func([]uint64, [][]uint64, []int, []uint64, uint64, []uint64, int)
		rows      rowsFunc
		split     func([]uint64, []uint64, [][]uint64, []int, []uint64, uint64, []uint64, uint, int)
		splitRows func(*[rowBlock][]uint64, []uint64, [][]uint64, []int, *[rowBlock][]uint64, uint64, []uint64)
	}
	set := func(k kernels) {
		rowKernel, rowsKernel, splitKernel, splitRowsKernel = k.row, k.rows, k.split, k.splitRows
	}
	defer set(kernels{rowKernel, rowsKernel, splitKernel, splitRowsKernel})
	for name, k := range map[string]kernels{
		"go":        {accumulateRow, accumulateRowsGo, accumulateSplit, nil},
		"machine's": {rowKernel, rowsKernel, splitKernel, splitRowsKernel},
	} {
		set(k)
		for _, bitSize := range []uint64{25, 29, 30, 31, 34, 35, 40, 42, 43, 61} {
			gen := ring.NewNTTFriendlyPrimesGenerator(bitSize, 64)
			q, err := gen.NextAlternatingPrime()
			if err != nil {
				t.Fatal(err)
			}
			sub, err := ring.NewSubRing(32, q)
			if err != nil {
				t.Fatal(err)
			}
			// The largest products, and of the kernels' halves: near q,
			// and below q with the lower half all ones.
			sh, _ := splitTerms(q)
			x := make([][]uint64, inputs)
			for c := range x {
				x[c] = make([]uint64, block)
				for i := range x[c] {
					x[c][i] = q - 1 - rng.Uint64N(4)
					if i%2 == 1 && q > 1<<33 {
						x[c][i] = ((q-1)>>32-1)<<32 | (1<<32 - 1)
					}
				}
			}
			w := make([]uint64, len(lin.Vals))
			for k := range w {
				switch k % 3 {
				case 0:
					w[k] = rng.Uint64N(q)
				case 1:
					w[k] = q - 1
				case 2:
					w[k] = ((q-1)>>sh-1)<<sh | (1<<sh - 1)
				}
			}
			out := make([][]uint64, lin.Rows)
			for r := range out {
				out[r] = make([]uint64, block)
				for i := range out[r] {
					out[r][i] = rng.Uint64() // overwritten
				}
			}
			accumulateBlock(out, x, lin, groups, w, sub, make([]uint64, 4*block))
			for r := range lin.Rows {
				for i := range block {
					want := new(big.Int)
					for k := lin.RowPtr[r]; k < lin.RowPtr[r+1]; k++ {
						p := new(big.Int).SetUint64(x[lin.ColIdx[k]][i])
						want.Add(want, p.Mul(p, new(big.Int).SetUint64(w[k])))
					}
					want.Mod(want, new(big.Int).SetUint64(q))
					if out[r][i] != want.Uint64() {
						t.Fatalf("%s kernel, %d-bit prime, row %d, coefficient %d: %d, want %d", name, bitSize, r, i, out[r][i], want)
					}
				}
			}
		}
	}
}

// The bundled CryptoNets as a batch circuit at 128-bit security: each of a
// few hundred MNIST test images decrypts to its plaintext circuit's result,
// top class included. (Not run with -short.)
func TestBatchCryptoNets128(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles and evaluates CryptoNets at 128-bit security")
	}
	const images = 300
	calib, err := tensorio.ReadNPZ("../testdata/samples/mnist_calib.npz")
	if err != nil {
		t.Fatal(err)
	}
	test, err := tensorio.ReadNPZ("../testdata/samples/mnist_test.npz")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := compiler.CompileFile("../testdata/models/cryptonets.onnx", compiler.Options{Name: "cryptonets", Batch: true,
		Calibration: calib["x"], Margin: compiler.DefaultMargin})
	if err != nil {
		t.Fatal(err)
	}
	spec := res.Spec
	t.Logf("compiled in %.1f s: %s, batch %d, %d input ciphertexts", time.Since(start).Seconds(), spec.Params, spec.Batch, spec.InputCiphertexts())
	if q0 := spec.Params.LogQ[0]; q0 > plan.BatchMaxLogScale {
		t.Errorf("a first prime of %d bits: its limb misses the accumulation's lazy path (output scale 2^%d)", q0, spec.Params.LogOutputScale)
	}
	keys, err := GenerateKeys(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(&Circuit{Spec: spec, Graph: res.Graph}, keys.Eval)
	if err != nil {
		t.Fatal(err)
	}
	size := ir.NumElements(spec.Input.Shape)
	x := &ir.Tensor{Shape: append([]int{images}, batchInputShape(spec.Input)...), Data: test["x"].Data[:images*size]}
	start = time.Now()
	ct, err := Encrypt(spec, keys.Public, x)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("encrypted in %.1f s", time.Since(start).Seconds())
	out, st, err := srv.Run(context.Background(), ct)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("evaluated in %.1f s", st.EvalSeconds)
	for _, n := range st.Nodes {
		t.Logf("  %s %s level %d: %.2f s", n.Node, n.Op, n.Level, n.Seconds)
	}
	got, err := Decrypt(spec, keys.Secret, out)
	if err != nil {
		t.Fatal(err)
	}
	outputs := ir.NumElements(spec.Output.Shape)
	agree := 0
	var worst float64
	for i := range images {
		in := &ir.Tensor{Shape: spec.Input.Shape, Data: x.Data[i*size : (i+1)*size]}
		want, err := ir.Interpret(res.Graph, map[string]*ir.Tensor{spec.Input.Name: in})
		if err != nil {
			t.Fatal(err)
		}
		w, g := want[spec.Output.Name].Data, got.Data[i*outputs:(i+1)*outputs]
		for k := range w {
			worst = max(worst, math.Abs(w[k]-g[k]))
		}
		if argmax(w) == argmax(g) {
			agree++
		}
	}
	t.Logf("top class kept on %d of %d images; max abs error %.2g", agree, images, worst)
	if agree < images*99/100 || worst > 1e-2 {
		t.Fatalf("top class kept on %d of %d images, max abs error %g", agree, images, worst)
	}
}

func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
