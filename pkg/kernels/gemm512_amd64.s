//go:build !purego

#include "textflag.h"

// The 6×32 AVX-512 micro-kernel: two adjacent 16-row weight panels at
// once, so each broadcast of an activation feeds two 16-wide FMAs and
// twelve independent chains cover the FMA latency, as the 6×16 AVX2
// kernel does with half the width. Z4…Z15 hold the tile (row i in Z(4+2i)
// for columns 0–15, from the panel at b, and Z(5+2i) for columns 16–31,
// from the panel at b + 16·kc), Z0/Z1 the 32 b values of one k step,
// Z2/Z3 alternate as the broadcast a value.
//
//	func gemm6x32AVX512(a, b *float32, kc int, c *float32, ldc int, acc bool)
//
// is two gemm6x16AVX2 calls, on (b, c) and (b + 16·kc, c + 16).

#define A_PTR SI
#define B_PTR DI
#define B2_PTR R8
#define KC CX
#define C_PTR DX
#define LDC BX

#define STEP512(ao, bo) \
	VMOVUPS      bo(B_PTR), Z0;    \
	VMOVUPS      bo(B2_PTR), Z1;   \
	VBROADCASTSS ao(A_PTR), Z2;    \
	VFMADD231PS  Z0, Z2, Z4;       \
	VFMADD231PS  Z1, Z2, Z5;       \
	VBROADCASTSS ao+4(A_PTR), Z3;  \
	VFMADD231PS  Z0, Z3, Z6;       \
	VFMADD231PS  Z1, Z3, Z7;       \
	VBROADCASTSS ao+8(A_PTR), Z2;  \
	VFMADD231PS  Z0, Z2, Z8;       \
	VFMADD231PS  Z1, Z2, Z9;       \
	VBROADCASTSS ao+12(A_PTR), Z3; \
	VFMADD231PS  Z0, Z3, Z10;      \
	VFMADD231PS  Z1, Z3, Z11;      \
	VBROADCASTSS ao+16(A_PTR), Z2; \
	VFMADD231PS  Z0, Z2, Z12;      \
	VFMADD231PS  Z1, Z2, Z13;      \
	VBROADCASTSS ao+20(A_PTR), Z3; \
	VFMADD231PS  Z0, Z3, Z14;      \
	VFMADD231PS  Z1, Z3, Z15

#define STORE_ROW512(lo, hi) \
	VMOVUPS lo, (C_PTR);   \
	VMOVUPS hi, 64(C_PTR); \
	ADDQ    LDC, C_PTR

#define ADD_STORE_ROW512(lo, hi) \
	VADDPS  (C_PTR), lo, lo;   \
	VADDPS  64(C_PTR), hi, hi; \
	VMOVUPS lo, (C_PTR);       \
	VMOVUPS hi, 64(C_PTR);     \
	ADDQ    LDC, C_PTR

TEXT ·gemm6x32AVX512(SB), NOSPLIT, $0-41
	MOVQ a+0(FP), A_PTR
	MOVQ b+8(FP), B_PTR
	MOVQ kc+16(FP), KC
	MOVQ c+24(FP), C_PTR
	MOVQ ldc+32(FP), LDC
	SHLQ $2, LDC
	MOVQ KC, B2_PTR
	SHLQ $6, B2_PTR
	ADDQ B_PTR, B2_PTR

	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15

	MOVQ KC, AX
	SHRQ $2, AX
	JZ   rest

loop4:
	STEP512(0, 0)
	STEP512(24, 64)
	STEP512(48, 128)
	STEP512(72, 192)
	ADDQ $96, A_PTR
	ADDQ $256, B_PTR
	ADDQ $256, B2_PTR
	DECQ AX
	JNZ  loop4

rest:
	ANDQ $3, KC
	JZ   store

loop1:
	STEP512(0, 0)
	ADDQ $24, A_PTR
	ADDQ $64, B_PTR
	ADDQ $64, B2_PTR
	DECQ KC
	JNZ  loop1

store:
	CMPB acc+40(FP), $0
	JNE  accumulate
	STORE_ROW512(Z4, Z5)
	STORE_ROW512(Z6, Z7)
	STORE_ROW512(Z8, Z9)
	STORE_ROW512(Z10, Z11)
	STORE_ROW512(Z12, Z13)
	STORE_ROW512(Z14, Z15)
	VZEROUPPER
	RET

accumulate:
	ADD_STORE_ROW512(Z4, Z5)
	ADD_STORE_ROW512(Z6, Z7)
	ADD_STORE_ROW512(Z8, Z9)
	ADD_STORE_ROW512(Z10, Z11)
	ADD_STORE_ROW512(Z12, Z13)
	ADD_STORE_ROW512(Z14, Z15)
	VZEROUPPER
	RET
