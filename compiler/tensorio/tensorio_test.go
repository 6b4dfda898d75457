package tensorio

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/hecc-dev/hecc/compiler/onnx/onnxtest"
	"github.com/hecc-dev/hecc/compiler/onnxpb"
	"github.com/hecc-dev/hecc/ir"
	"google.golang.org/protobuf/proto"
)

// The files under testdata were written by numpy; see testdata/generate.py.

func TestReadNumpyFiles(t *testing.T) {
	tests := []struct {
		file  string
		shape []int
		data  []float64
	}{
		{"f4_2x3.npy", []int{2, 3}, []float64{0, 0.25, 0.5, 0.75, 1, 1.25}},
		{"f8_scalar.npy", []int{}, []float64{3.25}},
		{"i8.npy", []int{3}, []float64{-1, 0, 1 << 40}},
		{"i4.npy", []int{2, 1}, []float64{-7, math.MaxInt32}},
		{"u1.npy", []int{3}, []float64{0, 200, 255}},
		{"i1.npy", []int{3}, []float64{-128, 0, 127}},
		{"f4_empty.npy", []int{0, 3}, []float64{}},
		{"f8_v2.npy", []int{2}, []float64{1.5, -2.5}},
		{"f8_v3.npy", []int{2}, []float64{1.5, -2.5}},
		{"one.npz", []int{2}, []float64{0.5, 1.5}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got, err := ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, &ir.Tensor{Shape: tc.shape, Data: tc.data}) {
				t.Errorf("got %v %v, want %v %v", got.Shape, got.Data, tc.shape, tc.data)
			}
		})
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f4, err := os.ReadFile(filepath.Join("testdata", "f4_2x3.npy"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		kind error
		msg  string
	}{
		{filepath.Join("testdata", "fortran.npy"), ErrUnsupported, "Fortran-order .npy arrays are not supported"},
		{filepath.Join("testdata", "big_endian.npy"), ErrUnsupported, `big-endian .npy data (">f4") is not supported`},
		{filepath.Join("testdata", "bool.npy"), ErrUnsupported, `.npy dtype "|b1" is not supported`},
		{filepath.Join("testdata", "two.npz"), ErrUnsupported, "the archive holds 2 arrays, want exactly one"},
		{write("trailing.npy", append(f4, 0)), ErrMalformed, "trailing data after the array"},
		{write("short.npy", f4[:len(f4)-1]), ErrMalformed, ".npy data (6 elements): the file is truncated"},
		{write("x.txt", nil), ErrUnsupported, `unknown tensor file extension ".txt"`},
		{write("bad.pb", []byte{0xff}), ErrMalformed, "not a TensorProto"},
		{write("empty.pb", nil), ErrMalformed, "not a TensorProto: the input is empty"},
		{write("bad.npz", []byte("PK not really")), ErrMalformed, "not a .npz archive"},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			_, err := ReadFile(tc.path)
			if !errors.Is(err, tc.kind) {
				t.Errorf("error %v does not wrap %v", err, tc.kind)
			}
			if err == nil || !strings.HasPrefix(err.Error(), "read tensor "+tc.path+": ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want it to name the file and contain %q", err, tc.msg)
			}
		})
	}
	if _, err := ReadFile(filepath.Join(dir, "missing.npy")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error %v", err)
	}
}

