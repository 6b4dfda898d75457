package runtime

import (
	"encoding/binary"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
)

// Sizes are the byte sizes of a spec's files, as Lattigo serialises them.
type Sizes struct {
	SecretKey  int `json:"secret_key_bytes"`
	PublicKey  int `json:"public_key_bytes"`
	EvalKeys   int `json:"eval_keys_bytes"`
	GaloisKeys int `json:"galois_keys"`
	InputCt    int `json:"input_ciphertext_bytes"`
	OutputCt   int `json:"output_ciphertext_bytes"`
	// OneEvalKey is the largest evaluation key (keys at lower levels are
	// smaller).
	OneEvalKey  int  `json:"one_eval_key_bytes"`
	RelinNeeded bool `json:"relinearization_key"`
}

// PredictSizes computes the sizes of every file a spec leads to, without
// generating keys.
func PredictSizes(spec *Spec) (Sizes, error) {
	p, err := NewParameters(spec.Params)
	if err != nil {
		return Sizes{}, err
	}
	s := Sizes{
		SecretKey:   headerSize + rlwe.NewSecretKey(p).BinarySize(),
		PublicKey:   headerSize + rlwe.NewPublicKey(p).BinarySize(),
		GaloisKeys:  len(spec.Rotations),
		RelinNeeded: spec.Relin,
		InputCt:     headerSize + hefloat.NewCiphertext(p, 1, spec.Input.Level).BinarySize(),
		OutputCt:    headerSize + hefloat.NewCiphertext(p, 1, spec.Output.Level).BinarySize(),
		EvalKeys:    headerSize + 1 + len(binary.AppendUvarint(nil, uint64(len(spec.Rotations)))),
	}
	// Key sizes depend only on their level: measure one per level.
	bySize := map[int]int{}
	keySize := func(level int) int {
		if _, ok := bySize[level]; !ok {
			bySize[level] = rlwe.NewGaloisKey(p, atLevel(level)).BinarySize()
		}
		return bySize[level]
	}
	levels := []int{}
	for _, r := range spec.Rotations {
		levels = append(levels, r.Level)
	}
	if spec.Relin {
		levels = append(levels, spec.RelinLevel)
	}
	for _, l := range levels {
		s.EvalKeys += keySize(l)
		s.OneEvalKey = max(s.OneEvalKey, keySize(l))
	}
	return s, nil
}
