package runtime

import (
	"fmt"
	"os"

	"github.com/hecc-dev/hecc/plan"
)

// ReadCircuitFile streams a .hec file (see ReadCircuit).
func ReadCircuitFile(path string) (*Circuit, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := ReadCircuit(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ReadCiphertextFile streams an input or result file made for spec with
// key set keys (see ReadCiphertext).
func ReadCiphertextFile(path string, spec *plan.Spec, kind Kind, keys KeySetID) (*Ciphertext, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cts, err := ReadCiphertext(f, spec, kind, keys)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cts, nil
}
