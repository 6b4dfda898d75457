package ir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The binary form of a graph (the circuit inside a .hec file):
//
//	"HECI" u16 version, uvarint LogSlots, Depth, node count, then per node:
//	op byte, inputs (as indices of earlier nodes), shape, origin, name, post,
//	range, level, and the op's payload (an Input's is a flag and its
//	client-side layout: shape, then every slot's element + 1). Floats are
//	IEEE-754 little endian. Version 2 added the Input payload; version 4
//	replaced the magic "HEIR" of earlier versions and added an
//	approximation's bias correction.
//
// Decode treats the bytes as hostile: every count is checked against the
// bytes left before anything is allocated, and the result is verified.
const (
	encMagic   = "HECI"
	oldMagic   = "HEIR" // versions 1 to 3
	encVersion = 4
	maxString  = 1 << 16
)

// ErrDecode reports bytes that are not a valid encoded graph.
var ErrDecode = errors.New("malformed circuit")

// Encode serialises g.
func Encode(g *Graph) ([]byte, error) {
	w := &writer{}
	w.buf.WriteString(encMagic)
	w.buf.Write(binary.LittleEndian.AppendUint16(nil, encVersion))
	w.uint(g.LogSlots)
	w.uint(g.Depth)
	w.uint(len(g.Nodes))
	index := make(map[*Node]int, len(g.Nodes))
	for i, n := range g.Nodes {
		w.buf.WriteByte(byte(n.Op))
		w.uint(len(n.Inputs))
		for _, in := range n.Inputs {
			j, ok := index[in]
			if !ok {
				return nil, fmt.Errorf("cannot encode node %s: it reads a node that does not precede it", n.Label())
			}
			w.uint(j)
		}
		w.ints(n.Shape)
		w.str(n.Origin)
		w.str(n.Name)
		w.str(n.Post)
		w.float(n.Range.Lo)
		w.float(n.Range.Hi)
		w.uint(n.Level)
		switch n.Op {
		case OpInput:
			if n.Gather == nil {
				w.buf.WriteByte(0)
			} else {
				w.buf.WriteByte(1)
				w.ints(n.Gather.Shape)
				w.uint(len(n.Gather.Slots))
				for _, k := range n.Gather.Slots {
					w.uint(k + 1)
				}
				w.uint(n.Gather.Parts)
			}
		case OpConst:
			w.ints(n.Const.Shape)
			w.floats(n.Const.Data)
		case OpAffine:
			w.linear(n.Linear)
		case OpPoly:
			p := n.Poly
			w.buf.WriteByte(byte(p.Basis))
			w.floats(p.Coeffs)
			w.float(p.Interval.Lo)
			w.float(p.Interval.Hi)
			w.str(p.Func)
			w.float(p.MaxErr)
			if p.Replaces == nil {
				w.buf.WriteByte(0)
			} else {
				w.buf.WriteByte(1)
				w.activation(p.Replaces)
				w.float(p.ArgScale)
				w.float(p.ArgShift)
				w.floats(p.Correction)
			}
		case OpActivation:
			w.activation(n.Act)
		}
		index[n] = i
	}
	return w.buf.Bytes(), nil
}

