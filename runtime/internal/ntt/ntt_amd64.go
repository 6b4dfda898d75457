package ntt

import "golang.org/x/sys/cpu"

func init() {
	if cpu.X86.HasAVX512F {
		kernels = &kernelSet{reduceAVX512, forwardStageAVX512, forwardLastAVX512, backwardFirstAVX512, backwardStageAVX512, backwardLastAVX512}
	}
}

//go:noescape
func reduceAVX512(out, in *uint64, n int, c *consts)

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
