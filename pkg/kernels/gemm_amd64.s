//go:build !purego

#include "textflag.h"

// Register use of the 6×16 micro-kernel: Y4…Y15 hold the tile (row i in
// Y(4+2i) for columns 0–7 and Y(5+2i) for columns 8–15), Y0/Y1 the 16
// packed b values of one k step, Y2/Y3 alternate as the broadcast a value.
// Twelve independent FMA chains cover the FMA latency on two ports.

#define A_PTR SI
#define B_PTR DI
#define KC CX
#define C_PTR DX
#define LDC BX

// STEP performs one k step at byte offsets ao into a and bo into b.
#define STEP(ao, bo) \
	VMOVUPS      bo(B_PTR), Y0;       \
	VMOVUPS      bo+32(B_PTR), Y1;    \
	VBROADCASTSS ao(A_PTR), Y2;       \
	VFMADD231PS  Y0, Y2, Y4;          \
	VFMADD231PS  Y1, Y2, Y5;          \
	VBROADCASTSS ao+4(A_PTR), Y3;     \
	VFMADD231PS  Y0, Y3, Y6;          \
	VFMADD231PS  Y1, Y3, Y7;          \
	VBROADCASTSS ao+8(A_PTR), Y2;     \
	VFMADD231PS  Y0, Y2, Y8;          \
	VFMADD231PS  Y1, Y2, Y9;          \
	VBROADCASTSS ao+12(A_PTR), Y3;    \
	VFMADD231PS  Y0, Y3, Y10;         \
	VFMADD231PS  Y1, Y3, Y11;         \
	VBROADCASTSS ao+16(A_PTR), Y2;    \
	VFMADD231PS  Y0, Y2, Y12;         \
	VFMADD231PS  Y1, Y2, Y13;         \
	VBROADCASTSS ao+20(A_PTR), Y3;    \
	VFMADD231PS  Y0, Y3, Y14;         \
	VFMADD231PS  Y1, Y3, Y15

// STORE_ROW writes one tile row to c and moves to the next row.
#define STORE_ROW(lo, hi) \
	VMOVUPS lo, (C_PTR);   \
	VMOVUPS hi, 32(C_PTR); \
	ADDQ    LDC, C_PTR

// ADD_STORE_ROW adds one tile row to c and moves to the next row.
#define ADD_STORE_ROW(lo, hi) \
	VADDPS  (C_PTR), lo, lo;   \
	VADDPS  32(C_PTR), hi, hi; \
	VMOVUPS lo, (C_PTR);       \
	VMOVUPS hi, 32(C_PTR);     \
	ADDQ    LDC, C_PTR

// func gemm6x16AVX2(a, b *float32, kc int, c *float32, ldc int, acc bool)
TEXT ·gemm6x16AVX2(SB), NOSPLIT, $0-41
	MOVQ a+0(FP), A_PTR
	MOVQ b+8(FP), B_PTR
	MOVQ kc+16(FP), KC
	MOVQ c+24(FP), C_PTR
	MOVQ ldc+32(FP), LDC
	SHLQ $2, LDC

	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	// Four k steps per iteration, then the remainder one by one.
	MOVQ KC, AX
	SHRQ $2, AX
	JZ   rest

loop4:
	STEP(0, 0)
	STEP(24, 64)
	STEP(48, 128)
	STEP(72, 192)
	ADDQ $96, A_PTR
	ADDQ $256, B_PTR
	DECQ AX
	JNZ  loop4

rest:
	ANDQ $3, KC
	JZ   store

loop1:
	STEP(0, 0)
	ADDQ $24, A_PTR
	ADDQ $64, B_PTR
	DECQ KC
	JNZ  loop1

store:
	CMPB acc+40(FP), $0
	JNE  accumulate
	STORE_ROW(Y4, Y5)
	STORE_ROW(Y6, Y7)
	STORE_ROW(Y8, Y9)
	STORE_ROW(Y10, Y11)
	STORE_ROW(Y12, Y13)
	STORE_ROW(Y14, Y15)
	VZEROUPPER
	RET

accumulate:
	ADD_STORE_ROW(Y4, Y5)
	ADD_STORE_ROW(Y6, Y7)
	ADD_STORE_ROW(Y8, Y9)
	ADD_STORE_ROW(Y10, Y11)
	ADD_STORE_ROW(Y12, Y13)
	ADD_STORE_ROW(Y14, Y15)
	VZEROUPPER
	RET
