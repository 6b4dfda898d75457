package serve

import (
	"encoding/hex"
	"fmt"
	"os"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/plan"
	"github.com/hecc-dev/hecc/runtime"
)

// Model is one compiled circuit the server evaluates.
type Model struct {
	Name    string
	Circuit *runtime.Circuit
	// Prepared is the circuit encoded once, shared by every key set's
	// runtime.Server.
	Prepared    *runtime.Prepared
	SpecBytes   []byte // the .spec file clients fetch
	Fingerprint [32]byte
	Sizes       runtime.Sizes
	// PredictedSeconds is the cost model's estimate of one evaluation, the
	// latency hecc compile reports (of a whole batch, for a batch circuit).
	PredictedSeconds float64
	// BatchMemory, for a batch circuit, bounds what one batch's
	// ciphertexts take in the server's memory while it is evaluated.
	BatchMemory int64
}

// NewModel prepares a compiled circuit for serving: its weights are
// encoded here, once, but for those beyond a budget the options give
// (runtime.MaxWeightBytes), which each evaluation encodes.
func NewModel(c *runtime.Circuit, opts ...runtime.PrepareOption) (*Model, error) {
	prepared, err := runtime.Prepare(c, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot prepare %s: %w", c.Spec.Model, err)
	}
	spec, err := runtime.EncodeSpec(c.Spec)
	if err != nil {
		return nil, fmt.Errorf("cannot encode the spec of %s: %w", c.Spec.Model, err)
	}
	sizes, err := runtime.PredictCircuitSizes(c)
	if err != nil {
		return nil, fmt.Errorf("cannot size the files of %s: %w", c.Spec.Model, err)
	}
	work := plan.Workload
	if c.Spec.Batched() {
		work = plan.BatchWorkload
	}
	m := &Model{Name: c.Spec.Model, Circuit: c, Prepared: prepared, SpecBytes: spec, Fingerprint: c.Spec.Fingerprint(), Sizes: sizes,
		PredictedSeconds: c.Spec.Params.PredictSeconds(work(c.Graph))}
	if c.Spec.Batched() {
		m.BatchMemory = batchMemory(c)
	}
	return m, nil
}

// batchMemory bounds the ciphertexts a batch circuit holds at once: the
// runtime keeps a node's ciphertexts (one per tensor element) until its
// last reader has run, so the peak is the largest set of values alive
// together. A node's ciphertexts are allocated at its inputs' level, of
// degree 2 for a product and for an affine map of products (which are left
// unrelinearized one level up: the map relinearizes after summing), each
// (degree+1)·(level+1) limbs of N words; every product is counted so,
// which bounds it from above.
func batchMemory(c *runtime.Circuit) int64 {
	g := c.Graph
	limb := int64(8) << c.Spec.Params.LogN
	product := func(n *ir.Node) bool { return n.Op == ir.OpMul || n.Op == ir.OpPoly && n.Poly.IsSquare() }
	held := func(n *ir.Node) int {
		if product(n) {
			return n.Level + 1
		}
		return n.Level
	}
	bytes := func(n *ir.Node) int64 {
		level, polys := n.Level, int64(2)
		for _, in := range n.Inputs {
			level = max(level, held(in))
			if product(in) && n.Op == ir.OpAffine {
				polys = 3
			}
		}
		if product(n) {
			polys = 3
		}
		return int64(n.Size()) * polys * int64(level+1) * limb
	}
	readers := map[*ir.Node]int{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			readers[in]++
		}
	}
	var live, peak int64
	for _, n := range g.Nodes {
		if n.Op == ir.OpOutput {
			continue // its input's ciphertexts
		}
		live += bytes(n)
		peak = max(peak, live)
		for _, in := range n.Inputs {
			if readers[in]--; readers[in] == 0 {
				live -= bytes(in)
			}
		}
	}
	return peak
}

// LoadModel reads a .hec file and prepares it (NewModel).
func LoadModel(path string, opts ...runtime.PrepareOption) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := runtime.DecodeCircuit(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return NewModel(c, opts...)
}

// ModelInfo is what GET /v1/models says of a model: enough for a client
// to pick one and know what it will send and receive.
type ModelInfo struct {
	Name        string          `json:"name"`
	Fingerprint string          `json:"fingerprint"`
	Input       plan.TensorInfo `json:"input"`
	Output      plan.TensorInfo `json:"output"`
	Params      ParamsInfo      `json:"params"`
	Rotations   int             `json:"rotation_keys"`
	Sizes       runtime.Sizes   `json:"sizes"`
	// PredictedSeconds is Model.PredictedSeconds: a ranking estimate of
	// the evaluation alone, not a promise of the wall time.
	PredictedSeconds float64 `json:"predicted_seconds"`
	// Layout is "batch" for a throughput circuit, which evaluates Batch
	// inputs at once (one per slot) in BatchMemoryBytes of ciphertexts;
	// empty for the packed layout, one input per query.
	Layout           string `json:"layout,omitempty"`
	Batch            int    `json:"batch,omitempty"`
	BatchMemoryBytes int64  `json:"batch_memory_bytes,omitempty"`
	// CircuitPrivacyBits, when set, is λ of a circuit that floods its
	// results: a client uploads its public key too (PUT
	// /v1/keys/{id}/public).
	CircuitPrivacyBits int `json:"circuit_privacy_bits,omitempty"`
}

// ParamsInfo is the CKKS parameter set of a model.
type ParamsInfo struct {
	LogN     int   `json:"logN"`
	LogQ     []int `json:"logQ"`
	LogP     []int `json:"logP"`
	LogScale int   `json:"logScale"`
	Security int   `json:"security"`
	Depth    int   `json:"depth"`
}

// Info describes m.
func (m *Model) Info() ModelInfo {
	s := m.Circuit.Spec
	p := s.Params
	return ModelInfo{
		Name:        m.Name,
		Fingerprint: hex.EncodeToString(m.Fingerprint[:]),
		Input:       s.Input,
		Output:      s.Output,
		Params:      ParamsInfo{LogN: p.LogN, LogQ: p.LogQ, LogP: p.LogP, LogScale: p.LogScale, Security: p.Security, Depth: p.MaxLevel()},
		Rotations:   len(s.Rotations),
		Sizes:       m.Sizes,

		PredictedSeconds: m.PredictedSeconds,
		Layout:           s.Layout,
		Batch:            s.Batch,
		BatchMemoryBytes: m.BatchMemory,

		CircuitPrivacyBits: s.CircuitPrivacyBits,
	}
}
