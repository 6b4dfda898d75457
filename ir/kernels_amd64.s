#include "textflag.h"

// One Clenshaw step on the four chains: the new a goes to the register
// that held b, a's register then holds the new b.
#define STEP(A0, A1, A2, A3, B0, B1, B2, B3) \
	VMULPD A0, Y0, Y13 \
	VSUBPD B0, Y13, Y13 \
	VADDPD Y12, Y13, B0 \
	VMULPD A1, Y1, Y13 \
	VSUBPD B1, Y13, Y13 \
	VADDPD Y12, Y13, B1 \
	VMULPD A2, Y2, Y13 \
	VSUBPD B2, Y13, Y13 \
	VADDPD Y12, Y13, B2 \
	VMULPD A3, Y3, Y13 \
	VSUBPD B3, Y13, Y13 \
	VADDPD Y12, Y13, B3

// One product term of a row: acc += vals[k] · x[4·cols[k] : +4], or a
// return of false for a column outside the matrix.
#define TERM(K, ACC, TMP) \
	MOVQ         (R9)(K*8), R11 \
	CMPQ         R11, ncols+120(FP) \
	JAE          bad \
	SHLQ         $5, R11 \
	VBROADCASTSD (R10)(K*8), TMP \
	VMULPD       (SI)(R11*1), TMP, TMP \
	VADDPD       TMP, ACC, ACC

// The rest of a row, from K to END.
#define TAIL(K, END, ACC, TMP, LOOP, DONE) \
	MOVQ END, R12 \
LOOP: \
	CMPQ K, R12 \
	JGE  DONE \
	TERM(K, ACC, TMP) \
	INCQ K \
	JMP  LOOP \
DONE:

// One product term of a row for eight samples: acc += vals[k] · x[8·cols[k] : +8].
#define TERM8(K, LO, HI) \
	MOVQ         (R9)(K*8), R11 \
	CMPQ         R11, ncols+120(FP) \
	JAE          bad8 \
	SHLQ         $6, R11 \
	VBROADCASTSD (R10)(K*8), Y8 \
	VMULPD       (SI)(R11*1), Y8, Y9 \
	VADDPD       Y9, LO, LO \
	VMULPD       32(SI)(R11*1), Y8, Y10 \
	VADDPD       Y10, HI, HI

#define TAIL8(K, END, LO, HI, LOOP, DONE) \
	MOVQ END, R12 \
LOOP: \
	CMPQ K, R12 \
	JGE  DONE \
	TERM8(K, LO, HI) \
	INCQ K \
	JMP  LOOP \
DONE:

// func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv() uint32
TEXT ·xgetbv(SB), NOSPLIT, $0-4
	MOVL $0, CX
	XGETBV
	MOVL AX, ret+0(FP)
	RET

// func clenshaw16(y, c, t []float64)
// Y0–Y3: 2t of the four chains; Y4–Y7: a (b_{k+1}); Y8–Y11: b (b_{k+2});
// Y12: c_k; Y13: scratch; Y14: c_0.
TEXT ·clenshaw16(SB), NOSPLIT, $0-72
	MOVQ y_base+0(FP), DI
	MOVQ c_base+24(FP), SI
	MOVQ c_len+32(FP), CX
	MOVQ t_base+48(FP), DX
	MOVQ t_len+56(FP), BX
	SHRQ $4, BX
	JZ   done
	VBROADCASTSD (SI), Y14
	LEAQ -8(SI)(CX*8), R11 // &c[len(c)-1]
	DECQ CX                // steps

