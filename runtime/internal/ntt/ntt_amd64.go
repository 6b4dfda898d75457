package ntt

import "golang.org/x/sys/cpu"

func init() {
	switch {
	case cpu.X86.HasAVX512F:
		kernels = avx512
	case cpu.X86.HasAVX2:
		kernels = avx2
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512IFMA {
		wideKernels = ifma
	}
}

var (
	avx512 = &kernelSet[uint32]{reduceAVX512, forwardStageAVX512, forwardLastAVX512, backwardFirstAVX512, backwardStageAVX512, backwardLastAVX512, subMulAVX512, nil}
	avx2   = &kernelSet[uint32]{reduceAVX2, forwardStageAVX2, forwardLastAVX2, backwardFirstAVX2, backwardStageAVX2, backwardLastAVX2, subMulAVX2, nil}
	ifma   = &kernelSet[uint64]{reduceIFMA, forwardStageIFMA, forwardLastIFMA, backwardFirstIFMA, backwardStageIFMA, backwardLastIFMA, subMulIFMA, mulAddIFMA}
)

//go:noescape
func reduceAVX512(out, in *uint64, n int, a uint64, c *consts)

//go:noescape
func forwardStageAVX512(p *uint64, n, t int, w, ws *uint32, c *consts)

//go:noescape
func forwardLastAVX512(p *uint64, n int, f4, f2, w, ws *uint32, c *consts)

//go:noescape
func backwardFirstAVX512(out, in *uint64, n int, w, ws, b2, b4 *uint32, c *consts)

//go:noescape
func backwardStageAVX512(p *uint64, n, t int, w, ws *uint32, c *consts)

//go:noescape
func backwardLastAVX512(p *uint64, n int, w, ws *uint32, last *[2]uint32, c *consts)

//go:noescape
func reduceAVX2(out, in *uint64, n int, a uint64, c *consts)

//go:noescape
func forwardStageAVX2(p *uint64, n, t int, w, ws *uint32, c *consts)

//go:noescape
func forwardLastAVX2(p *uint64, n int, f4, f2, w, ws *uint32, c *consts)

//go:noescape
func backwardFirstAVX2(out, in *uint64, n int, w, ws, b2, b4 *uint32, c *consts)

//go:noescape
func backwardStageAVX2(p *uint64, n, t int, w, ws *uint32, c *consts)

//go:noescape
func backwardLastAVX2(p *uint64, n int, w, ws *uint32, last *[2]uint32, c *consts)

//go:noescape
func subMulAVX512(out, x, y *uint64, n int, w *[2]uint32, c *consts)

//go:noescape
func subMulAVX2(out, x, y *uint64, n int, w *[2]uint32, c *consts)

//go:noescape
func reduceIFMA(out, in *uint64, n int, a uint64, c *consts)

//go:noescape
func forwardStageIFMA(p *uint64, n, t int, w, ws *uint64, c *consts)

//go:noescape
func forwardLastIFMA(p *uint64, n int, f4, f2, w, ws *uint64, c *consts)

//go:noescape
func backwardFirstIFMA(out, in *uint64, n int, w, ws, b2, b4 *uint64, c *consts)

//go:noescape
func backwardStageIFMA(p *uint64, n, t int, w, ws *uint64, c *consts)

//go:noescape
func backwardLastIFMA(p *uint64, n int, w, ws *uint64, last *[2]uint64, c *consts)

//go:noescape
func subMulIFMA(out, x, y *uint64, n int, w *[2]uint64, c *consts)

//go:noescape
func mulAddIFMA(out, a, b *uint64, n int, off uint64, w *[2]uint64, c *consts)
