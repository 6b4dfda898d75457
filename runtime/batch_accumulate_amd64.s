#include "textflag.h"

// func mac4x2AVX2(a0, a1, a2, a3, x0, x1 *uint64, n int, w *[8]uint64)
//
// a_r[t] += x0[t]·w[2r] + x1[t]·w[2r+1] for r in [0, 4), t in [0, n), n a
// multiple of 4, every x and w below 2^32 (VPMULUDQ multiplies the low 32
// bits of each 64-bit lane).
TEXT ·mac4x2AVX2(SB), NOSPLIT, $0-64
	MOVQ a0+0(FP), R8
	MOVQ a1+8(FP), R9
	MOVQ a2+16(FP), R10
	MOVQ a3+24(FP), R11
	MOVQ x0+32(FP), SI
	MOVQ x1+40(FP), DI
	MOVQ n+48(FP), CX
	MOVQ w+56(FP), AX
	VPBROADCASTQ 0(AX), Y0
	VPBROADCASTQ 8(AX), Y1
	VPBROADCASTQ 16(AX), Y2
	VPBROADCASTQ 24(AX), Y3
	VPBROADCASTQ 32(AX), Y4
	VPBROADCASTQ 40(AX), Y5
	VPBROADCASTQ 48(AX), Y6
	VPBROADCASTQ 56(AX), Y7
	SHLQ $3, CX
	XORQ BX, BX

loop:
	CMPQ BX, CX
	JGE  done
	VMOVDQU (SI)(BX*1), Y8
	VMOVDQU (DI)(BX*1), Y9

	VPMULUDQ Y0, Y8, Y10
	VPMULUDQ Y1, Y9, Y11
	VPADDQ   Y11, Y10, Y10
	VPADDQ   (R8)(BX*1), Y10, Y10
	VMOVDQU  Y10, (R8)(BX*1)

	VPMULUDQ Y2, Y8, Y12
	VPMULUDQ Y3, Y9, Y13
	VPADDQ   Y13, Y12, Y12
	VPADDQ   (R9)(BX*1), Y12, Y12
	VMOVDQU  Y12, (R9)(BX*1)

	VPMULUDQ Y4, Y8, Y10
	VPMULUDQ Y5, Y9, Y11
	VPADDQ   Y11, Y10, Y10
	VPADDQ   (R10)(BX*1), Y10, Y10
	VMOVDQU  Y10, (R10)(BX*1)

	VPMULUDQ Y6, Y8, Y12
	VPMULUDQ Y7, Y9, Y13
	VPADDQ   Y13, Y12, Y12
	VPADDQ   (R11)(BX*1), Y12, Y12
	VMOVDQU  Y12, (R11)(BX*1)

	ADDQ $32, BX
	JMP  loop

done:
	VZEROUPPER
	RET

// func mac2splitAVX2(a0, a1, a2, a3, x0, x1 *uint64, n int, w *[4]uint64)
//
// With x = xh·2^32 + xl and column c's weight split as (wl_c, wh_c) =
// (w[2c], w[2c+1]), for t in [0, n), n a multiple of 4, every w below 2^32:
// a0 += Σ_c xl·wl_c, a1 += Σ_c xl·wh_c, a2 += Σ_c xh·wl_c, a3 += Σ_c xh·wh_c.
TEXT ·mac2splitAVX2(SB), NOSPLIT, $0-64
	MOVQ a0+0(FP), R8
	MOVQ a1+8(FP), R9
	MOVQ a2+16(FP), R10
	MOVQ a3+24(FP), R11
	MOVQ x0+32(FP), SI
	MOVQ x1+40(FP), DI
	MOVQ n+48(FP), CX
	MOVQ w+56(FP), AX
	VPBROADCASTQ 0(AX), Y0
	VPBROADCASTQ 8(AX), Y1
	VPBROADCASTQ 16(AX), Y2
	VPBROADCASTQ 24(AX), Y3
	SHLQ $3, CX
	XORQ BX, BX

