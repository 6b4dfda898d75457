// Package onnxpb holds the Go protobuf bindings for the ONNX model format.
//
// onnx.pb.go is generated, not hand-written: it comes from onnx.proto (ONNX
// IR version 8, the copy in this directory) as shipped in Debian's
// python3-onnx 1.12.0 package, compiled with Debian's protoc 3.21.12 and
// protoc-gen-go 1.28.1. To regenerate it run `make proto`, which runs
// compiler/onnxpb/generate.sh from the repository root; commit onnx.proto
// and onnx.pb.go together.
package onnxpb