block:
	VMOVUPD 0(DX), Y0
	VADDPD  Y0, Y0, Y0
	VMOVUPD 32(DX), Y1
	VADDPD  Y1, Y1, Y1
	VMOVUPD 64(DX), Y2
	VADDPD  Y2, Y2, Y2
	VMOVUPD 96(DX), Y3
	VADDPD  Y3, Y3, Y3
	VXORPD  Y4, Y4, Y4
	VXORPD  Y5, Y5, Y5
	VXORPD  Y6, Y6, Y6
	VXORPD  Y7, Y7, Y7
	VXORPD  Y8, Y8, Y8
	VXORPD  Y9, Y9, Y9
	VXORPD  Y10, Y10, Y10
	VXORPD  Y11, Y11, Y11
	MOVQ    R11, R10
	MOVQ    CX, R9
	TESTQ   $1, R9
	JZ      pairs

	// An odd number of steps: one, then a and b back in their registers.
	VBROADCASTSD (R10), Y12
	STEP(Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11)
	VMOVAPD Y4, Y13
	VMOVAPD Y8, Y4
	VMOVAPD Y13, Y8
	VMOVAPD Y5, Y13
	VMOVAPD Y9, Y5
	VMOVAPD Y13, Y9
	VMOVAPD Y6, Y13
	VMOVAPD Y10, Y6
	VMOVAPD Y13, Y10
	VMOVAPD Y7, Y13
	VMOVAPD Y11, Y7
	VMOVAPD Y13, Y11
	SUBQ    $8, R10
	DECQ    R9

pairs:
	TESTQ R9, R9
	JZ    last

step2:
	VBROADCASTSD (R10), Y12
	STEP(Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11)
	VBROADCASTSD -8(R10), Y12
	STEP(Y8, Y9, Y10, Y11, Y4, Y5, Y6, Y7)
	SUBQ $16, R10
	SUBQ $2, R9
	JNZ  step2

last:
	VMULPD  0(DX), Y4, Y13
	VSUBPD  Y8, Y13, Y13
	VADDPD  Y14, Y13, Y13
	VMOVUPD Y13, 0(DI)
	VMULPD  32(DX), Y5, Y13
	VSUBPD  Y9, Y13, Y13
	VADDPD  Y14, Y13, Y13
	VMOVUPD Y13, 32(DI)
	VMULPD  64(DX), Y6, Y13
	VSUBPD  Y10, Y13, Y13
	VADDPD  Y14, Y13, Y13
	VMOVUPD Y13, 64(DI)
	VMULPD  96(DX), Y7, Y13
	VSUBPD  Y11, Y13, Y13
	VADDPD  Y14, Y13, Y13
	VMOVUPD Y13, 96(DI)
	ADDQ    $128, DX
	ADDQ    $128, DI
	DECQ    BX
	JNZ     block

done:
	VZEROUPPER
	RET

// func product4x(y, x []float64, ptr, cols []int, vals []float64, ncols int) bool
// Four rows at a time, each row's terms in order: first as many as every
// one of the four has, interleaved, then the rest of each.
TEXT ·product4x(SB), NOSPLIT, $0-129
	MOVQ y_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ ptr_base+48(FP), R8
	MOVQ ptr_len+56(FP), R13
	DECQ R13
	SHRQ $2, R13
	MOVQ cols_base+72(FP), R9
	MOVQ vals_base+96(FP), R10
	TESTQ R13, R13
	JZ   singles

group:
	MOVQ   0(R8), AX
	MOVQ   8(R8), BX
	MOVQ   16(R8), CX
	MOVQ   24(R8), DX
	MOVQ   BX, R12
	SUBQ   AX, R12
	MOVQ   CX, R11
	SUBQ   BX, R11
	CMPQ   R11, R12
	CMOVQLT R11, R12
	MOVQ   DX, R11
	SUBQ   CX, R11
	CMPQ   R11, R12
	CMOVQLT R11, R12
	MOVQ   32(R8), R11
	SUBQ   DX, R11
	CMPQ   R11, R12
	CMOVQLT R11, R12
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	TESTQ  R12, R12
	JLE    tails

common:
	TERM(AX, Y0, Y4)
	TERM(BX, Y1, Y5)
	TERM(CX, Y2, Y6)
	TERM(DX, Y3, Y7)
	INCQ AX
	INCQ BX
	INCQ CX
	INCQ DX
	DECQ R12
	JNZ  common

