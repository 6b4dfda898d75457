package serve

import (
	"encoding/hex"
	"fmt"
	"os"

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
}

// NewModel prepares a compiled circuit for serving: its weights are
// encoded here, once.
func NewModel(c *runtime.Circuit) (*Model, error) {
	// The key upload carries the evaluation keys only, and a flooding
	// circuit needs the client's public key too.
	if b := c.Spec.CircuitPrivacyBits; b > 0 {
		return nil, fmt.Errorf("%w: %s floods its results (%d bits), and hecc serve takes no public key yet: serve it compiled without --circuit-privacy-bits, or evaluate it with hecc run --public-key", runtime.ErrNoPublicKey, c.Spec.Model, b)
	}
	prepared, err := runtime.Prepare(c)
	if err != nil {
		return nil, fmt.Errorf("cannot prepare %s: %w", c.Spec.Model, err)
	}
	spec, err := runtime.EncodeSpec(c.Spec)
	if err != nil {
		return nil, fmt.Errorf("cannot encode the spec of %s: %w", c.Spec.Model, err)
	}
	sizes, err := runtime.PredictSizes(c.Spec)
	if err != nil {
		return nil, fmt.Errorf("cannot size the files of %s: %w", c.Spec.Model, err)
	}
	work := plan.Workload
	if c.Spec.Batched() {
		work = plan.BatchWorkload
	}
	return &Model{Name: c.Spec.Model, Circuit: c, Prepared: prepared, SpecBytes: spec, Fingerprint: c.Spec.Fingerprint(), Sizes: sizes,
		PredictedSeconds: c.Spec.Params.PredictSeconds(work(c.Graph))}, nil
}

// LoadModel reads a .hec file.
func LoadModel(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := runtime.DecodeCircuit(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return NewModel(c)
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
	}
}
