package tensorio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/hecc-dev/hecc/ir"
)

// The .npy format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html

const npyMagic = "\x93NUMPY"

// maxHeaderLen bounds the header dict; the largest a version 1.0 file can
// have, and far more than any real array needs.
const maxHeaderLen = 1<<16 - 1

// npyDtype describes one supported little-endian element type.
type npyDtype struct {
	size   int
	decode func(b []byte) float64
}

var npyDtypes = map[string]npyDtype{
	"<f4": {4, func(b []byte) float64 { return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))) }},
	"<f8": {8, func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }},
	"<i8": {8, func(b []byte) float64 { return float64(int64(binary.LittleEndian.Uint64(b))) }},
	"<i4": {4, func(b []byte) float64 { return float64(int32(binary.LittleEndian.Uint32(b))) }},
	"|u1": {1, func(b []byte) float64 { return float64(b[0]) }},
	"|i1": {1, func(b []byte) float64 { return float64(int8(b[0])) }},
}

// ReadNPY reads one array in .npy format (versions 1.0, 2.0 and 3.0).
// It reads exactly the array's bytes, so r may hold more data after it.
func ReadNPY(r io.Reader) (*ir.Tensor, error) {
	return readNPY(r, ir.MaxElements)
}

// readNPY refuses arrays of more than limit elements before reading their data.
func readNPY(r io.Reader, limit int) (*ir.Tensor, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, readError("not a .npy file", err)
	}
	if string(pre[:6]) != npyMagic {
		return nil, errorf(ErrMalformed, "not a .npy file: bad magic %q", pre[:6])
	}
	var headerLen int
	switch major := pre[6]; major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, readError(".npy header length", err)
		}
		headerLen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, readError(".npy header length", err)
		}
		n := binary.LittleEndian.Uint32(b[:])
		if n > maxHeaderLen {
			return nil, errorf(ErrTooLarge, ".npy header is %d bytes, more than %d", n, maxHeaderLen)
		}
		headerLen = int(n)
	default:
		return nil, errorf(ErrUnsupported, ".npy format version %d.%d is not supported", major, pre[7])
	}
	header := make([]byte, headerLen)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, readError(".npy header", err)
	}
	h, err := parseHeader(string(header))
	if err != nil {
		return nil, err
	}
	dtype, ok := npyDtypes[h.descr]
	switch {
	case ok:
	case strings.HasPrefix(h.descr, ">"):
		return nil, errorf(ErrUnsupported, "big-endian .npy data (%q) is not supported: save it as little-endian (arr.astype(arr.dtype.newbyteorder('<')))", h.descr)
	default:
		return nil, errorf(ErrUnsupported, ".npy dtype %q is not supported (want <f4, <f8, <i8, <i4, |u1 or |i1)", h.descr)
	}
	if h.fortran {
		return nil, errorf(ErrUnsupported, "Fortran-order .npy arrays are not supported: save np.ascontiguousarray(arr) instead")
	}
	n, err := checkShape(h.shape)
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, errorf(ErrTooLarge, "the arrays exceed %d elements in total", ir.MaxElements)
	}
	data, err := readElements(r, n, dtype)
	if err != nil {
		return nil, err
	}
	shape := make([]int, len(h.shape))
	for i, d := range h.shape {
		shape[i] = int(d)
	}
	return &ir.Tensor{Shape: shape, Data: data}, nil
}

