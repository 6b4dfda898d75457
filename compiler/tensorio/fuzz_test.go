package tensorio

import (
	"archive/zip"
	"bytes"
	"errors"
	"testing"

	"github.com/hecc-dev/hecc/compiler/onnxpb"
	"github.com/hecc-dev/hecc/ir"
	"google.golang.org/protobuf/proto"
)

// checkResult fails unless a reader either returned a consistent tensor or
// an error wrapping one of the sentinels.
func checkResult(t *testing.T, tensor *ir.Tensor, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		return
	}
	if err := tensor.Check(); err != nil {
		t.Fatal(err)
	}
}

func FuzzReadNPY(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte(npyBytes(f, &ir.Tensor{Shape: []int{2, 2}, Data: []float64{1, 2, 3, 4}}, "<f4")))
	f.Add([]byte(npyBytes(f, &ir.Tensor{Shape: []int{}, Data: []float64{-3}}, "<i8")))
	f.Add([]byte(npyHeaderV2("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }") + "\x01\x02\x03"))
	f.Add([]byte(npyHeaderV1("{'descr': '|i1', 'fortran_order': True, 'shape': (1L,)}\n") + "\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tensor, err := ReadNPY(bytes.NewReader(data))
		checkResult(t, tensor, err)
	})
}

func FuzzReadTensorProto(f *testing.F) {
	f.Add([]byte{})
	for _, tp := range []*onnxpb.TensorProto{
		{DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Dims: []int64{2}, FloatData: []float32{1, 2}},
		{DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT16)), Dims: []int64{1, 1}, RawData: []byte{0, 0x3c}},
		{DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Int64Data: []int64{-1}},
		{DataType: proto.Int32(int32(onnxpb.TensorProto_UINT8)), Dims: []int64{2}, Int32Data: []int32{1, 255}},
		{DataType: proto.Int32(int32(onnxpb.TensorProto_DOUBLE)), Dims: []int64{1}, RawData: make([]byte, 8)},
	} {
		data, err := proto.Marshal(tp)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tensor, err := ReadTensorProto(data)
		checkResult(t, tensor, err)
	})
}

// FuzzReadNPZ fuzzes entry names and contents inside a well-formed archive:
// mutating raw archive bytes mostly breaks the zip directory, which is
// archive/zip's business rather than ours.
func FuzzReadNPZ(f *testing.F) {
	arr := npyBytes(f, &ir.Tensor{Shape: []int{2}, Data: []float64{1, 2}}, "<f8")
	f.Add("a.npy", []byte(arr), true)
	f.Add("arr_0.npy", []byte(arr), false)
	f.Add("b.npy", []byte(arr[:20]), true)
	f.Fuzz(func(t *testing.T, name string, content []byte, compress bool) {
		method := zip.Store
		if compress {
			method = zip.Deflate
		}
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, e := range [][2]string{{name, string(content)}, {"b.npy", arr}} {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: e[0], Method: method})
			if err != nil {
				return
			}
			if _, err := w.Write([]byte(e[1])); err != nil {
				return // e.g. content for a directory name ending in "/"
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			return // names archive/zip itself refuses, e.g. "../x"
		}
		arrays, err := readNPZ(zr)
		if err != nil {
			checkResult(t, nil, err)
			return
		}
		for _, tensor := range arrays {
			checkResult(t, tensor, nil)
		}
	})
}
