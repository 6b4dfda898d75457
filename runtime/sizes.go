package runtime

import (
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/he/hefloat"
)

// Sizes are the byte sizes of a spec's files, as Lattigo serialises them.
type Sizes struct {
	SecretKey   int  `json:"secret_key_bytes"`
	PublicKey   int  `json:"public_key_bytes"`
	EvalKeys    int  `json:"eval_keys_bytes"`
	GaloisKeys  int  `json:"galois_keys"`
	InputCt     int  `json:"input_ciphertext_bytes"`
	OutputCt    int  `json:"output_ciphertext_bytes"`
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
	key := rlwe.NewGaloisKey(p).BinarySize()
	s := Sizes{
		SecretKey:   headerSize + rlwe.NewSecretKey(p).BinarySize(),
		PublicKey:   headerSize + rlwe.NewPublicKey(p).BinarySize(),
		GaloisKeys:  len(spec.Galois),
		OneEvalKey:  key,
		RelinNeeded: spec.Relin,
		InputCt:     headerSize + hefloat.NewCiphertext(p, 1, spec.Input.Level).BinarySize(),
		OutputCt:    headerSize + hefloat.NewCiphertext(p, 1, spec.Output.Level).BinarySize(),
	}
	keys := len(spec.Galois)
	if spec.Relin {
		keys++
	}
	s.EvalKeys = headerSize + 1 + 8 + keys*key
	return s, nil
}
