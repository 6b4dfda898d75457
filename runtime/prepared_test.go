package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/passes"
	"github.com/hecc-dev/hecc/plan"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// TestKeySetsShareAPreparedCircuit: two servers of two key sets, made from
// one prepared circuit, evaluate at the same time (run it with -race), each
// correctly under its own keys; neither accepts the other's input, the
// encoded weights are the same bytes afterwards (no evaluation writes to
// them), and a server's memory is its keys alone.
func TestKeySetsShareAPreparedCircuit(t *testing.T) {
	for _, layout := range []struct {
		name   string
		batch  bool
		images int
	}{{"slots", false, 1}, {"batch", true, 3}} {
		t.Run(layout.name, func(t *testing.T) {
			b, x := newGraph(21, 40)
			g := b.output(b.dense(b.poly(b.dense(x, 30, 0.5), ir.Square()), 10, 1))
			pipeline, build := passes.Pipeline, func(set params.Set) (*plan.Plan, error) { return plan.Build("shared", g, set) }
			if layout.batch {
				pipeline, build = passes.BatchPipeline, func(set params.Set) (*plan.Plan, error) { return plan.BuildBatch("shared", g, set, 0) }
			}
			if err := passes.Run(g, pipeline, nil); err != nil {
				t.Fatal(err)
			}
			pl, err := build(params.InsecureTestSet(11, g.Depth, 35))
			if err != nil {
				t.Fatal(err)
			}
			spec := pl.Spec
			prepared, err := Prepare(&Circuit{Spec: spec, Graph: g})
			if err != nil {
				t.Fatal(err)
			}
			weights := encodedDigest(&prepared.encoded)
			var keys [2]*Keys
			var servers [2]*Server
			for i := range keys {
				if keys[i], err = GenerateKeys(spec, nil); err != nil {
					t.Fatal(err)
				}
				if servers[i], err = prepared.WithKeys(keys[i].Eval); err != nil {
					t.Fatal(err)
				}
				servers[i].Workers = 2
				if got := servers[i].Memory(); got.Keys <= 0 || got.Encoded != 0 || got.Buffers != 0 {
					t.Fatalf("server %d holds %+v: its keys and nothing of the circuit expected", i, got)
				}
			}
			if servers[0].encoded != servers[1].encoded {
				t.Fatal("the two servers do not share the prepared circuit")
			}
			ct, err := encryptImages(spec, keys[0], g, layout.images, 1)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := servers[1].Run(context.Background(), ct); !errors.Is(err, ErrKeySet) {
				t.Fatalf("server of key set 2 on an input of key set 1: %v, expected ErrKeySet", err)
			}

			const runs = 3
			errs := make(chan error, 2*runs)
			var wg sync.WaitGroup
			for i, srv := range servers {
				wg.Go(func() {
					for r := range runs {
						seed := uint64(10*i + r)
						worst, err := evalWorst(spec, keys[i], srv, g, layout.images, seed)
						if err == nil && worst > 1e-4 {
							err = fmt.Errorf("key set %d, run %d: an encrypted result differs from plaintext by %g", i+1, r, worst)
						}
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if encodedDigest(&prepared.encoded) != weights {
				t.Error("the encoded weights changed during the evaluations")
			}
			if m := prepared.Memory(); m.Encoded <= 0 || m.Buffers <= 0 {
				t.Errorf("the prepared circuit reports %+v: encoded weights and buffers expected", m)
			}
		})
	}
}

// encryptImages encrypts random inputs: one of the circuit's input for a
// circuit in slots, images of them for a batch circuit.
func encryptImages(spec *plan.Spec, keys *Keys, g *ir.Graph, images int, seed uint64) (*Ciphertext, error) {
	shape := g.Inputs()[0].InputShape()
	if spec.Batched() {
		shape = append([]int{images}, batchInputShape(spec.Input)...)
	}
	return Encrypt(spec, keys.Secret, &ir.Tensor{Shape: shape, Data: randomInputs(seed, ir.NumElements(shape), 1)})
}

// evalWorst evaluates random inputs on srv and returns the largest error
// of a result against the plaintext interpretation; it only returns
// errors, so goroutines may call it.
func evalWorst(spec *plan.Spec, keys *Keys, srv *Server, g *ir.Graph, images int, seed uint64) (float64, error) {
	ct, err := encryptImages(spec, keys, g, images, seed)
	if err != nil {
		return 0, err
	}
	out, _, err := srv.Run(context.Background(), ct)
	if err != nil {
		return 0, err
	}
	got, err := Decrypt(spec, keys.Secret, out)
	if err != nil {
		return 0, err
	}
	in := g.Inputs()[0]
	data := randomInputs(seed, images*in.Size(), 1)
	outputs := len(got.Data) / max(1, spec.Batch)
	var worst float64
	for i := range images {
		x := &ir.Tensor{Shape: in.InputShape(), Data: data[i*in.Size() : (i+1)*in.Size()]}
		want, err := ir.Interpret(g, map[string]*ir.Tensor{in.Name: x})
		if err != nil {
			return 0, err
		}
		for k, v := range want[g.Outputs()[0].Name].Data {
			worst = max(worst, math.Abs(v-got.Data[i*outputs+k]))
		}
	}
	return worst, nil
}

// encodedDigest is a SHA-256 of every encoded weight of e: diagonals,
// parts, biases and batch integers.
func encodedDigest(e *encoded) [32]byte {
	h := sha256.New()
	poly := func(p ring.Poly) {
		for _, limb := range p.Coeffs {
			binary.Write(h, binary.LittleEndian, limb)
		}
	}
	for _, n := range e.circuit.Graph.Nodes {
		if pa := e.affine[n]; pa != nil {
			if pa.bias != nil {
				poly(pa.bias.Value)
			}
			if pa.parts != nil {
				for _, w := range pa.parts.weights {
					poly(w.Value)
				}
			}
			if pa.lt != nil {
				for _, g := range slices.Sorted(maps.Keys(pa.lt.blocks)) {
					for _, term := range pa.lt.blocks[g] {
						poly(term.Pt.Q)
						poly(term.Pt.P)
					}
				}
			}
		}
		if ba := e.batch[n]; ba != nil {
			for _, w := range ba.weights {
				binary.Write(h, binary.LittleEndian, w)
			}
		}
	}
	return [32]byte(h.Sum(nil))
}
