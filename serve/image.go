package serve

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/png" // the images hecc query reads

	"github.com/hecc-dev/hecc/ir"
	"github.com/hecc-dev/hecc/plan"
)

// ErrImage reports an image that does not fit the model's input.
var ErrImage = errors.New("image does not fit the model input")

// imageLayout reads channels, height and width from a model input shape:
// [..., C, H, W] with C 1 or 3 (channels first, as PyTorch exports), or
// [H, W].
func imageLayout(shape []int) (c, h, w int, err error) {
	n := len(shape)
	switch {
	case n >= 3 && (shape[n-3] == 1 || shape[n-3] == 3):
		for _, d := range shape[:n-3] {
			if d != 1 {
				return 0, 0, 0, fmt.Errorf("%w: input shape %v is not one image, channels first", ErrImage, shape)
			}
		}
		return shape[n-3], shape[n-2], shape[n-1], nil
	case n == 2:
		return 1, shape[0], shape[1], nil
	}
	return 0, 0, 0, fmt.Errorf("%w: input shape %v is not an image of 1 or 3 channels, channels first", ErrImage, shape)
}

// ImageTensor lays img out as spec's model input: gray (luminance) or RGB
// as the input has 1 or 3 channels, each pixel value in 0..255 through the
// input scaling the compile recorded, or divided by 255 when it recorded
// none. An image of another size than the input is refused unless resize,
// which scales it bilinearly.
func ImageTensor(img image.Image, spec *plan.Spec, resize bool) (*ir.Tensor, error) {
	shape := spec.Input.Shape
	c, h, w, err := imageLayout(shape)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	if b.Dx() != w || b.Dy() != h {
		if !resize {
			return nil, fmt.Errorf("%w: the image is %d×%d, the model takes %d×%d (--resize scales it)", ErrImage, b.Dx(), b.Dy(), w, h)
		}
		if b.Dx() == 0 || b.Dy() == 0 {
			return nil, fmt.Errorf("%w: the image is empty", ErrImage)
		}
	}
	t := &ir.Tensor{Shape: append([]int(nil), shape...), Data: make([]float64, c*h*w)}
	for y := range h {
		for x := range w {
			px := sample(img, b, (float64(x)+0.5)*float64(b.Dx())/float64(w)-0.5, (float64(y)+0.5)*float64(b.Dy())/float64(h)-0.5)
			if c == 1 {
				// Rec. 601 luma, as color.GrayModel computes it.
				t.Data[y*w+x] = 0.299*px[0] + 0.587*px[1] + 0.114*px[2]
				continue
			}
			for ch := range 3 {
				t.Data[ch*h*w+y*w+x] = px[ch]
			}
		}
	}
	t.Data = spec.ScalePixels(t.Data)
	return t, nil
}

// sample is img's RGB at (fx, fy) in pixel coordinates, bilinearly
// interpolated (exact at pixel centres, so an image of the right size is
// read as is).
func sample(img image.Image, b image.Rectangle, fx, fy float64) [3]float64 {
	clamp := func(v, n int) int { return min(max(v, 0), n-1) }
	x0, y0 := int(fx), int(fy)
	if fx < 0 {
		x0 = -1
	}
	if fy < 0 {
		y0 = -1
	}
	ax, ay := fx-float64(x0), fy-float64(y0)
	var out [3]float64
	for _, p := range [4]struct {
		x, y int
		wt   float64
	}{{x0, y0, (1 - ax) * (1 - ay)}, {x0 + 1, y0, ax * (1 - ay)}, {x0, y0 + 1, (1 - ax) * ay}, {x0 + 1, y0 + 1, ax * ay}} {
		if p.wt == 0 {
			continue
		}
		rgb := rgb8(img.At(b.Min.X+clamp(p.x, b.Dx()), b.Min.Y+clamp(p.y, b.Dy())))
		for i := range out {
			out[i] += p.wt * rgb[i]
		}
	}
	return out
}

// rgb8 is a colour's red, green and blue in 0..255, alpha ignored.
func rgb8(c color.Color) [3]float64 {
	if g, ok := c.(color.Gray); ok {
		v := float64(g.Y)
		return [3]float64{v, v, v}
	}
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	return [3]float64{float64(n.R), float64(n.G), float64(n.B)}
}