func TestReadNPZ(t *testing.T) {
	got, err := ReadNPZ(filepath.Join("testdata", "two.npz"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*ir.Tensor{
		"a": {Shape: []int{2, 2}, Data: []float64{0, 1, 2, 3}},
		"b": {Shape: []int{1}, Data: []float64{7}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// zipOf builds an archive in memory; method is zip.Store or zip.Deflate.
func zipOf(t testing.TB, method uint16, entries ...[2]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e[0], Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func npyBytes(t testing.TB, tensor *ir.Tensor, dtype string) string {
	var buf bytes.Buffer
	if err := WriteNPY(&buf, tensor, dtype); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestReadNPZErrors(t *testing.T) {
	arr := npyBytes(t, &ir.Tensor{Shape: []int{1}, Data: []float64{1}}, "<f8")
	// An entry whose header declares 2 values, followed by 1 MiB of zeros.
	bomb := npyHeaderV1("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }") + string(make([]byte, 1<<20))
	// A stored entry whose last data byte no longer matches its CRC.
	corrupt := zipOf(t, zip.Store, [2]string{"a.npy", arr})
	corrupt[bytes.Index(corrupt, []byte(arr))+len(arr)-1] ^= 1
	tests := []struct {
		name string
		zip  []byte
		kind error
		msg  string
	}{
		{"crc mismatch", corrupt, ErrMalformed, `array "a": corrupt entry: zip: checksum error`},
		{"not npy", zipOf(t, zip.Store, [2]string{"a.txt", "x"}), ErrMalformed, `entry "a.txt" is not a .npy file`},
		{"duplicate", zipOf(t, zip.Deflate, [2]string{"a.npy", arr}, [2]string{"a.npy", arr}), ErrMalformed, `array "a" appears twice`},
		{"bad entry", zipOf(t, zip.Deflate, [2]string{"a.npy", "garbage"}), ErrMalformed, `array "a": not a .npy file`},
		{"trailing", zipOf(t, zip.Deflate, [2]string{"a.npy", bomb}), ErrMalformed, `array "a": 1048560 bytes of trailing data after the array`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			zr, err := zip.NewReader(bytes.NewReader(tc.zip), int64(len(tc.zip)))
			if err != nil {
				t.Fatal(err)
			}
			_, err = readNPZ(zr)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want %v containing %q", err, tc.kind, tc.msg)
			}
		})
	}
}

// The element budget shared by an archive's arrays is checked from the
// header, before the data is read.
func TestReadNPYLimit(t *testing.T) {
	arr := npyBytes(t, &ir.Tensor{Shape: []int{2}, Data: []float64{1, 2}}, "<f8")
	if _, err := readNPY(strings.NewReader(arr[:len(arr)-16]), 1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("error %v, want ErrTooLarge", err)
	}
}

// The declared size of an entry is checked before it is inflated.
func TestReadNPZDeclaredSize(t *testing.T) {
	data := zipOf(t, zip.Store, [2]string{"a.npy", "x"})
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	zr.File[0].UncompressedSize64 = maxTensorBytes + 1
	if _, err := readNPZ(zr); !errors.Is(err, ErrTooLarge) {
		t.Errorf("error %v, want ErrTooLarge", err)
	}
}

// Input that claims far more than it holds costs memory in proportion to
// what it holds: each case errors after allocating less than 64 MiB, though
// its header claims 2 GiB or more.
func TestReadMemoryBounded(t *testing.T) {
	claim := npyHeaderV2("{'descr': '<f8', 'fortran_order': False, 'shape': (268435456,), }\n")
	bomb := zipOf(t, zip.Deflate, [2]string{"a.npy", claim + strings.Repeat("\x00", 8<<20)})
	cases := []struct {
		name string
		read func() error
	}{
		{"npy of 2^28 doubles holding one", func() error {
			_, err := ReadNPY(strings.NewReader(claim + "12345678"))
			return err
		}},
		{"npy header of 2 GiB", func() error {
			_, err := ReadNPY(strings.NewReader(npyMagic + "\x02\x00\xff\xff\xff\x7f"))
			return err
		}},
		{"npz entry of 2^28 doubles inflating to 8 MiB", func() error {
			zr, err := zip.NewReader(bytes.NewReader(bomb), int64(len(bomb)))
			if err != nil {
				t.Fatal(err)
			}
			_, err = readNPZ(zr)
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := tc.read()
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("read succeeded")
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("allocated %d MiB before failing with %v", alloc>>20, err)
			}
		})
	}
}

func npyHeaderV1(dict string) string {
	var b []byte
	b = append(b, npyMagic...)
	b = append(b, 1, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(dict)))
	return string(append(b, dict...))
}

func npyHeaderV2(dict string) string {
	var b []byte
	b = append(b, npyMagic...)
	b = append(b, 2, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(dict)))
	return string(append(b, dict...))
}

func TestReadNPYErrors(t *testing.T) {
	dict := func(descr, fortran, shape string) string {
		return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }\n"
	}
	tests := []struct {
		name  string
		input string
		kind  error
		msg   string
	}{
		{"empty", "", ErrMalformed, "not a .npy file: the file is truncated"},
		{"bad magic", "\x93NUMPX\x01\x00\x00\x00", ErrMalformed, "bad magic"},
		{"version 4", npyMagic + "\x04\x00\x00\x00", ErrUnsupported, ".npy format version 4.0 is not supported"},
		{"short length", npyMagic + "\x01\x00\x05", ErrMalformed, ".npy header length: the file is truncated"},
		{"short header", npyMagic + "\x01\x00\x40\x00{'descr'", ErrMalformed, ".npy header: the file is truncated"},
		{"huge v2 header", npyMagic + "\x02\x00\xff\xff\xff\x7f", ErrTooLarge, "more than 65535"},
		{"not a dict", npyHeaderV1("[1, 2]"), ErrMalformed, "it does not start with '{'"},
		{"missing key", npyHeaderV1("{'descr': '<f4', 'shape': (1,)}"), ErrMalformed, "needs the keys descr, fortran_order and shape"},
		{"extra key", npyHeaderV1("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}"), ErrMalformed, "unexpected key x"},
		{"key twice", npyHeaderV1("{'descr': '<f4', 'descr': '<f4'}"), ErrMalformed, "key descr appears twice"},
		{"unquoted key", npyHeaderV1("{descr: '<f4'}"), ErrMalformed, "expected a quoted key"},
		{"no colon", npyHeaderV1("{'descr' '<f4'}"), ErrMalformed, "expected ':' after key descr"},
		{"no comma", npyHeaderV1("{'descr': '<f4' 'shape': (1,)}"), ErrMalformed, "expected ',' or '}'"},
		{"structured dtype", npyHeaderV1("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}"), ErrMalformed, "structured dtypes are not supported"},
		{"fortran not bool", npyHeaderV1(dict("<f4", "0", "(1,)")), ErrMalformed, "fortran_order is not True or False"},
		{"shape not tuple", npyHeaderV1(dict("<f4", "False", "[1]")), ErrMalformed, "shape is not a tuple"},
		{"shape needs comma", npyHeaderV1(dict("<f4", "False", "(3)")), ErrMalformed, "shape is not a tuple"},
		{"negative dim", npyHeaderV1(dict("<f4", "False", "(-1,)")), ErrMalformed, "shape is not a tuple"},
		{"dim overflows int64", npyHeaderV1(dict("<f4", "False", "(99999999999999999999,)")), ErrMalformed, "shape is not a tuple"},
		{"text after dict", npyHeaderV1(dict("<f4", "False", "(1,)") + "x"), ErrMalformed, "text after the closing '}'"},
		{"escaped string", npyHeaderV1(`{'descr': '<f\4'}`), ErrMalformed, "descr is not a string"},
		{"huge shape", npyHeaderV1(dict("<f8", "False", "(65536, 65536)")), ErrTooLarge, "more than 268435456 elements"},
		{"huge dim next to zero", npyHeaderV1(dict("<f8", "False", "(0, 4294967296)")), ErrTooLarge, "has a dimension above"},
		{"big-endian", npyHeaderV1(dict(">f8", "False", "(1,)")), ErrUnsupported, "big-endian"},
		{"object dtype", npyHeaderV1(dict("|O", "False", "(1,)")), ErrUnsupported, `dtype "|O" is not supported`},
		{"fortran", npyHeaderV1(dict("<f8", "True", "(1,)")), ErrUnsupported, "Fortran-order"},
		// A header promising 2^28 doubles followed by 8 bytes: refused
		// without allocating 2 GiB.
		{"data missing", npyHeaderV2(dict("<f8", "False", "(268435456,)")) + "12345678", ErrMalformed, ".npy data (268435456 elements): the file is truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadNPY(strings.NewReader(tc.input))
			if err == nil {
				t.Fatalf("ReadNPY succeeded: %v", got)
			}
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want %v containing %q", err, tc.kind, tc.msg)
			}
		})
	}
}

