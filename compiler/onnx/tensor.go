package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/hecc-dev/hecc/compiler/onnxpb"
	"github.com/hecc-dev/hecc/ir"
)

// errExternalData is the reason given for tensors stored outside the model.
const errExternalData = "external data files are not supported: re-export with the weights embedded"

// elemCodec describes how one ONNX element type is stored: its width in
// raw_data, the typed field that may hold it instead, and how to decode it.
type elemCodec struct {
	size  int    // bytes per element in raw_data
	field string // name of the typed field that carries the values
	// raw decodes one little-endian element.
	raw func(b []byte) (float64, error)
	// int32 converts one int32_data entry; nil for types not stored there.
	int32 func(v int32) (float64, error)
}

var codecs = map[onnxpb.TensorProto_DataType]elemCodec{
	onnxpb.TensorProto_FLOAT: {size: 4, field: "float_data", raw: func(b []byte) (float64, error) {
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), nil
	}},
	onnxpb.TensorProto_DOUBLE: {size: 8, field: "double_data", raw: func(b []byte) (float64, error) {
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
	}},
	onnxpb.TensorProto_INT64: {size: 8, field: "int64_data", raw: func(b []byte) (float64, error) {
		return float64(int64(binary.LittleEndian.Uint64(b))), nil
	}},
	onnxpb.TensorProto_INT32: {size: 4, field: "int32_data",
		raw:   func(b []byte) (float64, error) { return float64(int32(binary.LittleEndian.Uint32(b))), nil },
		int32: func(v int32) (float64, error) { return float64(v), nil }},
	onnxpb.TensorProto_INT16: {size: 2, field: "int32_data",
		raw:   func(b []byte) (float64, error) { return float64(int16(binary.LittleEndian.Uint16(b))), nil },
		int32: inRange(math.MinInt16, math.MaxInt16)},
	onnxpb.TensorProto_UINT16: {size: 2, field: "int32_data",
		raw:   func(b []byte) (float64, error) { return float64(binary.LittleEndian.Uint16(b)), nil },
		int32: inRange(0, math.MaxUint16)},
	onnxpb.TensorProto_INT8: {size: 1, field: "int32_data",
		raw:   func(b []byte) (float64, error) { return float64(int8(b[0])), nil },
		int32: inRange(math.MinInt8, math.MaxInt8)},
	onnxpb.TensorProto_UINT8: {size: 1, field: "int32_data",
		raw:   func(b []byte) (float64, error) { return float64(b[0]), nil },
		int32: inRange(0, math.MaxUint8)},
	onnxpb.TensorProto_BOOL: {size: 1, field: "int32_data",
		raw:   func(b []byte) (float64, error) { return boolValue(int32(b[0])) },
		int32: boolValue},
	// FLOAT16 travels as its 16 raw bits, also in int32_data (per onnx.proto).
	onnxpb.TensorProto_FLOAT16: {size: 2, field: "int32_data",
		raw: func(b []byte) (float64, error) { return halfToFloat(binary.LittleEndian.Uint16(b)), nil },
		int32: func(v int32) (float64, error) {
			if v < 0 || v > math.MaxUint16 {
				return 0, fmt.Errorf("FLOAT16 bits %d do not fit in 16 bits", v)
			}
			return halfToFloat(uint16(v)), nil
		}},
}

func inRange(lo, hi int32) func(int32) (float64, error) {
	return func(v int32) (float64, error) {
		if v < lo || v > hi {
			return 0, fmt.Errorf("value %d is outside [%d, %d]", v, lo, hi)
		}
		return float64(v), nil
	}
}

func boolValue(v int32) (float64, error) {
	if v != 0 && v != 1 {
		return 0, fmt.Errorf("BOOL value %d is neither 0 nor 1", v)
	}
	return float64(v), nil
}

// halfToFloat converts IEEE 754 binary16 bits to a float64 (exactly).
func halfToFloat(h uint16) float64 {
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	var v float64
	switch exp {
	case 0: // zero or subnormal
		v = math.Ldexp(frac, -24)
	case 0x1f:
		if frac != 0 {
			return math.NaN()
		}
		v = math.Inf(1)
	default:
		v = math.Ldexp(frac+1024, exp-25)
	}
	if h&0x8000 != 0 {
		v = -v
	}
	return v
}

// TensorFromProto converts a TensorProto to an ir.Tensor, refusing data types
// other than the numeric ones above, external or segmented storage, and data
// whose length does not match the dims.
func TensorFromProto(tp *onnxpb.TensorProto) (*ir.Tensor, error) {
	budget := ir.MaxElements
	t, err := convertTensor(tp, &budget)
	if err != nil {
		if tp.GetName() != "" {
			return nil, fmt.Errorf("tensor %q: %w", tp.GetName(), err)
		}
		return nil, fmt.Errorf("tensor: %w", err)
	}
	return t, nil
}

