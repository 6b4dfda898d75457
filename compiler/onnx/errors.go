package onnx

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package (and by
// compiler/tensorio, which shares them) wraps exactly one of these, so callers
// can tell a broken file from a valid one the compiler cannot handle.
var (
	// ErrMalformed means the input violates the ONNX (or tensor file) format.
	ErrMalformed = errors.New("malformed input")
	// ErrUnsupported means the input is valid but uses a feature this
	// compiler does not implement (a data type, external data, …).
	ErrUnsupported = errors.New("unsupported input")
	// ErrTooLarge means the input exceeds one of the size limits that keep a
	// hostile file from exhausting memory or time.
	ErrTooLarge = errors.New("input too large")
)

// kindError tags an error with a sentinel without repeating the sentinel's
// text in every message: errors.Is finds the kind, Error shows only the reason.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// errorf formats a reason (which may wrap a cause with %w) tagged with kind.
func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}
