#include "textflag.h"

// Every kernel holds 64-bit lanes of values below 4q < 2^33, those it
// multiplies below 2q < 2^32, so that VPMULUDQ (which multiplies the low
// 32 bits of each lane) gives exact products. Twiddles are 32-bit words
// broadcast or zero-extended into the lanes; Shoup's product V·w mod q,
// lazily, is V·w - ⌊V·w'/2^32⌋·q, in [0, 2q) for V below 2^32.
//
// Go's operand order is Intel's reversed: VPSUBQ b, a, d sets d = a - b;
// VPERMI2Q t1, t0, i sets i to the lanes of t0 (indexes 0-7) and t1
// (indexes 8-15) that i names.

// SHOUP sets V to V·W mod q in [0, 2q), clobbering T; Q holds q.
#define SHOUP(V, W, WS, Q, T) \
	VPMULUDQ WS, V, T \
	VPSRLQ   $32, T, T \
	VPMULUDQ Q, T, T \
	VPMULUDQ W, V, V \
	VPSUBQ   T, V, V

// CSUB sets X to X - S if X ≥ S, clobbering T: X - S wraps past every
// lane's value otherwise.
#define CSUB(X, S, T) \
	VPSUBQ  S, X, T \
	VPMINUQ T, X, X

// CSUB2 is CSUB for AVX2, which has no 64-bit minimum: X - S is negative
// (its sign bit picks X) when X < S.
#define CSUB2(X, S, T) \
	VPSUBQ    S, X, T \
	VBLENDVPD T, X, T, X

// FWD sets X, D to X + Y·W, X - Y·W (mod q, below 2q) from X and Y below
// 2q, clobbering Y; Q, Q2 hold q, 2q. FWD2 is FWD for AVX2.
#define FWD(X, Y, W, WS, D, Q, Q2) \
	SHOUP(Y, W, WS, Q, D) \
	VPADDQ Q2, X, D \
	VPSUBQ Y, D, D \
	VPADDQ Y, X, X \
	CSUB(X, Q2, Y) \
	CSUB(D, Q2, Y)

#define FWD2(X, Y, W, WS, D, Q, Q2) \
	SHOUP(Y, W, WS, Q, D) \
	VPADDQ Q2, X, D \
	VPSUBQ Y, D, D \
	VPADDQ Y, X, X \
	CSUB2(X, Q2, Y) \
	CSUB2(D, Q2, Y)

// INV sets S, X to X + Y, (X - Y)·W (mod q, below 2q) from X and Y below
// 2q, clobbering Y. INV2 is INV for AVX2.
#define INV(X, Y, W, WS, S, Q, Q2) \
	VPADDQ Y, X, S \
	VPADDQ Q2, X, X \
	VPSUBQ Y, X, X \
	CSUB(S, Q2, Y) \
	CSUB(X, Q2, Y) \
	SHOUP(X, W, WS, Q, Y)

#define INV2(X, Y, W, WS, S, Q, Q2) \
	VPADDQ Y, X, S \
	VPADDQ Q2, X, X \
	VPSUBQ Y, X, X \
	CSUB2(S, Q2, Y) \
	CSUB2(X, Q2, Y) \
	SHOUP(X, W, WS, Q, Y)

// The lane permutations of the last (first) three stages, over two blocks
// of eight coefficients A and B: the pairs of the stage 4 apart (p4x,
// p4y from A, B), 2 apart (p2x, p2y from those), 1 apart (p1x, p1y), and
// back to A, B (outx, outy); the backward transform starts with evens,
// odds and runs them in the other order.
DATA perm<>+0(SB)/8, $0
DATA perm<>+8(SB)/8, $1
DATA perm<>+16(SB)/8, $2
DATA perm<>+24(SB)/8, $3
DATA perm<>+32(SB)/8, $8
DATA perm<>+40(SB)/8, $9
DATA perm<>+48(SB)/8, $10
DATA perm<>+56(SB)/8, $11
DATA perm<>+64(SB)/8, $4
DATA perm<>+72(SB)/8, $5
DATA perm<>+80(SB)/8, $6
DATA perm<>+88(SB)/8, $7
DATA perm<>+96(SB)/8, $12
DATA perm<>+104(SB)/8, $13
DATA perm<>+112(SB)/8, $14
DATA perm<>+120(SB)/8, $15
DATA perm<>+128(SB)/8, $0
DATA perm<>+136(SB)/8, $1
DATA perm<>+144(SB)/8, $8
DATA perm<>+152(SB)/8, $9
DATA perm<>+160(SB)/8, $4
DATA perm<>+168(SB)/8, $5
DATA perm<>+176(SB)/8, $12
DATA perm<>+184(SB)/8, $13
DATA perm<>+192(SB)/8, $2
DATA perm<>+200(SB)/8, $3
DATA perm<>+208(SB)/8, $10
DATA perm<>+216(SB)/8, $11
DATA perm<>+224(SB)/8, $6
DATA perm<>+232(SB)/8, $7
DATA perm<>+240(SB)/8, $14
DATA perm<>+248(SB)/8, $15
DATA perm<>+256(SB)/8, $0
DATA perm<>+264(SB)/8, $8
DATA perm<>+272(SB)/8, $2
DATA perm<>+280(SB)/8, $10
DATA perm<>+288(SB)/8, $4
DATA perm<>+296(SB)/8, $12
DATA perm<>+304(SB)/8, $6
DATA perm<>+312(SB)/8, $14
DATA perm<>+320(SB)/8, $1
DATA perm<>+328(SB)/8, $9
DATA perm<>+336(SB)/8, $3
DATA perm<>+344(SB)/8, $11
DATA perm<>+352(SB)/8, $5
DATA perm<>+360(SB)/8, $13
DATA perm<>+368(SB)/8, $7
DATA perm<>+376(SB)/8, $15
DATA perm<>+384(SB)/8, $0
DATA perm<>+392(SB)/8, $8
DATA perm<>+400(SB)/8, $1
DATA perm<>+408(SB)/8, $9
DATA perm<>+416(SB)/8, $2
DATA perm<>+424(SB)/8, $10
DATA perm<>+432(SB)/8, $3
DATA perm<>+440(SB)/8, $11
DATA perm<>+448(SB)/8, $4
DATA perm<>+456(SB)/8, $12
DATA perm<>+464(SB)/8, $5
DATA perm<>+472(SB)/8, $13
DATA perm<>+480(SB)/8, $6
DATA perm<>+488(SB)/8, $14
DATA perm<>+496(SB)/8, $7
DATA perm<>+504(SB)/8, $15
DATA perm<>+512(SB)/8, $0
DATA perm<>+520(SB)/8, $2
DATA perm<>+528(SB)/8, $4
DATA perm<>+536(SB)/8, $6
DATA perm<>+544(SB)/8, $8
DATA perm<>+552(SB)/8, $10
DATA perm<>+560(SB)/8, $12
DATA perm<>+568(SB)/8, $14
DATA perm<>+576(SB)/8, $1
DATA perm<>+584(SB)/8, $3
DATA perm<>+592(SB)/8, $5
DATA perm<>+600(SB)/8, $7
DATA perm<>+608(SB)/8, $9
DATA perm<>+616(SB)/8, $11
DATA perm<>+624(SB)/8, $13
DATA perm<>+632(SB)/8, $15
GLOBL perm<>(SB), RODATA|NOPTR, $640

