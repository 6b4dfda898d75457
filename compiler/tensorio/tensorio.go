// Package tensorio reads and writes tensor files: numpy .npy and .npz, and
// serialized ONNX TensorProto (.pb) files as found in ONNX test data sets.
// Every reader treats its input as untrusted: sizes are bounded by
// ir.MaxElements before anything proportional to them is allocated.
package tensorio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hecc-dev/hecc/compiler/onnx"
	"github.com/hecc-dev/hecc/compiler/onnxpb"
	"github.com/hecc-dev/hecc/ir"
	"google.golang.org/protobuf/proto"
)

// The sentinels are package onnx's, so one errors.Is test covers a model and
// its tensor files alike (ReadTensorProto returns onnx's errors unchanged).
var (
	ErrMalformed   = onnx.ErrMalformed
	ErrUnsupported = onnx.ErrUnsupported
	ErrTooLarge    = onnx.ErrTooLarge
)

// kindError tags an error with a sentinel without repeating the sentinel's
// text in every message: errors.Is finds the kind, Error shows only the reason.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}

// maxTensorBytes bounds a whole tensor file or archive entry: the largest
// tensor allowed, as 8-byte values, plus room for headers.
const maxTensorBytes = 8*ir.MaxElements + 1<<20

// ReadTensorProto decodes a serialized ONNX TensorProto.
func ReadTensorProto(data []byte) (*ir.Tensor, error) {
	if len(data) == 0 {
		return nil, errorf(ErrMalformed, "not a TensorProto: the input is empty")
	}
	var tp onnxpb.TensorProto
	if err := proto.Unmarshal(data, &tp); err != nil {
		return nil, errorf(ErrMalformed, "not a TensorProto: %w", err)
	}
	return onnx.TensorFromProto(&tp)
}

// ReadFile reads a tensor file chosen by extension: .npy, .pb (TensorProto),
// or .npz holding exactly one array.
func ReadFile(path string) (*ir.Tensor, error) {
	t, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tensor %s: %w", path, err)
	}
	return t, nil
}

func readFile(path string) (*ir.Tensor, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".npy":
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		br := bufio.NewReader(f)
		t, err := ReadNPY(br)
		if err != nil {
			return nil, err
		}
		if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
			if err != nil {
				return nil, err
			}
			return nil, errorf(ErrMalformed, "trailing data after the array")
		}
		return t, nil
	case ".pb":
		data, err := readLimited(path)
		if err != nil {
			return nil, err
		}
		return ReadTensorProto(data)
	case ".npz":
		arrays, err := readNPZFile(path)
		if err != nil {
			return nil, err
		}
		for _, t := range arrays {
			if len(arrays) == 1 {
				return t, nil
			}
		}
		return nil, errorf(ErrUnsupported, "the archive holds %d arrays, want exactly one", len(arrays))
	default:
		return nil, errorf(ErrUnsupported, "unknown tensor file extension %q (want .npy, .npz or .pb)", ext)
	}
}

// readLimited reads a whole file of at most maxTensorBytes.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if st.Size() > maxTensorBytes {
		return nil, errorf(ErrTooLarge, "the file is %d bytes, more than the %d-byte limit", st.Size(), int64(maxTensorBytes))
	}
	// Stat says nothing about pipes and devices, so bound the read as well.
	data, err := io.ReadAll(io.LimitReader(f, maxTensorBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxTensorBytes {
		return nil, errorf(ErrTooLarge, "the file is more than the %d-byte limit", int64(maxTensorBytes))
	}
	return data, nil
}