// readError reports a failed read of what: running out of input means a
// truncated (malformed) file, anything else is the reader's own error.
func readError(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errorf(ErrMalformed, "%s: the file is truncated", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// checkShape returns the element count, refusing shapes beyond ir.MaxElements
// and dims too large to index even when another dim is zero.
func checkShape(shape []int64) (int, error) {
	for _, d := range shape {
		if d > ir.MaxElements {
			return 0, errorf(ErrTooLarge, "shape %v has a dimension above %d", shape, ir.MaxElements)
		}
	}
	n, err := ir.CheckedNumElements(shape)
	if err != nil {
		return 0, errorf(ErrTooLarge, "%w", err)
	}
	return n, nil
}

// readElements reads n elements in chunks, so a header claiming a huge shape
// costs memory only as the data actually arrives.
func readElements(r io.Reader, n int, dtype npyDtype) ([]float64, error) {
	const chunk = 1 << 16
	data := make([]float64, 0, min(n, chunk))
	buf := make([]byte, min(n, chunk)*dtype.size)
	for len(data) < n {
		b := buf[:min(n-len(data), chunk)*dtype.size]
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, readError(fmt.Sprintf(".npy data (%d elements)", n), err)
		}
		for i := 0; i < len(b); i += dtype.size {
			data = append(data, dtype.decode(b[i:]))
		}
	}
	return data, nil
}

type npyHeader struct {
	descr   string
	fortran bool
	shape   []int64
}

// parseHeader parses the Python dict literal numpy writes, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// accepting exactly the three keys numpy requires, in any order.
func parseHeader(s string) (npyHeader, error) {
	var h npyHeader
	p := &parser{s: s}
	fail := func(why string) (npyHeader, error) {
		return h, errorf(ErrMalformed, "bad .npy header %q: %s", s, why)
	}
	if !p.eat('{') {
		return fail("it does not start with '{'")
	}
	seen := map[string]bool{}
	for !p.eat('}') {
		key, ok := p.str()
		if !ok {
			return fail("expected a quoted key")
		}
		if seen[key] {
			return fail("key " + key + " appears twice")
		}
		seen[key] = true
		if !p.eat(':') {
			return fail("expected ':' after key " + key)
		}
		switch key {
		case "descr":
			if h.descr, ok = p.str(); !ok {
				return fail("descr is not a string (structured dtypes are not supported)")
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				h.fortran = true
			case p.word("False"):
			default:
				return fail("fortran_order is not True or False")
			}
		case "shape":
			if h.shape, ok = p.tuple(); !ok {
				return fail("shape is not a tuple of non-negative integers")
			}
		default:
			return fail("unexpected key " + key)
		}
		if !p.eat(',') && !p.peek('}') {
			return fail("expected ',' or '}'")
		}
	}
	if len(seen) != 3 {
		return fail("it needs the keys descr, fortran_order and shape")
	}
	if p.skipSpace(); p.i != len(s) {
		return fail("text after the closing '}'")
	}
	return h, nil
}

// parser is a cursor over the header; every method skips leading spaces.
type parser struct {
	s string
	i int
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *parser) peek(c byte) bool {
	p.skipSpace()
	return p.i < len(p.s) && p.s[p.i] == c
}

func (p *parser) eat(c byte) bool {
	if p.peek(c) {
		p.i++
		return true
	}
	return false
}

func (p *parser) word(w string) bool {
	p.skipSpace()
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

// str reads a quoted string without escapes (numpy never writes any).
func (p *parser) str() (string, bool) {
	p.skipSpace()
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", false
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 || strings.IndexByte(p.s[p.i+1:p.i+1+end], '\\') >= 0 {
		return "", false
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, true
}

// tuple reads (), (n,) or (n, m, ...) of non-negative integers; an "L"
// suffix, written by Python 2 for longs, is accepted.
func (p *parser) tuple() ([]int64, bool) {
	if !p.eat('(') {
		return nil, false
	}
	dims := []int64{}
	for !p.eat(')') {
		p.skipSpace()
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		d, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
		if err != nil {
			return nil, false
		}
		p.word("L")
		dims = append(dims, d)
		// A one-element tuple needs its comma: "(3)" is just 3 in Python.
		if !p.eat(',') {
			if len(dims) == 1 || !p.eat(')') {
				return nil, false
			}
			break
		}
	}
	return dims, true
}

// WriteNPY writes t as a version 1.0 .npy array of dtype "<f4", "<f8" or
// "<i8" (the last only for integral values).
func WriteNPY(w io.Writer, t *ir.Tensor, dtype string) error {
	if err := t.Check(); err != nil {
		return fmt.Errorf("write .npy: %w", err)
	}
	var size int
	switch dtype {
	case "<f4":
		size = 4
	case "<f8", "<i8":
		size = 8
	default:
		return fmt.Errorf("write .npy: dtype %q is not one of <f4, <f8, <i8", dtype)
	}
	if dtype == "<i8" {
		for i, v := range t.Data {
			// 2^63 itself is out of range; -2^63 is exact and allowed.
			if v != math.Trunc(v) || v < math.MinInt64 || v >= math.MaxInt64 {
				return fmt.Errorf("write .npy: element %d (%v) is not an int64", i, v)
			}
		}
	}

	var shape strings.Builder
	shape.WriteByte('(')
	for i, d := range t.Shape {
		if i > 0 {
			shape.WriteString(", ")
		}
		shape.WriteString(strconv.Itoa(d))
	}
	if len(t.Shape) == 1 {
		shape.WriteByte(',')
	}
	shape.WriteByte(')')
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", dtype, shape.String())
	// Pad with spaces and a final newline so the data starts on a 64-byte
	// boundary (magic, version and length take 10 bytes), as numpy does.
	header += strings.Repeat(" ", 64-(10+len(header)+1)%64) + "\n"
	if len(header) > maxHeaderLen {
		return fmt.Errorf("write .npy: header for shape %v is %d bytes, more than version 1.0 allows", t.Shape, len(header))
	}

	bw := bufio.NewWriter(w)
	var pre [10]byte
	copy(pre[:], npyMagic)
	pre[6] = 1 // version 1.0
	binary.LittleEndian.PutUint16(pre[8:], uint16(len(header)))
	bw.Write(pre[:])
	bw.WriteString(header)
	var elem [8]byte
	for _, v := range t.Data {
		switch dtype {
		case "<f4":
			binary.LittleEndian.PutUint32(elem[:], math.Float32bits(float32(v)))
		case "<f8":
			binary.LittleEndian.PutUint64(elem[:], math.Float64bits(v))
		case "<i8":
			binary.LittleEndian.PutUint64(elem[:], uint64(int64(v)))
		}
		bw.Write(elem[:size])
	}
	// bufio.Writer keeps the first write error and returns it here.
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write .npy: %w", err)
	}
	return nil
}