sloop:
	CMPQ BX, CX
	JGE  sdone
	VMOVDQU (SI)(BX*1), Y8
	VPSRLQ  $32, Y8, Y9
	VMOVDQU (DI)(BX*1), Y10
	VPSRLQ  $32, Y10, Y11

	VPMULUDQ Y0, Y8, Y12
	VPMULUDQ Y2, Y10, Y13
	VPADDQ   Y13, Y12, Y12
	VPADDQ   (R8)(BX*1), Y12, Y12
	VMOVDQU  Y12, (R8)(BX*1)

	VPMULUDQ Y1, Y8, Y14
	VPMULUDQ Y3, Y10, Y15
	VPADDQ   Y15, Y14, Y14
	VPADDQ   (R9)(BX*1), Y14, Y14
	VMOVDQU  Y14, (R9)(BX*1)

	VPMULUDQ Y0, Y9, Y12
	VPMULUDQ Y2, Y11, Y13
	VPADDQ   Y13, Y12, Y12
	VPADDQ   (R10)(BX*1), Y12, Y12
	VMOVDQU  Y12, (R10)(BX*1)

	VPMULUDQ Y1, Y9, Y14
	VPMULUDQ Y3, Y11, Y15
	VPADDQ   Y15, Y14, Y14
	VPADDQ   (R11)(BX*1), Y14, Y14
	VMOVDQU  Y14, (R11)(BX*1)

	ADDQ $32, BX
	JMP  sloop

sdone:
	VZEROUPPER
	RET

// func mac1x4AVX2(a, x0, x1, x2, x3 *uint64, n int, w *[4]uint64)
//
// a[t] += Σ_c xc[t]·w[c] for t in [0, n), n a multiple of 4, every x and w
// below 2^32.
TEXT ·mac1x4AVX2(SB), NOSPLIT, $0-56
	MOVQ a+0(FP), R8
	MOVQ x0+8(FP), SI
	MOVQ x1+16(FP), DI
	MOVQ x2+24(FP), R9
	MOVQ x3+32(FP), R10
	MOVQ n+40(FP), CX
	MOVQ w+48(FP), AX
	VPBROADCASTQ 0(AX), Y0
	VPBROADCASTQ 8(AX), Y1
	VPBROADCASTQ 16(AX), Y2
	VPBROADCASTQ 24(AX), Y3
	SHLQ $3, CX
	XORQ BX, BX

rloop:
	CMPQ BX, CX
	JGE  rdone
	VPMULUDQ (SI)(BX*1), Y0, Y8
	VPMULUDQ (DI)(BX*1), Y1, Y9
	VPMULUDQ (R9)(BX*1), Y2, Y10
	VPMULUDQ (R10)(BX*1), Y3, Y11
	VPADDQ   Y9, Y8, Y8
	VPADDQ   Y11, Y10, Y10
	VPADDQ   Y10, Y8, Y8
	VPADDQ   (R8)(BX*1), Y8, Y8
	VMOVDQU  Y8, (R8)(BX*1)
	ADDQ     $32, BX
	JMP      rloop

rdone:
	VZEROUPPER
	RET

// func foldAVX2(a *uint64, n int, c uint64)
//
// a[t] = (a[t]>>32)·c + (a[t] mod 2^32) for t in [0, n), n a multiple of
// 4, c below 2^32.
TEXT ·foldAVX2(SB), NOSPLIT, $0-24
	MOVQ a+0(FP), SI
	MOVQ n+8(FP), CX
	VPBROADCASTQ c+16(FP), Y0
	SHLQ $3, CX
	XORQ BX, BX

floop:
	CMPQ BX, CX
	JGE  fdone
	VMOVDQU  (SI)(BX*1), Y1
	VPSRLQ   $32, Y1, Y2
	VPMULUDQ Y0, Y2, Y2
	VPSLLQ   $32, Y1, Y1
	VPSRLQ   $32, Y1, Y1
	VPADDQ   Y1, Y2, Y2
	VMOVDQU  Y2, (SI)(BX*1)
	ADDQ     $32, BX
	JMP      floop

fdone:
	VZEROUPPER
	RET

// func mac2ifma(lo, hi, x0, x1 *uint64, n int, w *[2]uint64)
//
// lo[t] += Σ_c low52(xc[t]·w[c]), hi[t] += Σ_c high52(xc[t]·w[c]) (bits
// 52 to 103 of the product) for t in [0, n), n a multiple of 8, every x and
// w below 2^52.
TEXT ·mac2ifma(SB), NOSPLIT, $0-48
	MOVQ lo+0(FP), R8
	MOVQ hi+8(FP), R9
	MOVQ x0+16(FP), SI
	MOVQ x1+24(FP), DI
	MOVQ n+32(FP), CX
	MOVQ w+40(FP), AX
	VPBROADCASTQ 0(AX), Z0
	VPBROADCASTQ 8(AX), Z1
	SHLQ $3, CX
	XORQ BX, BX

