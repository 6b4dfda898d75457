// Package ir is hecc's homomorphic-encryption intermediate representation.
//
// A Graph is a small dataflow graph over tensors whose nodes are exactly the
// operations CKKS evaluates well:
//
//	Input       the client's encrypted tensor
//	Const       a plaintext tensor (only before fold-constants removes it)
//	Affine      y = W·x + b on the flattened tensor (Conv, Gemm, pooling, Pad, Reshape, …)
//	Poly        an element-wise polynomial (square, approximated activations)
//	Activation  an exact element-wise non-polynomial (ReLU, sigmoid …) awaiting approximation
//	Add, Mul    element-wise sum and product of two encrypted tensors
//	Output      a result returned to the client
//
// Every linear ONNX operator lowers to Affine, and W is held as a sparse
// matrix rather than as a structured convolution or dense layer: composing
// any chain of affine maps (CryptoNets' squashing) is then one sparse product,
// whatever operators the chain came from, and the runtime's diagonal method
// only ever needs W's non-zero entries.
//
// The package uses the standard library only: the server-side runtime and the
// compiler both depend on it.
package ir