#define P4X perm<>+0(SB)
#define P4Y perm<>+64(SB)
#define P2X perm<>+128(SB)
#define P2Y perm<>+192(SB)
#define P1X perm<>+256(SB)
#define P1Y perm<>+320(SB)
#define OUTX perm<>+384(SB)
#define OUTY perm<>+448(SB)
#define EVENS perm<>+512(SB)
#define ODDS perm<>+576(SB)

// func reduceAVX512(out, in *uint64, n int, a uint64, c *consts)
TEXT ·reduceAVX512(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ in+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ c+32(FP), AX
	VPBROADCASTQ a+24(FP), Z9
	VPBROADCASTQ 0(AX), Z28
	VPBROADCASTQ 16(AX), Z30
	SHLQ $3, CX
	XORQ BX, BX

reduce512:
	VMOVDQU64 (SI)(BX*1), Z0
	VPADDQ    Z9, Z0, Z0
	VPMULUDQ  Z30, Z0, Z1
	VPSRLQ    $32, Z1, Z1
	VPMULUDQ  Z28, Z1, Z1
	VPSUBQ    Z1, Z0, Z0
	VMOVDQU64 Z0, (DI)(BX*1)
	ADDQ      $64, BX
	CMPQ      BX, CX
	JLT       reduce512
	VZEROUPPER
	RET

// func forwardStageAVX512(p *uint64, n, t int, w, ws *uint32, c *consts)
TEXT ·forwardStageAVX512(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ t+16(FP), DX
	MOVQ w+24(FP), R8
	MOVQ ws+32(FP), R9
	MOVQ c+40(FP), AX
	VPBROADCASTQ 0(AX), Z28
	VPBROADCASTQ 8(AX), Z29
	SHLQ $3, DX
	LEAQ (DI)(CX*8), R10

fgroup512:
	VPBROADCASTD (R8), Z26
	VPBROADCASTD (R9), Z27
	ADDQ         $4, R8
	ADDQ         $4, R9
	MOVQ         DI, SI
	LEAQ         (DI)(DX*1), R11

fbutterfly512:
	VMOVDQU64 (SI), Z0
	VMOVDQU64 (SI)(DX*1), Z1
	FWD(Z0, Z1, Z26, Z27, Z2, Z28, Z29)
	VMOVDQU64 Z0, (SI)
	VMOVDQU64 Z2, (SI)(DX*1)
	ADDQ      $64, SI
	CMPQ      SI, R11
	JLT       fbutterfly512
	LEAQ      (DI)(DX*2), DI
	CMPQ      DI, R10
	JLT       fgroup512
	VZEROUPPER
	RET

// func forwardLastAVX512(p *uint64, n int, f4, f2, w, ws *uint32, c *consts)
TEXT ·forwardLastAVX512(SB), NOSPLIT, $0-56
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ f4+16(FP), R8
	MOVQ f2+24(FP), R9
	MOVQ w+32(FP), R10
	MOVQ ws+40(FP), R11
	MOVQ c+48(FP), AX
	VPBROADCASTQ 0(AX), Z28
	VPBROADCASTQ 8(AX), Z29
	VMOVDQU64    P4X, Z20
	VMOVDQU64    P4Y, Z21
	VMOVDQU64    P2X, Z22
	VMOVDQU64    P2Y, Z23
	VMOVDQU64    P1X, Z24
	VMOVDQU64    P1Y, Z25
	VMOVDQU64    OUTX, Z26
	VMOVDQU64    OUTY, Z27
	LEAQ         (SI)(CX*8), R12
	SHLQ         $1, CX        // the quotients follow n/2 roots

flast512:
	VMOVDQU64 (SI), Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQA64 Z20, Z2
	VPERMI2Q  Z1, Z0, Z2
	VMOVDQA64 Z21, Z3
	VPERMI2Q  Z1, Z0, Z3
	VPMOVZXDQ (R8), Z4
	VPMOVZXDQ (R8)(CX*1), Z5
	FWD(Z2, Z3, Z4, Z5, Z6, Z28, Z29)
	VMOVDQA64 Z22, Z0
	VPERMI2Q  Z6, Z2, Z0
	VMOVDQA64 Z23, Z1
	VPERMI2Q  Z6, Z2, Z1
	VPMOVZXDQ (R9), Z4
	VPMOVZXDQ (R9)(CX*1), Z5
	FWD(Z0, Z1, Z4, Z5, Z6, Z28, Z29)
	VMOVDQA64 Z24, Z2
	VPERMI2Q  Z6, Z0, Z2
	VMOVDQA64 Z25, Z3
	VPERMI2Q  Z6, Z0, Z3
	VPMOVZXDQ (R10), Z4
	VPMOVZXDQ (R11), Z5
	FWD(Z2, Z3, Z4, Z5, Z6, Z28, Z29)
	CSUB(Z2, Z28, Z7)
	CSUB(Z6, Z28, Z7)
	VMOVDQA64 Z26, Z0
	VPERMI2Q  Z6, Z2, Z0
	VMOVDQA64 Z27, Z1
	VPERMI2Q  Z6, Z2, Z1
	VMOVDQU64 Z0, (SI)
	VMOVDQU64 Z1, 64(SI)
	ADDQ      $128, SI
	ADDQ      $32, R8
	ADDQ      $32, R9
	ADDQ      $32, R10
	ADDQ      $32, R11
	CMPQ      SI, R12
	JLT       flast512
	VZEROUPPER
	RET

// func backwardFirstAVX512(out, in *uint64, n int, w, ws, b2, b4 *uint32, c *consts)
TEXT ·backwardFirstAVX512(SB), NOSPLIT, $0-64
	MOVQ out+0(FP), DI
	MOVQ in+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ w+24(FP), R10
	MOVQ ws+32(FP), R11
	MOVQ b2+40(FP), R9
	MOVQ b4+48(FP), R8
	MOVQ c+56(FP), AX
	VPBROADCASTQ 0(AX), Z28
	VPBROADCASTQ 8(AX), Z29
	VMOVDQU64    EVENS, Z20
	VMOVDQU64    ODDS, Z21
	VMOVDQU64    P1X, Z22
	VMOVDQU64    P1Y, Z23
	VMOVDQU64    P2X, Z24
	VMOVDQU64    P2Y, Z25
	VMOVDQU64    P4X, Z26
	VMOVDQU64    P4Y, Z27
	LEAQ         (SI)(CX*8), R12
	SHLQ         $1, CX

bfirst512:
	VMOVDQU64 (SI), Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQA64 Z20, Z2
	VPERMI2Q  Z1, Z0, Z2
	VMOVDQA64 Z21, Z3
	VPERMI2Q  Z1, Z0, Z3
	VPMOVZXDQ (R10), Z4
	VPMOVZXDQ (R11), Z5
	INV(Z2, Z3, Z4, Z5, Z6, Z28, Z29)
	VMOVDQA64 Z22, Z0
	VPERMI2Q  Z2, Z6, Z0
	VMOVDQA64 Z23, Z1
	VPERMI2Q  Z2, Z6, Z1
	VPMOVZXDQ (R9), Z4
	VPMOVZXDQ (R9)(CX*1), Z5
	INV(Z0, Z1, Z4, Z5, Z6, Z28, Z29)
	VMOVDQA64 Z24, Z2
	VPERMI2Q  Z0, Z6, Z2
	VMOVDQA64 Z25, Z3
	VPERMI2Q  Z0, Z6, Z3
	VPMOVZXDQ (R8), Z4
	VPMOVZXDQ (R8)(CX*1), Z5
	INV(Z2, Z3, Z4, Z5, Z6, Z28, Z29)
	VMOVDQA64 Z26, Z0
	VPERMI2Q  Z2, Z6, Z0
	VMOVDQA64 Z27, Z1
	VPERMI2Q  Z2, Z6, Z1
	VMOVDQU64 Z0, (DI)
	VMOVDQU64 Z1, 64(DI)
	ADDQ      $128, SI
	ADDQ      $128, DI
	ADDQ      $32, R8
	ADDQ      $32, R9
	ADDQ      $32, R10
	ADDQ      $32, R11
	CMPQ      SI, R12
	JLT       bfirst512
	VZEROUPPER
	RET

// func backwardStageAVX512(p *uint64, n, t int, w, ws *uint32, c *consts)
TEXT ·backwardStageAVX512(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ t+16(FP), DX
	MOVQ w+24(FP), R8
	MOVQ ws+32(FP), R9
	MOVQ c+40(FP), AX
	VPBROADCASTQ 0(AX), Z28
	VPBROADCASTQ 8(AX), Z29
	SHLQ $3, DX
	LEAQ (DI)(CX*8), R10

bgroup512:
	VPBROADCASTD (R8), Z26
	VPBROADCASTD (R9), Z27
	ADDQ         $4, R8
	ADDQ         $4, R9
	MOVQ         DI, SI
	LEAQ         (DI)(DX*1), R11

bbutterfly512:
	VMOVDQU64 (SI), Z0
	VMOVDQU64 (SI)(DX*1), Z1
	INV(Z0, Z1, Z26, Z27, Z2, Z28, Z29)
	VMOVDQU64 Z2, (SI)
	VMOVDQU64 Z0, (SI)(DX*1)
	ADDQ      $64, SI
	CMPQ      SI, R11
	JLT       bbutterfly512
	LEAQ      (DI)(DX*2), DI
	CMPQ      DI, R10
	JLT       bgroup512
	VZEROUPPER
	RET

// func backwardLastAVX512(p *uint64, n int, w, ws *uint32, last *[2]uint32, c *consts)
TEXT ·backwardLastAVX512(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ w+16(FP), R8
	MOVQ ws+24(FP), R9
	MOVQ last+32(FP), R10
	MOVQ c+40(FP), AX
	VPBROADCASTQ 0(AX), Z28
	VPBROADCASTQ 8(AX), Z29
	VPBROADCASTD (R8), Z24
	VPBROADCASTD (R9), Z25
	VPBROADCASTD 0(R10), Z26
	VPBROADCASTD 4(R10), Z27
	SHLQ $2, CX                // n/2 coefficients, in bytes
	LEAQ (SI)(CX*1), R11

blast512:
	VMOVDQU64 (SI), Z0
	VMOVDQU64 (SI)(CX*1), Z1
	VPADDQ    Z1, Z0, Z2
	VPADDQ    Z29, Z0, Z0
	VPSUBQ    Z1, Z0, Z0
	CSUB(Z2, Z29, Z3)
	CSUB(Z0, Z29, Z3)
	SHOUP(Z2, Z24, Z25, Z28, Z3)
	SHOUP(Z0, Z26, Z27, Z28, Z3)
	CSUB(Z2, Z28, Z3)
	CSUB(Z0, Z28, Z3)
	VMOVDQU64 Z2, (SI)
	VMOVDQU64 Z0, (SI)(CX*1)
	ADDQ      $64, SI
	CMPQ      SI, R11
	JLT       blast512
	VZEROUPPER
	RET

// The AVX2 kernels are the AVX-512 ones four lanes wide: their last
// (first) three stages take one block of eight coefficients, A and B its
// halves, and pair them with VPERM2I128 (halves of two registers) and
// VPUNPCKLQDQ, VPUNPCKHQDQ (even, odd lanes of two registers, per half).

// func reduceAVX2(out, in *uint64, n int, a uint64, c *consts)
TEXT ·reduceAVX2(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ in+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ c+32(FP), AX
	VPBROADCASTQ a+24(FP), Y9
	VPBROADCASTQ 0(AX), Y13
	VPBROADCASTQ 16(AX), Y15
	SHLQ $3, CX
	XORQ BX, BX

reduce2:
	VMOVDQU  (SI)(BX*1), Y0
	VPADDQ    Y9, Y0, Y0
	VPMULUDQ Y15, Y0, Y1
	VPSRLQ   $32, Y1, Y1
	VPMULUDQ Y13, Y1, Y1
	VPSUBQ   Y1, Y0, Y0
	VMOVDQU  Y0, (DI)(BX*1)
	ADDQ     $32, BX
	CMPQ     BX, CX
	JLT      reduce2
	VZEROUPPER
	RET

// func forwardStageAVX2(p *uint64, n, t int, w, ws *uint32, c *consts)
TEXT ·forwardStageAVX2(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ t+16(FP), DX
	MOVQ w+24(FP), R8
	MOVQ ws+32(FP), R9
	MOVQ c+40(FP), AX
	VPBROADCASTQ 0(AX), Y13
	VPBROADCASTQ 8(AX), Y14
	SHLQ $3, DX
	LEAQ (DI)(CX*8), R10

fgroup2:
	VPBROADCASTD (R8), Y11
	VPBROADCASTD (R9), Y12
	ADDQ         $4, R8
	ADDQ         $4, R9
	MOVQ         DI, SI
	LEAQ         (DI)(DX*1), R11

fbutterfly2:
	VMOVDQU (SI), Y0
	VMOVDQU (SI)(DX*1), Y1
	VMOVDQU 32(SI), Y3
	VMOVDQU 32(SI)(DX*1), Y4
	FWD2(Y0, Y1, Y11, Y12, Y2, Y13, Y14)
	FWD2(Y3, Y4, Y11, Y12, Y5, Y13, Y14)
	VMOVDQU Y0, (SI)
	VMOVDQU Y2, (SI)(DX*1)
	VMOVDQU Y3, 32(SI)
	VMOVDQU Y5, 32(SI)(DX*1)
	ADDQ    $64, SI
	CMPQ    SI, R11
	JLT     fbutterfly2
	LEAQ    (DI)(DX*2), DI
	CMPQ    DI, R10
	JLT     fgroup2
	VZEROUPPER
	RET

// func forwardLastAVX2(p *uint64, n int, f4, f2, w, ws *uint32, c *consts)
TEXT ·forwardLastAVX2(SB), NOSPLIT, $0-56
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ f4+16(FP), R8
	MOVQ f2+24(FP), R9
	MOVQ w+32(FP), R10
	MOVQ ws+40(FP), R11
	MOVQ c+48(FP), AX
	VPBROADCASTQ 0(AX), Y13
	VPBROADCASTQ 8(AX), Y14
	LEAQ         (SI)(CX*8), R12
	SHLQ         $1, CX

flast2:
	VMOVDQU   (SI), Y0
	VMOVDQU   32(SI), Y1
	VPMOVZXDQ (R8), Y4
	VPMOVZXDQ (R8)(CX*1), Y5
	FWD2(Y0, Y1, Y4, Y5, Y6, Y13, Y14)
	VPERM2I128 $0x20, Y6, Y0, Y2
	VPERM2I128 $0x31, Y6, Y0, Y3
	VPMOVZXDQ (R9), Y4
	VPMOVZXDQ (R9)(CX*1), Y5
	FWD2(Y2, Y3, Y4, Y5, Y6, Y13, Y14)
	VPUNPCKLQDQ Y6, Y2, Y0
	VPUNPCKHQDQ Y6, Y2, Y1
	VPMOVZXDQ (R10), Y4
	VPMOVZXDQ (R11), Y5
	FWD2(Y0, Y1, Y4, Y5, Y6, Y13, Y14)
	CSUB2(Y0, Y13, Y7)
	CSUB2(Y6, Y13, Y7)
	VPUNPCKLQDQ Y6, Y0, Y2
	VPUNPCKHQDQ Y6, Y0, Y3
	VPERM2I128 $0x20, Y3, Y2, Y0
	VPERM2I128 $0x31, Y3, Y2, Y1
	VMOVDQU   Y0, (SI)
	VMOVDQU   Y1, 32(SI)
	ADDQ      $64, SI
	ADDQ      $16, R8
	ADDQ      $16, R9
	ADDQ      $16, R10
	ADDQ      $16, R11
	CMPQ      SI, R12
	JLT       flast2
	VZEROUPPER
	RET

// func backwardFirstAVX2(out, in *uint64, n int, w, ws, b2, b4 *uint32, c *consts)
TEXT ·backwardFirstAVX2(SB), NOSPLIT, $0-64
	MOVQ out+0(FP), DI
	MOVQ in+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ w+24(FP), R10
	MOVQ ws+32(FP), R11
	MOVQ b2+40(FP), R9
	MOVQ b4+48(FP), R8
	MOVQ c+56(FP), AX
	VPBROADCASTQ 0(AX), Y13
	VPBROADCASTQ 8(AX), Y14
	LEAQ         (SI)(CX*8), R12
	SHLQ         $1, CX

bfirst2:
	VMOVDQU     (SI), Y0
	VMOVDQU     32(SI), Y1
	VPERM2I128  $0x20, Y1, Y0, Y2
	VPERM2I128  $0x31, Y1, Y0, Y3
	VPUNPCKLQDQ Y3, Y2, Y0
	VPUNPCKHQDQ Y3, Y2, Y1
	VPMOVZXDQ   (R10), Y4
	VPMOVZXDQ   (R11), Y5
	INV2(Y0, Y1, Y4, Y5, Y6, Y13, Y14)
	VPUNPCKLQDQ Y0, Y6, Y2
	VPUNPCKHQDQ Y0, Y6, Y3
	VPMOVZXDQ   (R9), Y4
	VPMOVZXDQ   (R9)(CX*1), Y5
	INV2(Y2, Y3, Y4, Y5, Y6, Y13, Y14)
	VPERM2I128  $0x20, Y2, Y6, Y0
	VPERM2I128  $0x31, Y2, Y6, Y1
	VPMOVZXDQ   (R8), Y4
	VPMOVZXDQ   (R8)(CX*1), Y5
	INV2(Y0, Y1, Y4, Y5, Y6, Y13, Y14)
	VMOVDQU     Y6, (DI)
	VMOVDQU     Y0, 32(DI)
	ADDQ        $64, SI
	ADDQ        $64, DI
	ADDQ        $16, R8
	ADDQ        $16, R9
	ADDQ        $16, R10
	ADDQ        $16, R11
	CMPQ        SI, R12
	JLT         bfirst2
	VZEROUPPER
	RET

// func backwardStageAVX2(p *uint64, n, t int, w, ws *uint32, c *consts)
TEXT ·backwardStageAVX2(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ t+16(FP), DX
	MOVQ w+24(FP), R8
	MOVQ ws+32(FP), R9
	MOVQ c+40(FP), AX
	VPBROADCASTQ 0(AX), Y13
	VPBROADCASTQ 8(AX), Y14
	SHLQ $3, DX
	LEAQ (DI)(CX*8), R10

bgroup2:
	VPBROADCASTD (R8), Y11
	VPBROADCASTD (R9), Y12
	ADDQ         $4, R8
	ADDQ         $4, R9
	MOVQ         DI, SI
	LEAQ         (DI)(DX*1), R11

bbutterfly2:
	VMOVDQU (SI), Y0
	VMOVDQU (SI)(DX*1), Y1
	VMOVDQU 32(SI), Y3
	VMOVDQU 32(SI)(DX*1), Y4
	INV2(Y0, Y1, Y11, Y12, Y2, Y13, Y14)
	INV2(Y3, Y4, Y11, Y12, Y5, Y13, Y14)
	VMOVDQU Y2, (SI)
	VMOVDQU Y0, (SI)(DX*1)
	VMOVDQU Y5, 32(SI)
	VMOVDQU Y3, 32(SI)(DX*1)
	ADDQ    $64, SI
	CMPQ    SI, R11
	JLT     bbutterfly2
	LEAQ    (DI)(DX*2), DI
	CMPQ    DI, R10
	JLT     bgroup2
	VZEROUPPER
	RET

// func backwardLastAVX2(p *uint64, n int, w, ws *uint32, last *[2]uint32, c *consts)
TEXT ·backwardLastAVX2(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ w+16(FP), R8
	MOVQ ws+24(FP), R9
	MOVQ last+32(FP), R10
	MOVQ c+40(FP), AX
	VPBROADCASTQ 0(AX), Y13
	VPBROADCASTQ 8(AX), Y14
	VPBROADCASTD (R8), Y9
	VPBROADCASTD (R9), Y10
	VPBROADCASTD 0(R10), Y11
	VPBROADCASTD 4(R10), Y12
	SHLQ $2, CX
	LEAQ (SI)(CX*1), R11

blast2:
	VMOVDQU (SI), Y0
	VMOVDQU (SI)(CX*1), Y1
	VPADDQ  Y1, Y0, Y2
	VPADDQ  Y14, Y0, Y0
	VPSUBQ  Y1, Y0, Y0
	CSUB2(Y2, Y14, Y3)
	CSUB2(Y0, Y14, Y3)
	SHOUP(Y2, Y9, Y10, Y13, Y3)
	SHOUP(Y0, Y11, Y12, Y13, Y3)
	CSUB2(Y2, Y13, Y3)
	CSUB2(Y0, Y13, Y3)
	VMOVDQU Y2, (SI)
	VMOVDQU Y0, (SI)(CX*1)
	ADDQ    $32, SI
	CMPQ    SI, R11
	JLT     blast2
	VZEROUPPER
	RET

// func subMulAVX512(out, x, y *uint64, n int, w *[2]uint32, c *consts)
TEXT ·subMulAVX512(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ w+32(FP), R8
	MOVQ c+40(FP), AX
	VPBROADCASTQ 0(AX), Z28
	VPBROADCASTQ 8(AX), Z29
	VPBROADCASTD 0(R8), Z26
	VPBROADCASTD 4(R8), Z27
	SHLQ $3, CX
	XORQ BX, BX

submulAVX512:
	VMOVDQU64 (SI)(BX*1), Z0
	VPADDQ  Z29, Z0, Z0
	VMOVDQU64 (DX)(BX*1), Z2
	VPSUBQ  Z2, Z0, Z0
	CSUB(Z0, Z29, Z1)
	SHOUP(Z0, Z26, Z27, Z28, Z1)
	CSUB(Z0, Z28, Z1)
	VMOVDQU64 Z0, (DI)(BX*1)
	ADDQ    $64, BX
	CMPQ    BX, CX
	JLT     submulAVX512
	VZEROUPPER
	RET

// func subMulAVX2(out, x, y *uint64, n int, w *[2]uint32, c *consts)
TEXT ·subMulAVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ w+32(FP), R8
	MOVQ c+40(FP), AX
	VPBROADCASTQ 0(AX), Y13
	VPBROADCASTQ 8(AX), Y14
	VPBROADCASTD 0(R8), Y11
	VPBROADCASTD 4(R8), Y12
	SHLQ $3, CX
	XORQ BX, BX

submulAVX2:
	VMOVDQU (SI)(BX*1), Y0
	VPADDQ  Y14, Y0, Y0
	VMOVDQU (DX)(BX*1), Y2
	VPSUBQ  Y2, Y0, Y0
	CSUB2(Y0, Y14, Y1)
	SHOUP(Y0, Y11, Y12, Y13, Y1)
	CSUB2(Y0, Y13, Y1)
	VMOVDQU Y0, (DI)(BX*1)
	ADDQ    $32, BX
	CMPQ    BX, CX
	JLT     submulAVX2
	VZEROUPPER
	RET

// The IFMA kernels are the AVX-512 ones for primes below 2^50, with
// 64-bit twiddles and Shoup's quotients w' = ⌊w·2^52/q⌋: the values
// multiplied stay below 2q < 2^51, the lanes' sums below 4q < 2^52, and
// VPMADD52HUQ's ⌊V·w'/2^52⌋ of 52-bit operands is Shoup's quotient
// estimate. V·w mod q, lazily, in [0, 2q) < 2^52, is then the low 52 bits
// of V·w plus those of the estimate times 2^52 - q. Z30 holds 2^52 - q,
// Z31 2^52 - 1.

// SHOUP52 sets V to V·W mod q in [0, 2q), clobbering T and Z19; Q is
// unused (the kernels share the AVX-512 ones' operands).
#define SHOUP52(V, W, WS, Q, T) \
	VPXORQ      T, T, T \
	VPMADD52HUQ WS, V, T \
	VPXORQ      Z19, Z19, Z19 \
	VPMADD52LUQ W, V, Z19 \
	VPMADD52LUQ Z30, T, Z19 \
	VPANDQ      Z31, Z19, V

// FWD52 and INV52 are FWD and INV with SHOUP52.
#define FWD52(X, Y, W, WS, D, Q, Q2) \
	SHOUP52(Y, W, WS, Q, D) \
	VPADDQ Q2, X, D \
	VPSUBQ Y, D, D \
	VPADDQ Y, X, X \
	CSUB(X, Q2, Y) \
	CSUB(D, Q2, Y)

#define INV52(X, Y, W, WS, S, Q, Q2) \
	VPADDQ Y, X, S \
	VPADDQ Q2, X, X \
	VPSUBQ Y, X, X \
	CSUB(S, Q2, Y) \
	CSUB(X, Q2, Y) \
	SHOUP52(X, W, WS, Q, Y)

// func reduceIFMA(out, in *uint64, n int, a uint64, c *consts)
TEXT ·reduceIFMA(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ in+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ c+32(FP), AX
	VPBROADCASTQ a+24(FP), Z9
	VPBROADCASTQ 16(AX), Z27
	VPBROADCASTQ 24(AX), Z30
	VPBROADCASTQ 32(AX), Z31
	SHLQ $3, CX
	XORQ BX, BX

reduce52:
	VMOVDQU64   (SI)(BX*1), Z0
	VPADDQ      Z9, Z0, Z0
	VPXORQ      Z1, Z1, Z1
	VPMADD52HUQ Z27, Z0, Z1
	VPMADD52LUQ Z30, Z1, Z0
	VPANDQ      Z31, Z0, Z0
	VMOVDQU64   Z0, (DI)(BX*1)
	ADDQ        $64, BX
	CMPQ        BX, CX
	JLT         reduce52
	VZEROUPPER
	RET

// func forwardStageIFMA(p *uint64, n, t int, w, ws *uint64, c *consts)
TEXT ·forwardStageIFMA(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ t+16(FP), DX
	MOVQ w+24(FP), R8
	MOVQ ws+32(FP), R9
	MOVQ c+40(FP), AX
	VPBROADCASTQ 0(AX), Z28
	VPBROADCASTQ 8(AX), Z29
	VPBROADCASTQ 24(AX), Z30
	VPBROADCASTQ 32(AX), Z31
	SHLQ $3, DX
	LEAQ (DI)(CX*8), R10

fgroup52:
	VPBROADCASTQ (R8), Z26
	VPBROADCASTQ (R9), Z27
	ADDQ         $8, R8
	ADDQ         $8, R9
	MOVQ         DI, SI
	LEAQ         (DI)(DX*1), R11

fbutterfly52:
	VMOVDQU64 (SI), Z0
	VMOVDQU64 (SI)(DX*1), Z1
	FWD52(Z0, Z1, Z26, Z27, Z2, Z28, Z29)
	VMOVDQU64 Z0, (SI)
	VMOVDQU64 Z2, (SI)(DX*1)
	ADDQ      $64, SI
	CMPQ      SI, R11
	JLT       fbutterfly52
	LEAQ      (DI)(DX*2), DI
	CMPQ      DI, R10
	JLT       fgroup52
	VZEROUPPER
	RET

// func forwardLastIFMA(p *uint64, n int, f4, f2, w, ws *uint64, c *consts)
TEXT ·forwardLastIFMA(SB), NOSPLIT, $0-56
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ f4+16(FP), R8
	MOVQ f2+24(FP), R9
	MOVQ w+32(FP), R10
	MOVQ ws+40(FP), R11
	MOVQ c+48(FP), AX
	VPBROADCASTQ 0(AX), Z28
	VPBROADCASTQ 8(AX), Z29
	VPBROADCASTQ 24(AX), Z30
	VPBROADCASTQ 32(AX), Z31
	VMOVDQU64    P4X, Z20
	VMOVDQU64    P4Y, Z21
	VMOVDQU64    P2X, Z22
	VMOVDQU64    P2Y, Z23
	VMOVDQU64    P1X, Z24
	VMOVDQU64    P1Y, Z25
	VMOVDQU64    OUTX, Z26
	VMOVDQU64    OUTY, Z27
	LEAQ         (SI)(CX*8), R12
	SHLQ         $2, CX        // the quotients follow n/2 roots

flast52:
	VMOVDQU64 (SI), Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQA64 Z20, Z2
	VPERMI2Q  Z1, Z0, Z2
	VMOVDQA64 Z21, Z3
	VPERMI2Q  Z1, Z0, Z3
	VMOVDQU64 (R8), Z4
	VMOVDQU64 (R8)(CX*1), Z5
	FWD52(Z2, Z3, Z4, Z5, Z6, Z28, Z29)
	VMOVDQA64 Z22, Z0
	VPERMI2Q  Z6, Z2, Z0
	VMOVDQA64 Z23, Z1
	VPERMI2Q  Z6, Z2, Z1
	VMOVDQU64 (R9), Z4
	VMOVDQU64 (R9)(CX*1), Z5
	FWD52(Z0, Z1, Z4, Z5, Z6, Z28, Z29)
	VMOVDQA64 Z24, Z2
	VPERMI2Q  Z6, Z0, Z2
	VMOVDQA64 Z25, Z3
	VPERMI2Q  Z6, Z0, Z3
	VMOVDQU64 (R10), Z4
	VMOVDQU64 (R11), Z5
	FWD52(Z2, Z3, Z4, Z5, Z6, Z28, Z29)
	CSUB(Z2, Z28, Z7)
	CSUB(Z6, Z28, Z7)
	VMOVDQA64 Z26, Z0
	VPERMI2Q  Z6, Z2, Z0
	VMOVDQA64 Z27, Z1
	VPERMI2Q  Z6, Z2, Z1
	VMOVDQU64 Z0, (SI)
	VMOVDQU64 Z1, 64(SI)
	ADDQ      $128, SI
	ADDQ      $64, R8
	ADDQ      $64, R9
	ADDQ      $64, R10
	ADDQ      $64, R11
	CMPQ      SI, R12
	JLT       flast52
	VZEROUPPER
	RET

// func backwardFirstIFMA(out, in *uint64, n int, w, ws, b2, b4 *uint64, c *consts)
TEXT ·backwardFirstIFMA(SB), NOSPLIT, $0-64
	MOVQ out+0(FP), DI
	MOVQ in+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ w+24(FP), R10
	MOVQ ws+32(FP), R11
	MOVQ b2+40(FP), R9
	MOVQ b4+48(FP), R8
	MOVQ c+56(FP), AX
	VPBROADCASTQ 0(AX), Z28
	VPBROADCASTQ 8(AX), Z29
	VPBROADCASTQ 24(AX), Z30
	VPBROADCASTQ 32(AX), Z31
	VMOVDQU64    EVENS, Z20
	VMOVDQU64    ODDS, Z21
	VMOVDQU64    P1X, Z22
	VMOVDQU64    P1Y, Z23
	VMOVDQU64    P2X, Z24
	VMOVDQU64    P2Y, Z25
	VMOVDQU64    P4X, Z26
	VMOVDQU64    P4Y, Z27
	LEAQ         (SI)(CX*8), R12
	SHLQ         $2, CX

bfirst52:
	VMOVDQU64 (SI), Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQA64 Z20, Z2
	VPERMI2Q  Z1, Z0, Z2
	VMOVDQA64 Z21, Z3
	VPERMI2Q  Z1, Z0, Z3
	VMOVDQU64 (R10), Z4
	VMOVDQU64 (R11), Z5
	INV52(Z2, Z3, Z4, Z5, Z6, Z28, Z29)
	VMOVDQA64 Z22, Z0
	VPERMI2Q  Z2, Z6, Z0
	VMOVDQA64 Z23, Z1
	VPERMI2Q  Z2, Z6, Z1
	VMOVDQU64 (R9), Z4
	VMOVDQU64 (R9)(CX*1), Z5
	INV52(Z0, Z1, Z4, Z5, Z6, Z28, Z29)
	VMOVDQA64 Z24, Z2
	VPERMI2Q  Z0, Z6, Z2
	VMOVDQA64 Z25, Z3
	VPERMI2Q  Z0, Z6, Z3
	VMOVDQU64 (R8), Z4
	VMOVDQU64 (R8)(CX*1), Z5
	INV52(Z2, Z3, Z4, Z5, Z6, Z28, Z29)
	VMOVDQA64 Z26, Z0
	VPERMI2Q  Z2, Z6, Z0
	VMOVDQA64 Z27, Z1
	VPERMI2Q  Z2, Z6, Z1
	VMOVDQU64 Z0, (DI)
	VMOVDQU64 Z1, 64(DI)
	ADDQ      $128, SI
	ADDQ      $128, DI
	ADDQ      $64, R8
	ADDQ      $64, R9
	ADDQ      $64, R10
	ADDQ      $64, R11
	CMPQ      SI, R12
	JLT       bfirst52
	VZEROUPPER
	RET

// func backwardStageIFMA(p *uint64, n, t int, w, ws *uint64, c *consts)
TEXT ·backwardStageIFMA(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ t+16(FP), DX
	MOVQ w+24(FP), R8
	MOVQ ws+32(FP), R9
	MOVQ c+40(FP), AX
	VPBROADCASTQ 0(AX), Z28
	VPBROADCASTQ 8(AX), Z29
	VPBROADCASTQ 24(AX), Z30
	VPBROADCASTQ 32(AX), Z31
	SHLQ $3, DX
	LEAQ (DI)(CX*8), R10

bgroup52:
	VPBROADCASTQ (R8), Z26
	VPBROADCASTQ (R9), Z27
	ADDQ         $8, R8
	ADDQ         $8, R9
	MOVQ         DI, SI
	LEAQ         (DI)(DX*1), R11

bbutterfly52:
	VMOVDQU64 (SI), Z0
	VMOVDQU64 (SI)(DX*1), Z1
	INV52(Z0, Z1, Z26, Z27, Z2, Z28, Z29)
	VMOVDQU64 Z2, (SI)
	VMOVDQU64 Z0, (SI)(DX*1)
	ADDQ      $64, SI
	CMPQ      SI, R11
	JLT       bbutterfly52
	LEAQ      (DI)(DX*2), DI
	CMPQ      DI, R10
	JLT       bgroup52
	VZEROUPPER
	RET

// func backwardLastIFMA(p *uint64, n int, w, ws *uint64, last *[2]uint64, c *consts)
TEXT ·backwardLastIFMA(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ w+16(FP), R8
	MOVQ ws+24(FP), R9
	MOVQ last+32(FP), R10
	MOVQ c+40(FP), AX
	VPBROADCASTQ 0(AX), Z28
	VPBROADCASTQ 8(AX), Z29
	VPBROADCASTQ 24(AX), Z30
	VPBROADCASTQ 32(AX), Z31
	VPBROADCASTQ (R8), Z24
	VPBROADCASTQ (R9), Z25
	VPBROADCASTQ 0(R10), Z26
	VPBROADCASTQ 8(R10), Z27
	SHLQ $2, CX                // n/2 coefficients, in bytes
	LEAQ (SI)(CX*1), R11

blast52:
	VMOVDQU64 (SI), Z0
	VMOVDQU64 (SI)(CX*1), Z1
	VPADDQ    Z1, Z0, Z2
	VPADDQ    Z29, Z0, Z0
	VPSUBQ    Z1, Z0, Z0
	CSUB(Z2, Z29, Z3)
	CSUB(Z0, Z29, Z3)
	SHOUP52(Z2, Z24, Z25, Z28, Z3)
	SHOUP52(Z0, Z26, Z27, Z28, Z3)
	CSUB(Z2, Z28, Z3)
	CSUB(Z0, Z28, Z3)
	VMOVDQU64 Z2, (SI)
	VMOVDQU64 Z0, (SI)(CX*1)
	ADDQ      $64, SI
	CMPQ      SI, R11
	JLT       blast52
	VZEROUPPER
	RET

// func subMulIFMA(out, x, y *uint64, n int, w *[2]uint64, c *consts)
TEXT ·subMulIFMA(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ w+32(FP), R8
	MOVQ c+40(FP), AX
	VPBROADCASTQ 0(AX), Z28
	VPBROADCASTQ 8(AX), Z29
	VPBROADCASTQ 24(AX), Z30
	VPBROADCASTQ 32(AX), Z31
	VPBROADCASTQ 0(R8), Z26
	VPBROADCASTQ 8(R8), Z27
	SHLQ $3, CX
	XORQ BX, BX

submul52:
	VMOVDQU64 (SI)(BX*1), Z0
	VPADDQ  Z29, Z0, Z0
	VMOVDQU64 (DX)(BX*1), Z2
	VPSUBQ  Z2, Z0, Z0
	CSUB(Z0, Z29, Z1)
	SHOUP52(Z0, Z26, Z27, Z28, Z1)
	CSUB(Z0, Z28, Z1)
	VMOVDQU64 Z0, (DI)(BX*1)
	ADDQ    $64, BX
	CMPQ    BX, CX
	JLT     submul52
	VZEROUPPER
	RET


// func mulAddIFMA(out, a, b *uint64, n int, off uint64, w *[2]uint64, c *consts)
TEXT ·mulAddIFMA(SB), NOSPLIT, $0-56
	MOVQ out+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ w+40(FP), R8
	MOVQ c+48(FP), AX
	VPBROADCASTQ off+32(FP), Z9
	VPBROADCASTQ 8(AX), Z29
	VPBROADCASTQ 16(AX), Z27
	VPBROADCASTQ 24(AX), Z30
	VPBROADCASTQ 32(AX), Z31
	VPBROADCASTQ 0(R8), Z25
	VPBROADCASTQ 8(R8), Z26
	SHLQ $3, CX
	XORQ BX, BX

muladd52:
	VMOVDQU64   (SI)(BX*1), Z0
	VPADDQ      Z9, Z0, Z0
	VPXORQ      Z1, Z1, Z1
	VPMADD52HUQ Z27, Z0, Z1
	VPMADD52LUQ Z30, Z1, Z0
	VPANDQ      Z31, Z0, Z0
	VMOVDQU64   (DX)(BX*1), Z2
	SHOUP52(Z2, Z25, Z26, Z28, Z3)
	VPADDQ      Z2, Z0, Z0
	CSUB(Z0, Z29, Z1)
	VMOVDQU64   Z0, (DI)(BX*1)
	ADDQ        $64, BX
	CMPQ        BX, CX
	JLT         muladd52
	VZEROUPPER
	RET