// Decode parses and verifies an encoded graph.
func Decode(data []byte) (*Graph, error) {
	r := &reader{b: data}
	if len(data) >= 4 && string(data[:4]) == oldMagic {
		return nil, fmt.Errorf("%w: the circuit was made by an older hecc in a format this one no longer reads; recompile the model", ErrDecode)
	}
	if len(data) < 6 || string(data[:4]) != encMagic {
		return nil, fmt.Errorf("%w: not an encoded circuit", ErrDecode)
	}
	if v := binary.LittleEndian.Uint16(data[4:6]); v != encVersion {
		return nil, fmt.Errorf("%w: circuit format version %d, this hecc reads version %d", ErrDecode, v, encVersion)
	}
	r.b = data[6:]
	g := &Graph{LogSlots: r.uint(), Depth: r.uint()}
	if g.LogSlots > 30 {
		return nil, fmt.Errorf("%w: 2^%d slots", ErrDecode, g.LogSlots)
	}
	count := r.count(4)
	for i := 0; i < count && r.err == nil; i++ {
		n := &Node{Op: Op(r.byte())}
		ins := r.count(1)
		for j := 0; j < ins && r.err == nil; j++ {
			k := r.uint()
			if k >= i {
				r.fail("node %d reads node %d, which does not precede it", i, k)
				break
			}
			n.Inputs = append(n.Inputs, g.Nodes[k])
		}
		n.Shape = r.ints()
		n.Origin, n.Name, n.Post = r.str(), r.str(), r.str()
		n.Range = Interval{r.float(), r.float()}
		n.Level = r.uint()
		switch n.Op {
		case OpInput:
			if r.byte() == 1 {
				n.Gather = &Gather{Shape: r.ints()}
				slots := r.count(1)
				n.Gather.Slots = make([]int, 0, slots)
				for j := 0; j < slots && r.err == nil; j++ {
					n.Gather.Slots = append(n.Gather.Slots, r.uint()-1)
				}
				n.Gather.Parts = r.uint()
			}
		case OpConst:
			n.Const = &Tensor{Shape: r.ints(), Data: r.floats()}
		case OpAffine:
			n.Linear = r.linear()
		case OpPoly:
			n.Poly = &Polynomial{Basis: Basis(r.byte()), Coeffs: r.floats(), Interval: Interval{r.float(), r.float()}, Func: r.str(), MaxErr: r.float()}
			if r.byte() == 1 {
				n.Poly.Replaces = r.activation()
				n.Poly.ArgScale, n.Poly.ArgShift = r.float(), r.float()
				if c := r.floats(); len(c) > 0 {
					n.Poly.Correction = c
				}
			}
		case OpActivation:
			n.Act = r.activation()
		}
		g.Nodes = append(g.Nodes, n)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d bytes after the last node", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	if err := Verify(g); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	return g, nil
}

type writer struct{ buf bytes.Buffer }

func (w *writer) uint(v int) { w.buf.Write(binary.AppendUvarint(nil, uint64(v))) }
func (w *writer) float(f float64) {
	w.buf.Write(binary.LittleEndian.AppendUint64(nil, math.Float64bits(f)))
}
func (w *writer) str(s string) { w.uint(len(s)); w.buf.WriteString(s) }

func (w *writer) activation(a *Activation) {
	w.str(a.Func)
	w.float(a.Alpha)
	w.float(a.Lo)
	w.float(a.Hi)
}

func (r *reader) activation() *Activation {
	return &Activation{Func: r.str(), Alpha: r.float(), Lo: r.float(), Hi: r.float()}
}

func (w *writer) ints(v []int) {
	w.uint(len(v))
	for _, x := range v {
		w.uint(x)
	}
}

func (w *writer) floats(v []float64) {
	w.uint(len(v))
	for _, f := range v {
		w.float(f)
	}
}

func (w *writer) linear(l *Linear) {
	w.uint(l.Rows)
	w.uint(l.Cols)
	w.str(l.Desc)
	if l.Identity {
		w.buf.WriteByte(1)
	} else {
		w.buf.WriteByte(0)
		// Row lengths and column indices as varints keep a conv's many
		// small indices compact.
		for r := 0; r < l.Rows; r++ {
			w.uint(l.RowPtr[r+1] - l.RowPtr[r])
		}
		for _, c := range l.ColIdx {
			w.uint(c)
		}
		for _, v := range l.Vals {
			w.float(v)
		}
	}
	if l.Bias == nil {
		w.buf.WriteByte(0)
	} else {
		w.buf.WriteByte(1)
		for _, v := range l.Bias {
			w.float(v)
		}
	}
}

// reader keeps the first error; later reads return zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrDecode, fmt.Sprintf(format, args...))
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uint() int {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > math.MaxInt32 {
		r.fail("truncated or out-of-range integer")
		return 0
	}
	r.b = r.b[n:]
	return int(v)
}

// count reads a length whose items take at least minBytes each, refusing a
// length the remaining bytes cannot hold.
func (r *reader) count(minBytes int) int {
	n := r.uint()
	if r.err == nil && n > len(r.b)/minBytes {
		r.fail("length %d exceeds the %d bytes left", n, len(r.b))
		return 0
	}
	return n
}

func (r *reader) float() float64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 8 {
		r.fail("truncated")
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return f
}

func (r *reader) str() string {
	n := r.count(1)
	if r.err != nil {
		return ""
	}
	if n > maxString {
		r.fail("string of %d bytes", n)
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) ints() []int {
	n := r.count(1)
	if n > 64 {
		r.fail("%d dimensions", n)
		return nil
	}
	v := make([]int, n)
	for i := range v {
		v[i] = r.uint()
	}
	return v
}

func (r *reader) floats() []float64 {
	n := r.count(8)
	if r.err != nil {
		return nil
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = r.float()
	}
	return v
}

func (r *reader) linear() *Linear {
	l := &Linear{Rows: r.count(1), Cols: r.uint(), Desc: r.str()}
	if r.err != nil {
		return l
	}
	if r.byte() == 1 {
		l.Identity = true
	} else {
		l.RowPtr = make([]int, l.Rows+1)
		for i := 0; i < l.Rows && r.err == nil; i++ {
			l.RowPtr[i+1] = l.RowPtr[i] + r.uint()
			if l.RowPtr[i+1] > len(r.b) {
				r.fail("row lengths exceed the bytes left")
			}
		}
		nnz := l.RowPtr[l.Rows]
		if r.err == nil && nnz > len(r.b)/9 { // each entry: ≥1 byte column, 8 bytes value
			r.fail("%d weights exceed the bytes left", nnz)
		}
		if r.err != nil {
			return l
		}
		l.ColIdx = make([]int, nnz)
		for i := range l.ColIdx {
			l.ColIdx[i] = r.uint()
		}
		l.Vals = make([]float64, nnz)
		for i := range l.Vals {
			l.Vals[i] = r.float()
		}
	}
	if r.byte() == 1 {
		if l.Rows > len(r.b)/8 {
			r.fail("bias of %d values exceeds the bytes left", l.Rows)
			return l
		}
		l.Bias = make([]float64, l.Rows)
		for i := range l.Bias {
			l.Bias[i] = r.float()
		}
	}
	return l
}
