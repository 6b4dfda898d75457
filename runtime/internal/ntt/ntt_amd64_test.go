package ntt

import "golang.org/x/sys/cpu"

func init() {
	if cpu.X86.HasAVX2 {
		testKernels["avx2"] = avx2
	}
	if cpu.X86.HasAVX512F {
		testKernels["avx512"] = avx512
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512IFMA {
		testWideKernels["ifma"] = ifma
	}
}