iloop:
	CMPQ BX, CX
	JGE  idone
	VMOVDQU64   (SI)(BX*1), Z8
	VMOVDQU64   (DI)(BX*1), Z9
	VMOVDQU64   (R8)(BX*1), Z10
	VMOVDQU64   (R9)(BX*1), Z11
	VPMADD52LUQ Z0, Z8, Z10
	VPMADD52HUQ Z0, Z8, Z11
	VPMADD52LUQ Z1, Z9, Z10
	VPMADD52HUQ Z1, Z9, Z11
	VMOVDQU64   Z10, (R8)(BX*1)
	VMOVDQU64   Z11, (R9)(BX*1)
	ADDQ        $64, BX
	JMP         iloop

idone:
	VZEROUPPER
	RET

// func mac4x2ifma(lo, hi *[4]*uint64, x0, x1 *uint64, n int, w *[8]uint64)
//
// For r in [0, 4): lo[r][t] += Σ_c low52(xc[t]·w[2r+c]), hi[r][t] +=
// Σ_c high52(xc[t]·w[2r+c]) for t in [0, n), n a multiple of 8, every x
// and w below 2^52.
TEXT ·mac4x2ifma(SB), NOSPLIT, $0-48
	MOVQ w+40(FP), AX
	VPBROADCASTQ 0(AX), Z0
	VPBROADCASTQ 8(AX), Z1
	VPBROADCASTQ 16(AX), Z2
	VPBROADCASTQ 24(AX), Z3
	VPBROADCASTQ 32(AX), Z4
	VPBROADCASTQ 40(AX), Z5
	VPBROADCASTQ 48(AX), Z6
	VPBROADCASTQ 56(AX), Z7
	MOVQ lo+0(FP), AX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ 24(AX), R11
	MOVQ hi+8(FP), AX
	MOVQ 0(AX), R12
	MOVQ 8(AX), R13
	MOVQ 16(AX), DX
	MOVQ 24(AX), AX
	MOVQ x0+16(FP), SI
	MOVQ x1+24(FP), DI
	MOVQ n+32(FP), CX
	SHLQ $3, CX
	XORQ BX, BX

jloop:
	CMPQ BX, CX
	JGE  jdone
	VMOVDQU64 (SI)(BX*1), Z8
	VMOVDQU64 (DI)(BX*1), Z9

	VMOVDQU64   (R8)(BX*1), Z10
	VMOVDQU64   (R12)(BX*1), Z11
	VPMADD52LUQ Z0, Z8, Z10
	VPMADD52HUQ Z0, Z8, Z11
	VPMADD52LUQ Z1, Z9, Z10
	VPMADD52HUQ Z1, Z9, Z11
	VMOVDQU64   Z10, (R8)(BX*1)
	VMOVDQU64   Z11, (R12)(BX*1)

	VMOVDQU64   (R9)(BX*1), Z12
	VMOVDQU64   (R13)(BX*1), Z13
	VPMADD52LUQ Z2, Z8, Z12
	VPMADD52HUQ Z2, Z8, Z13
	VPMADD52LUQ Z3, Z9, Z12
	VPMADD52HUQ Z3, Z9, Z13
	VMOVDQU64   Z12, (R9)(BX*1)
	VMOVDQU64   Z13, (R13)(BX*1)

	VMOVDQU64   (R10)(BX*1), Z14
	VMOVDQU64   (DX)(BX*1), Z15
	VPMADD52LUQ Z4, Z8, Z14
	VPMADD52HUQ Z4, Z8, Z15
	VPMADD52LUQ Z5, Z9, Z14
	VPMADD52HUQ Z5, Z9, Z15
	VMOVDQU64   Z14, (R10)(BX*1)
	VMOVDQU64   Z15, (DX)(BX*1)

	VMOVDQU64   (R11)(BX*1), Z16
	VMOVDQU64   (AX)(BX*1), Z17
	VPMADD52LUQ Z6, Z8, Z16
	VPMADD52HUQ Z6, Z8, Z17
	VPMADD52LUQ Z7, Z9, Z16
	VPMADD52HUQ Z7, Z9, Z17
	VMOVDQU64   Z16, (R11)(BX*1)
	VMOVDQU64   Z17, (AX)(BX*1)

	ADDQ $64, BX
	JMP  jloop

jdone:
	VZEROUPPER
	RET
