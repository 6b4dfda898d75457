package serve

import (
	"errors"
	"image"
	"image/color"
	"testing"

	"github.com/hecc-dev/hecc/plan"
)

// inputOf is a spec with an input of that shape and no input scaling.
func inputOf(shape ...int) *plan.Spec {
	return &plan.Spec{Input: plan.TensorInfo{Name: "x", Shape: shape}}
}

func TestImageTensor(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 4, 3))
	rgb := image.NewNRGBA(image.Rect(0, 0, 4, 3))
	for y := range 3 {
		for x := range 4 {
			gray.SetGray(x, y, color.Gray{uint8(10*y + x)})
			rgb.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y), 200, 255})
		}
	}
	g, err := ImageTensor(gray, inputOf([]int{1, 1, 3, 4}...), false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ImageTensor(rgb, inputOf([]int{1, 3, 3, 4}...), false)
	if err != nil {
		t.Fatal(err)
	}
	for y := range 3 {
		for x := range 4 {
			if got, want := g.Data[y*4+x], float64(10*y+x)/255; abs(got-want) > 1e-12 {
				t.Fatalf("gray (%d,%d) = %g, expected %g", x, y, got, want)
			}
			for ch, want := range []float64{float64(x), float64(y), 200} {
				if got := c.Data[ch*12+y*4+x]; abs(got-want/255) > 1e-12 {
					t.Fatalf("channel %d at (%d,%d) = %g, expected %g", ch, x, y, got, want/255)
				}
			}
		}
	}
	if _, err := ImageTensor(gray, inputOf([]int{1, 1, 6, 8}...), false); !errors.Is(err, ErrImage) {
		t.Fatalf("another size without --resize: %v", err)
	}
	// Doubling a constant image keeps it constant.
	flat := image.NewGray(image.Rect(0, 0, 2, 2))
	for i := range flat.Pix {
		flat.Pix[i] = 51
	}
	big, err := ImageTensor(flat, inputOf([]int{1, 1, 4, 4}...), true)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range big.Data {
		if abs(v-0.2) > 1e-12 {
			t.Fatalf("resized pixel %d = %g, expected 0.2", i, v)
		}
	}
	if _, err := ImageTensor(gray, inputOf([]int{1, 2, 3, 4}...), false); !errors.Is(err, ErrImage) {
		t.Fatalf("a 2-channel input: %v", err)
	}
}

func abs(x float64) float64 { return max(x, -x) }

// With the input scaling the compile recorded, a pixel p of channel c
// becomes (p·Scale − Mean[c]) / Std[c] instead of p/255.
func TestImageTensorScaled(t *testing.T) {
	rgb := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	rgb.SetNRGBA(0, 0, color.NRGBA{0, 128, 255, 255})
	rgb.SetNRGBA(1, 0, color.NRGBA{255, 0, 51, 255})
	spec := inputOf(1, 3, 1, 2)
	spec.InputScaling = &plan.InputScaling{Scale: 1.0 / 255, Mean: []float64{0.5, 0, 0.2}, Std: []float64{0.5, 1, 0.1}}
	got, err := ImageTensor(rgb, spec, false)
	if err != nil {
		t.Fatal(err)
	}
	pixels := [3][2]float64{{0, 255}, {128, 0}, {255, 51}}
	for ch := range 3 {
		for x := range 2 {
			sc := spec.InputScaling
			want := (pixels[ch][x]/255 - sc.Mean[ch]) / sc.Std[ch]
			if v := got.Data[ch*2+x]; abs(v-want) > 1e-12 {
				t.Errorf("channel %d, pixel %d: %g, expected %g", ch, x, v, want)
			}
		}
	}
}