func TestReadNPYHeaderVariants(t *testing.T) {
	tests := []struct {
		dict  string
		shape []int
	}{
		{`{"shape": (2,), "fortran_order": False, "descr": "<i4"}`, []int{2}},
		{"{'descr':'<i4','fortran_order':False,'shape':(1L, 2L)}  \n", []int{1, 2}},
		{"{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2,), }", []int{1, 2}},
	}
	for _, tc := range tests {
		got, err := ReadNPY(strings.NewReader(npyHeaderV1(tc.dict) + "\x01\x00\x00\x00\x02\x00\x00\x00"))
		if err != nil {
			t.Errorf("%s: %v", tc.dict, err)
			continue
		}
		if !reflect.DeepEqual(got, &ir.Tensor{Shape: tc.shape, Data: []float64{1, 2}}) {
			t.Errorf("%s: got %v", tc.dict, got)
		}
	}
}

func TestWriteNPYRoundTrip(t *testing.T) {
	tests := []struct {
		dtype  string
		tensor *ir.Tensor
	}{
		{"<f8", &ir.Tensor{Shape: []int{2, 3}, Data: []float64{0.1, -2, math.Inf(1), 1e300, 0, 5}}},
		{"<f4", &ir.Tensor{Shape: []int{3}, Data: []float64{0.5, -1, 1024}}},
		{"<i8", &ir.Tensor{Shape: []int{}, Data: []float64{-(1 << 53)}}},
		{"<i8", &ir.Tensor{Shape: []int{1, 0, 2}, Data: []float64{}}},
		{"<f8", &ir.Tensor{Shape: make([]int, 40), Data: []float64{}}},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		if err := WriteNPY(&buf, tc.tensor, tc.dtype); err != nil {
			t.Fatalf("%s %v: %v", tc.dtype, tc.tensor.Shape, err)
		}
		b := buf.Bytes()
		headerLen := int(binary.LittleEndian.Uint16(b[8:]))
		if (10+headerLen)%64 != 0 || b[10+headerLen-1] != '\n' {
			t.Errorf("%s %v: header of %d bytes is not padded to 64 or lacks its newline", tc.dtype, tc.tensor.Shape, headerLen)
		}
		got, err := ReadNPY(&buf)
		if err != nil {
			t.Fatalf("%s %v: %v", tc.dtype, tc.tensor.Shape, err)
		}
		if !reflect.DeepEqual(got, tc.tensor) {
			t.Errorf("%s: read back %v, want %v", tc.dtype, got, tc.tensor)
		}
	}
}

