package ir

// hasAVX reports whether the processor and the operating system support
// AVX: clenshaw16 needs its 256-bit registers.
var hasAVX = func() bool {
	_, _, ecx, _ := cpuid(1, 0)
	const osxsave, avx = 1 << 27, 1 << 28
	// XCR0 bits 1 and 2: the OS saves the SSE and AVX registers.
	return ecx&osxsave != 0 && ecx&avx != 0 && xgetbv()&6 == 6
}()

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

func xgetbv() uint32

// clenshaw16 is Clenshaw on the first len(t)/16·16 values, sixteen at a
// time in four 256-bit chains, every value rounded as Clenshaw's scalar
// loop rounds it: ((2t·a − b) + c_k) at each step, t·a − b + c_0 last.
// len(c) ≥ 1.
//
//go:noescape
func clenshaw16(y, c, t []float64)

// clenshawBlocks evaluates the values it can with AVX and returns how
// many.
func clenshawBlocks(y, c, t []float64) int {
	if !hasAVX || len(t) < 16 || len(y) < len(t) {
		return 0
	}
	clenshaw16(y, c, t)
	return len(t) &^ 15
}