tails:
	TAIL(AX, 8(R8), Y0, Y4, tail0, done0)
	TAIL(BX, 16(R8), Y1, Y5, tail1, done1)
	TAIL(CX, 24(R8), Y2, Y6, tail2, done2)
	TAIL(DX, 32(R8), Y3, Y7, tail3, done3)
	VMOVUPD Y0, 0(DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	ADDQ    $128, DI
	ADDQ    $32, R8
	DECQ    R13
	JNZ     group

singles:
	MOVQ ptr_len+56(FP), R13
	DECQ R13
	ANDQ $3, R13
	JZ   end

single:
	MOVQ   0(R8), AX
	VXORPD Y0, Y0, Y0
	TAIL(AX, 8(R8), Y0, Y4, tails0, dones0)
	VMOVUPD Y0, 0(DI)
	ADDQ    $32, DI
	ADDQ    $8, R8
	DECQ    R13
	JNZ     single

end:
	VZEROUPPER
	MOVB $1, ret+128(FP)
	RET

bad:
	VZEROUPPER
	MOVB $0, ret+128(FP)
	RET

// func product8x(y, x []float64, ptr, cols []int, vals []float64, ncols int) bool
// product4x for eight samples.
TEXT ·product8x(SB), NOSPLIT, $0-129
	MOVQ y_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ ptr_base+48(FP), R8
	MOVQ ptr_len+56(FP), R13
	DECQ R13
	SHRQ $2, R13
	MOVQ cols_base+72(FP), R9
	MOVQ vals_base+96(FP), R10
	TESTQ R13, R13
	JZ   singles8

group8:
	MOVQ   0(R8), AX
	MOVQ   8(R8), BX
	MOVQ   16(R8), CX
	MOVQ   24(R8), DX
	MOVQ   BX, R12
	SUBQ   AX, R12
	MOVQ   CX, R11
	SUBQ   BX, R11
	CMPQ   R11, R12
	CMOVQLT R11, R12
	MOVQ   DX, R11
	SUBQ   CX, R11
	CMPQ   R11, R12
	CMOVQLT R11, R12
	MOVQ   32(R8), R11
	SUBQ   DX, R11
	CMPQ   R11, R12
	CMOVQLT R11, R12
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	TESTQ  R12, R12
	JLE    tails8

common8:
	TERM8(AX, Y0, Y1)
	TERM8(BX, Y2, Y3)
	TERM8(CX, Y4, Y5)
	TERM8(DX, Y6, Y7)
	INCQ AX
	INCQ BX
	INCQ CX
	INCQ DX
	DECQ R12
	JNZ  common8

tails8:
	TAIL8(AX, 8(R8), Y0, Y1, tail80, done80)
	TAIL8(BX, 16(R8), Y2, Y3, tail81, done81)
	TAIL8(CX, 24(R8), Y4, Y5, tail82, done82)
	TAIL8(DX, 32(R8), Y6, Y7, tail83, done83)
	VMOVUPD Y0, 0(DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	VMOVUPD Y4, 128(DI)
	VMOVUPD Y5, 160(DI)
	VMOVUPD Y6, 192(DI)
	VMOVUPD Y7, 224(DI)
	ADDQ    $256, DI
	ADDQ    $32, R8
	DECQ    R13
	JNZ     group8

singles8:
	MOVQ ptr_len+56(FP), R13
	DECQ R13
	ANDQ $3, R13
	JZ   end8

single8:
	MOVQ   0(R8), AX
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	TAIL8(AX, 8(R8), Y0, Y1, tails80, dones80)
	VMOVUPD Y0, 0(DI)
	VMOVUPD Y1, 32(DI)
	ADDQ    $64, DI
	ADDQ    $8, R8
	DECQ    R13
	JNZ     single8

end8:
	VZEROUPPER
	MOVB $1, ret+128(FP)
	RET

bad8:
	VZEROUPPER
	MOVB $0, ret+128(FP)
	RET
