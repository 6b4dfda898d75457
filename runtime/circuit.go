package runtime

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"

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
	return seal(KindSpec, header{fingerprint: s.Fingerprint()}, b), nil
}

// DecodeSpec parses and validates a .spec file.
func DecodeSpec(data []byte) (*plan.Spec, error) {
	h, payload, err := open(data, KindSpec)
	if err != nil {
		return nil, err
	}
	s, err := parseSpec(payload)
	if err != nil {
		return nil, err
	}
	if s.Fingerprint() != h.fingerprint {
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

// EncodeCircuit serialises a circuit for the server: the header, the
// spec's length and the spec, the graph, and the SHA-256 of all that, so
// that a damaged or altered weight is refused at load rather than run.
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
	data := seal(KindCircuit, header{fingerprint: c.Spec.Fingerprint()}, append(payload, gb...))
	sum := sha256.Sum256(data)
	return append(data, sum[:]...), nil
}

// MaxSpecBytes bounds a spec, in a .spec file or a circuit: the largest
// input layout (2^16 slots in ir.MaxInputParts ciphertexts) takes a few
// MiB of JSON.
const MaxSpecBytes = 64 << 20

// MaxCircuitBytes bounds a circuit file: its graph and weights.
const MaxCircuitBytes = 16 << 30

// DecodeCircuit parses a .hec file (see ReadCircuit).
func DecodeCircuit(data []byte) (*Circuit, error) {
	return ReadCircuit(bytes.NewReader(data))
}

// ReadCircuit reads a .hec file, checks its SHA-256, and checks that its
// graph is the one its spec was planned from, so a damaged, tampered or
// mismatched file is refused here rather than run or failing inside
// Lattigo. It streams: the spec's declared length is bounded before it is
// read, and the graph's buffer grows only as its bytes arrive.
func ReadCircuit(r io.Reader) (*Circuit, error) {
	br := bufio.NewReader(r)
	head := make([]byte, HeaderSize)
	if _, err := io.ReadFull(br, head); err != nil {
		return nil, fmt.Errorf("%w: expected %s, the data is too short for a hecc header", ErrFormat, KindCircuit.withArticle())
	}
	h, _, err := open(head, KindCircuit)
	if err != nil {
		return nil, err
	}
	n, err := binary.ReadUvarint(br)
	if err != nil || n > MaxSpecBytes {
		return nil, fmt.Errorf("%w: the circuit's spec is truncated or declares more than %d bytes", ErrFormat, MaxSpecBytes)
	}
	sb := make([]byte, n)
	if _, err := io.ReadFull(br, sb); err != nil {
		return nil, fmt.Errorf("%w: circuit is truncated in its spec", ErrFormat)
	}
	var rest bytes.Buffer
	if k, err := rest.ReadFrom(io.LimitReader(br, MaxCircuitBytes+1)); err != nil {
		return nil, fmt.Errorf("cannot read the circuit: %w", err)
	} else if k > MaxCircuitBytes {
		return nil, fmt.Errorf("%w: the circuit's graph exceeds %d bytes", ErrFormat, int64(MaxCircuitBytes))
	}
	if rest.Len() < sha256.Size {
		return nil, fmt.Errorf("%w: circuit is truncated", ErrFormat)
	}
	gb, sum := rest.Bytes()[:rest.Len()-sha256.Size], rest.Bytes()[rest.Len()-sha256.Size:]
	hash := sha256.New()
	hash.Write(head)
	hash.Write(binary.AppendUvarint(nil, n))
	hash.Write(sb)
	hash.Write(gb)
	if !bytes.Equal(hash.Sum(nil), sum) {
		return nil, fmt.Errorf("%w: the circuit's SHA-256 does not match its contents: the file is damaged or was altered", ErrFormat)
	}
	spec, err := parseSpec(sb)
	if err != nil {
		return nil, err
	}
	if spec.Fingerprint() != h.fingerprint {
		return nil, fmt.Errorf("%w: the circuit's fingerprint does not match its spec", ErrFormat)
	}
	g, err := ir.Decode(gb)
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