// WriteNPY's bytes match numpy's for the same array, byte for byte except
// that numpy 1.24 leaves extra header room for growing the first axis.
func TestWriteNPYMatchesNumpy(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteNPY(&buf, &ir.Tensor{Shape: []int{}, Data: []float64{3.25}}, "<f8"); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "f8_scalar.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("WriteNPY wrote\n%q\nnumpy wrote\n%q", buf.Bytes(), want)
	}
}

func TestWriteNPYErrors(t *testing.T) {
	tests := []struct {
		name   string
		tensor *ir.Tensor
		dtype  string
		msg    string
	}{
		{"bad dtype", ir.NewTensor(1), "<f2", `dtype "<f2" is not one of`},
		{"shape mismatch", &ir.Tensor{Shape: []int{2}, Data: []float64{1}}, "<f8", "needs 2 values"},
		{"fraction as int", &ir.Tensor{Shape: []int{1}, Data: []float64{0.5}}, "<i8", "element 0 (0.5) is not an int64"},
		{"NaN as int", &ir.Tensor{Shape: []int{1}, Data: []float64{math.NaN()}}, "<i8", "is not an int64"},
		{"2^63 as int", &ir.Tensor{Shape: []int{1}, Data: []float64{1 << 63}}, "<i8", "is not an int64"},
		{"header too long", &ir.Tensor{Shape: make([]int, 30000), Data: []float64{}}, "<f8", "more than version 1.0 allows"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteNPY(&bytes.Buffer{}, tc.tensor, tc.dtype)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want it to contain %q", err, tc.msg)
			}
		})
	}
}

