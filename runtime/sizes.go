package runtime

import (
	"encoding/binary"
	"fmt"

	"github.com/hecc-dev/hecc/plan"
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
)

// Sizes are the byte sizes of a spec's files.
type Sizes struct {
	SecretKey int `json:"secret_key_bytes"`
	PublicKey int `json:"public_key_bytes"`
	// EvalKeys is the key file; EvalKeysMemory what the keys take in the
	// server's memory once their seeded halves are regenerated.
	EvalKeys       int `json:"eval_keys_bytes"`
	EvalKeysMemory int `json:"eval_keys_memory_bytes"`
	GaloisKeys     int `json:"galois_keys"`
	// InputCt is an input encrypted under the public key; InputCtSeeded
	// under the secret key, whose file carries a seed instead of each c1.
	InputCt       int `json:"input_ciphertext_bytes"`
	InputCtSeeded int `json:"input_ciphertext_secret_key_bytes"`
	OutputCt      int `json:"output_ciphertext_bytes"`
	// OneEvalKey is the largest evaluation key in memory (keys at lower
	// levels are smaller).
	OneEvalKey  int  `json:"one_eval_key_bytes"`
	RelinNeeded bool `json:"relinearization_key"`
	// Encoded is what the circuit's encoded weights take in the server's
	// memory, once for every key set (Prepared.Memory); 0 when only the
	// spec is known (PredictCircuitSizes knows it).
	Encoded int `json:"encoded_weights_bytes,omitempty"`
	// Weights are those encoded weights in the order a weights budget
	// keeps them (MaxWeightBytes), with what encoding each costs; nil
	// when only the spec is known.
	Weights plan.Weights `json:"-"`
}

// PredictSizes computes the sizes of every file a spec leads to, without
// generating keys.
func PredictSizes(spec *plan.Spec) (Sizes, error) {
	p, err := newParameters(spec.Params)
	if err != nil {
		return Sizes{}, err
	}
	s := Sizes{
		SecretKey:     HeaderSize + rlwe.NewSecretKey(p).BinarySize(),
		PublicKey:     HeaderSize + rlwe.NewPublicKey(p).BinarySize(),
		GaloisKeys:    len(spec.Rotations),
		RelinNeeded:   spec.Relin,
		InputCt:       ciphertextFileSize(p, spec, KindInputCt, false),
		InputCtSeeded: ciphertextFileSize(p, spec, KindInputCt, true),
		OutputCt:      ciphertextFileSize(p, spec, KindOutputCt, false),
		EvalKeys:      HeaderSize + 1 + seedSize + len(binary.AppendUvarint(nil, uint64(len(spec.Rotations)))),
	}
	// Key sizes depend only on their level: measure one per level.
	type keySizes struct{ file, memory int }
	byLevel := map[int]keySizes{}
	keySize := func(level int) keySizes {
		if _, ok := byLevel[level]; !ok {
			gk := rlwe.NewGaloisKey(p, atLevel(spec.Params, level))
			byLevel[level] = keySizes{packedGadgetSize(p, &gk.GadgetCiphertext), gk.BinarySize()}
		}
		return byLevel[level]
	}
	levels := []int{}
	for _, r := range spec.Rotations {
		levels = append(levels, r.Level)
	}
	if spec.Relin {
		levels = append(levels, spec.RelinLevel)
	}
	for _, l := range levels {
		k := keySize(l)
		s.EvalKeys += k.file
		s.EvalKeysMemory += k.memory
		s.OneEvalKey = max(s.OneEvalKey, k.memory)
	}
	return s, nil
}

// PredictCircuitSizes is PredictSizes with the circuit's encoded weights,
// as planned for its graph.
func PredictCircuitSizes(c *Circuit) (Sizes, error) {
	s, err := PredictSizes(c.Spec)
	if err != nil {
		return Sizes{}, err
	}
	pl, err := plan.Rebuild(c.Spec, c.Graph)
	if err != nil {
		return Sizes{}, fmt.Errorf("cannot plan the circuit: %w", err)
	}
	s.Encoded, s.Weights = int(pl.EncodedBytes()), pl.Weights()
	return s, nil
}

// ciphertextFileSize is the size of an input or result file, with the
// ciphertexts' c1 stored or seeded.
func ciphertextFileSize(p hefloat.Parameters, spec *plan.Spec, kind Kind, seeded bool) int {
	level, count := ciphertextLevel(spec, kind)
	poly := packedPolySize(p.N(), p.Q()[:level+1])
	size := HeaderSize + len(binary.AppendUvarint(nil, uint64(count))) + 1 + count*(8+2*poly)
	if seeded {
		size += seedSize - count*poly
	}
	return size
}

// Text formats the sizes for the terminal, as lines of the compile report.
func (s Sizes) Text() string {
	relin := ""
	if s.RelinNeeded {
		relin = " + relinearization key"
	}
	return fmt.Sprintf("  keys:       %d Galois keys%s, each at the level it is used (largest %s): %s of evaluation keys, a %s file\n", s.GaloisKeys, relin, mib(s.OneEvalKey), mib(s.EvalKeysMemory), mib(s.EvalKeys)) +
		fmt.Sprintf("  ciphertext: input %s under the secret key, %s under the public key; result %s\n", mib(s.InputCtSeeded), mib(s.InputCt), mib(s.OutputCt))
}

func mib(n int) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }
