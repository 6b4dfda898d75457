#include "textflag.h"

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

// func clenshaw16(y, c, t []float64)
// Y0–Y3: 2t of the four chains; Y4–Y7: a (b_{k+1}); Y8–Y11: b (b_{k+2});
// Y12: c_k; Y13: scratch; Y15: c_0.
TEXT ·clenshaw16(SB), NOSPLIT, $0-72
	MOVQ y_base+0(FP), DI
	MOVQ c_base+24(FP), SI
	MOVQ c_len+32(FP), CX
	MOVQ t_base+48(FP), DX
	MOVQ t_len+56(FP), BX
	SHRQ $4, BX
	JZ   done
	VBROADCASTSD (SI), Y15
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
	VADDPD  Y15, Y13, Y13
	VMOVUPD Y13, 0(DI)
	VMULPD  32(DX), Y5, Y13
	VSUBPD  Y9, Y13, Y13
	VADDPD  Y15, Y13, Y13
	VMOVUPD Y13, 32(DI)
	VMULPD  64(DX), Y6, Y13
	VSUBPD  Y10, Y13, Y13
	VADDPD  Y15, Y13, Y13
	VMOVUPD Y13, 64(DI)
	VMULPD  96(DX), Y7, Y13
	VSUBPD  Y11, Y13, Y13
	VADDPD  Y15, Y13, Y13
	VMOVUPD Y13, 96(DI)
	ADDQ    $128, DX
	ADDQ    $128, DI
	DECQ    BX
	JNZ     block

done:
	VZEROUPPER
	RET