func TestReadTensorProto(t *testing.T) {
	data, err := proto.Marshal(&onnxpb.TensorProto{Name: proto.String("x"), DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Dims: []int64{2}, Int64Data: []int64{3, -4}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadTensorProto(data)
	if err != nil || !reflect.DeepEqual(got, &ir.Tensor{Shape: []int{2}, Data: []float64{3, -4}}) {
		t.Errorf("ReadTensorProto = %v, %v", got, err)
	}

	bad, err := proto.Marshal(&onnxpb.TensorProto{Name: proto.String("x"), DataType: proto.Int32(int32(onnxpb.TensorProto_STRING))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTensorProto(bad); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `tensor "x": data type STRING`) {
		t.Errorf("error %v, want ErrUnsupported naming the tensor", err)
	}
}

// libonnxAdd is an input of ONNX's backend test for Add, as installed by
// Debian's libonnx-testdata.
var libonnxAdd = filepath.Join(onnxtest.BackendTestData, "node/test_add/test_data_set_0/input_0.pb")

func TestReadLibonnxTensor(t *testing.T) {
	onnxtest.NeedBackendTestData(t, libonnxAdd)
	got, err := ReadFile(libonnxAdd)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Shape, []int{3, 4, 5}) || len(got.Data) != 60 {
		t.Errorf("shape %v with %d values, want [3 4 5] with 60", got.Shape, len(got.Data))
	}
}

// How many tensors the node suite's data sets hold and how many read: the
// others are of types hecc does not read (strings, uint32, uint64) or are
// sequences or optionals. A change means the suite or the reader changed;
// say which in the commit that updates these.
const (
	libonnxTensors     = 2887
	libonnxTensorsRead = 2784
)

// Every tensor of ONNX's backend test data must read or fail cleanly. Some
// .pb files there are SequenceProto or OptionalProto values (inputs of
// sequence/optional op tests); read as a TensorProto they fail with odd but
// clean errors such as a "segment" or a shape spelled from the name's bytes.
// The counts are those of Debian's libonnx-testdata 1.12.0: all but the
// unsupported data types and non-tensors read.
func TestLibonnxTensors(t *testing.T) {
	dir := filepath.Join(onnxtest.BackendTestData, "node")
	onnxtest.NeedBackendTestData(t, dir)
	paths, _ := filepath.Glob(filepath.Join(dir, "*/test_data_set_*/*.pb"))
	ok := 0
	reasons := map[string]int{}
	for _, p := range paths {
		tensor, err := ReadFile(p)
		if err == nil {
			ok++
			if err := tensor.Check(); err != nil {
				t.Errorf("%s: %v", p, err)
			}
			continue
		}
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: error wraps no sentinel: %v", p, err)
		}
		reasons[strings.TrimPrefix(err.Error(), "read tensor "+p+": ")]++
	}
	t.Logf("%d of %d tensors read", ok, len(paths))
	msgs := make([]string, 0, len(reasons))
	for m := range reasons {
		msgs = append(msgs, m)
	}
	sort.Strings(msgs)
	for _, m := range msgs {
		t.Logf("%d × %s", reasons[m], m)
	}
	if len(paths) != libonnxTensors || ok != libonnxTensorsRead {
		t.Errorf("%d of %d tensors read, want %d of %d", ok, len(paths), libonnxTensorsRead, libonnxTensors)
	}
}