// checkShape validates dims and returns them as ints with the element count.
// It allocates nothing proportional to the element count.
func checkShape(dims []int64) ([]int, int, error) {
	for _, d := range dims {
		if d < 0 {
			return nil, 0, errorf(ErrMalformed, "shape %v has a negative dimension", dims)
		}
		// A huge dimension next to a zero one gives few elements but would
		// overflow any stride computation downstream.
		if d > ir.MaxElements {
			return nil, 0, errorf(ErrTooLarge, "shape %v has a dimension above %d", dims, ir.MaxElements)
		}
	}
	n, err := ir.CheckedNumElements(dims)
	if err != nil {
		return nil, 0, errorf(ErrTooLarge, "%w", err)
	}
	shape := make([]int, len(dims))
	for i, d := range dims {
		shape[i] = int(d)
	}
	return shape, n, nil
}

// convertTensor does the work of TensorFromProto. budget is the number of
// elements the caller still allows, so one model cannot exceed ir.MaxElements
// in total however many tensors it splits them across.
func convertTensor(tp *onnxpb.TensorProto, budget *int) (*ir.Tensor, error) {
	if tp.Segment != nil {
		return nil, errorf(ErrUnsupported, "segmented tensors are not supported")
	}
	if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(tp.ExternalData) > 0 {
		return nil, errorf(ErrUnsupported, errExternalData)
	}
	dt := onnxpb.TensorProto_DataType(tp.GetDataType())
	codec, ok := codecs[dt]
	if !ok {
		return nil, errorf(ErrUnsupported, "data type %s is not supported", dataTypeName(dt))
	}
	shape, n, err := checkShape(tp.Dims)
	if err != nil {
		return nil, err
	}

	// Exactly one place may hold the values; anything in another field means
	// the writer and we disagree about the layout.
	count := 0
	for _, f := range []struct {
		name  string
		count int
	}{
		{"float_data", len(tp.FloatData)},
		{"double_data", len(tp.DoubleData)},
		{"int64_data", len(tp.Int64Data)},
		{"int32_data", len(tp.Int32Data)},
		{"uint64_data", len(tp.Uint64Data)},
		{"string_data", len(tp.StringData)},
	} {
		switch {
		case f.name == codec.field:
			count = f.count
		case f.count > 0:
			return nil, errorf(ErrMalformed, "a %s tensor keeps its values in raw_data or %s, not %s", dt, codec.field, f.name)
		}
	}
	raw := tp.RawData
	switch {
	case len(raw) > 0 && count > 0:
		return nil, errorf(ErrMalformed, "values in both raw_data and %s", codec.field)
	case len(raw) > 0:
		if len(raw) != n*codec.size {
			return nil, errorf(ErrMalformed, "raw_data has %d bytes, a %s tensor of shape %v needs %d", len(raw), dt, shape, n*codec.size)
		}
	case count != n:
		return nil, errorf(ErrMalformed, "%s has %d values, shape %v needs %d", codec.field, count, shape, n)
	}
	if n > *budget {
		return nil, errorf(ErrTooLarge, "constants exceed %d elements in total", ir.MaxElements)
	}
	*budget -= n

	data := make([]float64, n)
	switch {
	case len(raw) > 0:
		for i := range data {
			if data[i], err = codec.raw(raw[i*codec.size:]); err != nil {
				return nil, errorf(ErrMalformed, "raw_data element %d: %w", i, err)
			}
		}
	case codec.int32 != nil:
		for i, v := range tp.Int32Data {
			if data[i], err = codec.int32(v); err != nil {
				return nil, errorf(ErrMalformed, "int32_data element %d of a %s tensor: %w", i, dt, err)
			}
		}
	default:
		switch dt {
		case onnxpb.TensorProto_FLOAT:
			for i, v := range tp.FloatData {
				data[i] = float64(v)
			}
		case onnxpb.TensorProto_DOUBLE:
			copy(data, tp.DoubleData)
		case onnxpb.TensorProto_INT64:
			for i, v := range tp.Int64Data {
				data[i] = float64(v)
			}
		}
	}
	return &ir.Tensor{Shape: shape, Data: data}, nil
}

// dataTypeName names an ONNX element type, including codes the schema
// does not know.
func dataTypeName(dt onnxpb.TensorProto_DataType) string {
	if _, ok := onnxpb.TensorProto_DataType_name[int32(dt)]; ok {
		return dt.String()
	}
	return fmt.Sprintf("%d (unknown)", int32(dt))
}
