package ir

import (
	"fmt"
)

// Tensor is a dense constant tensor in row-major (C) order. Every constant in
// the compiler (ONNX initializers, folded shape computations, sample inputs,
// reference outputs) is held as float64: integers used as shapes and indices
// stay exact up to 2^53, far beyond any tensor the compiler accepts.
type Tensor struct {
	Shape []int
	Data  []float64
}

// NewTensor returns a zero tensor of the given shape.
func NewTensor(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float64, NumElements(shape))}
}

// NumElements is the product of dims (1 for a scalar).
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Size is the number of elements.
func (t *Tensor) Size() int { return len(t.Data) }

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float64(nil), t.Data...)}
}

// Check reports whether the data length agrees with the shape.
func (t *Tensor) Check() error {
	n, err := CheckedNumElements(toInt64(t.Shape))
	if err != nil {
		return err
	}
	if n != len(t.Data) {
		return fmt.Errorf("tensor shape %v needs %d values, has %d", t.Shape, n, len(t.Data))
	}
	return nil
}

// Strides returns the row-major strides of shape.
func Strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// MaxElements bounds the size of any tensor the compiler materialises, so a
// hostile shape cannot trigger a huge allocation (2^28 float64 = 2 GiB).
const MaxElements = 1 << 28

// CheckedNumElements multiplies dims, refusing negative dims and products
// above MaxElements before they can overflow.
func CheckedNumElements(shape []int64) (int, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		if d != 0 && n > MaxElements/d {
			return 0, fmt.Errorf("shape %v has more than %d elements", shape, MaxElements)
		}
		n *= d
	}
	if n > MaxElements {
		return 0, fmt.Errorf("shape %v has more than %d elements", shape, MaxElements)
	}
	return int(n), nil
}
