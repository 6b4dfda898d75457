package runtime

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/params"
	"github.com/hecc-dev/hecc/plan"
)

// Circuit is what the server holds: the spec and the graph with its weights.
type Circuit struct {
	Spec  *plan.Spec
	Graph *ir.Graph
}

// EncodeSpec serialises the client half.
func EncodeSpec(s *plan.Spec) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return seal(KindSpec, s.Fingerprint(), b), nil
}

// DecodeSpec parses and validates a .spec file.
func DecodeSpec(data []byte) (*plan.Spec, error) {
	fp, payload, err := open(data, KindSpec)
	if err != nil {
		return nil, err
	}
	s, err := parseSpec(payload)
	if err != nil {
		return nil, err
	}
	if s.Fingerprint() != fp {
		return nil, fmt.Errorf("%w: the spec's fingerprint does not match its contents", ErrFormat)
	}
	return s, nil
}

func parseSpec(b []byte) (*plan.Spec, error) {
	var s plan.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: spec: %v", ErrFormat, err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	// Insecure sets exist for in-memory unit tests only: nothing read from
	// a file, which is what users run, may use one.
	if s.Params.Insecure() {
		return nil, fmt.Errorf("%w: the file holds insecure test parameters", params.ErrInsecure)
	}
	return &s, nil
}

// EncodeCircuit serialises a circuit for the server.
func EncodeCircuit(c *Circuit) ([]byte, error) {
	sb, err := json.Marshal(c.Spec)
	if err != nil {
		return nil, err
	}
	gb, err := ir.Encode(c.Graph)
	if err != nil {
		return nil, err
	}
	payload := binary.AppendUvarint(nil, uint64(len(sb)))
	payload = append(payload, sb...)
	return seal(KindCircuit, c.Spec.Fingerprint(), append(payload, gb...)), nil
}

// DecodeCircuit parses a .hec file and checks that its graph is the one its
// spec was planned from, so a tampered or mismatched file is refused here
// rather than failing inside Lattigo.
func DecodeCircuit(data []byte) (*Circuit, error) {
	fp, payload, err := open(data, KindCircuit)
	if err != nil {
		return nil, err
	}
	n, k := binary.Uvarint(payload)
	if k <= 0 || n > uint64(len(payload)-k) {
		return nil, fmt.Errorf("%w: circuit is truncated", ErrFormat)
	}
	spec, err := parseSpec(payload[k : k+int(n)])
	if err != nil {
		return nil, err
	}
	if spec.Fingerprint() != fp {
		return nil, fmt.Errorf("%w: the circuit's fingerprint does not match its spec", ErrFormat)
	}
	g, err := ir.Decode(payload[k+int(n):])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	replanned, err := plan.Rebuild(spec, g)
	if err != nil {
		return nil, fmt.Errorf("%w: the circuit does not fit its spec: %v", ErrFormat, err)
	}
	if err := replanned.Check(spec); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return &Circuit{Spec: spec, Graph: g}, nil
}
