package onnx

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/compiler/onnxpb"
	"google.golang.org/protobuf/proto"
)

func TestTensorFromProto(t *testing.T) {
	le16 := func(vs ...uint16) []byte {
		b := make([]byte, 0, 2*len(vs))
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint16(b, v)
		}
		return b
	}
	le32 := func(vs ...uint32) []byte {
		b := make([]byte, 0, 4*len(vs))
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
		return b
	}
	le64 := func(vs ...uint64) []byte {
		b := make([]byte, 0, 8*len(vs))
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint64(b, v)
		}
		return b
	}
	neg := func(v int64) uint64 { return uint64(v) }
	tests := []struct {
		name  string
		tp    *onnxpb.TensorProto
		shape []int
		want  []float64
	}{
		{"float typed", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_FLOAT), Dims: []int64{2, 1}, FloatData: []float32{1.5, -2}},
			[]int{2, 1}, []float64{1.5, -2}},
		{"float raw", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_FLOAT), Dims: []int64{2}, RawData: le32(math.Float32bits(0.25), math.Float32bits(-8))},
			[]int{2}, []float64{0.25, -8}},
		{"double typed", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_DOUBLE), Dims: []int64{1}, DoubleData: []float64{0.1}},
			[]int{1}, []float64{0.1}},
		{"double raw", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_DOUBLE), Dims: []int64{1}, RawData: le64(math.Float64bits(0.1))},
			[]int{1}, []float64{0.1}},
		{"int64 typed scalar", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_INT64), Int64Data: []int64{-5}},
			[]int{}, []float64{-5}},
		{"int64 raw", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_INT64), Dims: []int64{2}, RawData: le64(neg(-1), 1<<40)},
			[]int{2}, []float64{-1, 1 << 40}},
		{"int32 typed", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_INT32), Dims: []int64{2}, Int32Data: []int32{math.MinInt32, 3}},
			[]int{2}, []float64{math.MinInt32, 3}},
		{"int32 raw", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_INT32), Dims: []int64{1}, RawData: le32(uint32(0xffffffff))},
			[]int{1}, []float64{-1}},
		{"int16 raw", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_INT16), Dims: []int64{2}, RawData: le16(0x8000, 7)},
			[]int{2}, []float64{-32768, 7}},
		{"uint16 typed", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_UINT16), Dims: []int64{1}, Int32Data: []int32{65535}},
			[]int{1}, []float64{65535}},
		{"int8 raw", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_INT8), Dims: []int64{2}, RawData: []byte{0xff, 0x7f}},
			[]int{2}, []float64{-1, 127}},
		{"int8 typed", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_INT8), Dims: []int64{1}, Int32Data: []int32{-128}},
			[]int{1}, []float64{-128}},
		{"uint8 raw", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_UINT8), Dims: []int64{1}, RawData: []byte{200}},
			[]int{1}, []float64{200}},
		{"bool typed", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_BOOL), Dims: []int64{2}, Int32Data: []int32{1, 0}},
			[]int{2}, []float64{1, 0}},
		{"float16 raw", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_FLOAT16), Dims: []int64{6},
			RawData: le16(0x3c00, 0xc000, 0x0001, 0x7bff, 0xfc00, 0x3555)},
			[]int{6}, []float64{1, -2, math.Ldexp(1, -24), 65504, math.Inf(-1), 0.333251953125}},
		{"float16 typed", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_FLOAT16), Dims: []int64{2}, Int32Data: []int32{0x8000, 0x3800}},
			[]int{2}, []float64{math.Copysign(0, -1), 0.5}},
		{"empty", &onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_FLOAT), Dims: []int64{0, 3}},
			[]int{0, 3}, []float64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TensorFromProto(tc.tp)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Shape, tc.shape) || !sameBits(got.Data, tc.want) {
				t.Errorf("got %v %v, want %v %v", got.Shape, got.Data, tc.shape, tc.want)
			}
		})
	}
}

func TestHalfToFloatNaN(t *testing.T) {
	if v := halfToFloat(0x7e00); !math.IsNaN(v) {
		t.Errorf("halfToFloat(0x7e00) = %v, want NaN", v)
	}
}

func TestTensorFromProtoErrors(t *testing.T) {
	_, err := TensorFromProto(&onnxpb.TensorProto{Name: proto.String("in"), DataType: dt(onnxpb.TensorProto_FLOAT), Dims: []int64{3}})
	if !errors.Is(err, ErrMalformed) || !strings.HasPrefix(err.Error(), `tensor "in": `) {
		t.Errorf("error %v, want ErrMalformed naming the tensor", err)
	}
	_, err = TensorFromProto(&onnxpb.TensorProto{DataType: dt(onnxpb.TensorProto_UINT64)})
	if !errors.Is(err, ErrUnsupported) || err.Error() != "tensor: data type UINT64 is not supported" {
		t.Errorf("error %v", err)
	}
}

// The element budget is shared by all tensors of a model.
func TestConvertTensorBudget(t *testing.T) {
	budget := 3
	tp := floatTensor("a", []int64{2}, 1, 2)
	if _, err := convertTensor(tp, &budget); err != nil || budget != 1 {
		t.Fatalf("first tensor: err %v, budget %d", err, budget)
	}
	if _, err := convertTensor(tp, &budget); !errors.Is(err, ErrTooLarge) {
		t.Errorf("second tensor: err %v, want ErrTooLarge", err)
	}
}

// sameBits compares exactly, telling -0 from 0.
func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}
