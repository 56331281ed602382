//go:build !purego

#include "textflag.h"

// Int8-activation matrix-vector kernels for 4-bit codes:
//
//	func qgemvQuad4I8AVX2(dst *float32, xq []int8, dx, xsum []float32,
//		w *byte, wstride int, s *float32, ss int, z *byte, zs, group int)
//
// compute four rows of the product as qgemvQuad4I8Generic does. A step
// takes 64 codes (32 bytes) of each row, splits them into low and high
// nibbles (the even and odd codes, which is the order quantizeActs laid
// the activations out in), multiplies them by the int8 activations with
// VPMADDUBSW (codes ≤ 15 and |xq| ≤ 127 keep every 16-bit sum below
// 2·2·15·127 = 7620, so nothing saturates), sums pairs into 32-bit lanes
// with VPMADDWD, and scales lanes 0–3 by the first block's dx and lanes
// 4–7 by the second's. The G32 variant scales each step by the two groups'
// weight scales at once; the other accumulates a group and scales it at
// its end.
//
// Registers: Y0–Y3 row totals, Y4–Y7 group accumulators (G32: Y4 the
// scale permutation), Y8–Y10 and Y14–Y15 scratch, Y11 the step's dx, Y12
// sixteen-bit ones, Y13 the nibble mask. R8–R11 row pointers, DX byte
// offset into the rows, R13 the position in xq, SI in dx, R12 codes left,
// AX steps left in the group, BX the group size, R14 the scale of row 0,
// R15 the scale stride in bytes, DI three times it.

DATA i8nib<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL i8nib<>(SB), RODATA|NOPTR, $8

DATA i8ones<>+0(SB)/4, $0x00010001
GLOBL i8ones<>(SB), RODATA|NOPTR, $4

DATA i8perm<>+0(SB)/8, $0
DATA i8perm<>+8(SB)/8, $0
DATA i8perm<>+16(SB)/8, $0x0000000100000001
DATA i8perm<>+24(SB)/8, $0x0000000100000001
GLOBL i8perm<>(SB), RODATA|NOPTR, $32

#define I8PROLOGUE \
	MOVQ         w+80(FP), R8;          \
	MOVQ         wstride+88(FP), CX;    \
	LEAQ         (R8)(CX*1), R9;        \
	LEAQ         (R9)(CX*1), R10;       \
	LEAQ         (R10)(CX*1), R11;      \
	MOVQ         xq_base+8(FP), R13;    \
	MOVQ         xq_len+16(FP), R12;    \
	MOVQ         dx_base+32(FP), SI;    \
	MOVQ         s+96(FP), R14;         \
	MOVQ         ss+104(FP), R15;       \
	SHLQ         $2, R15;               \
	LEAQ         (R15)(R15*2), DI;      \
	MOVQ         group+128(FP), BX;     \
	XORQ         DX, DX;                \
	VPBROADCASTQ i8nib<>(SB), Y13;      \
	VPBROADCASTD i8ones<>(SB), Y12;     \
	VXORPS       Y0, Y0, Y0;            \
	VXORPS       Y1, Y1, Y1;            \
	VXORPS       Y2, Y2, Y2;            \
	VXORPS       Y3, Y3, Y3

// I8DOT leaves in Y8 the eight 32-bit lane sums of one row's 64 codes
// times the step's activations, converted to float32.
#define I8DOT(row) \
	VMOVDQU    (row)(DX*1), Y8;  \
	VPSRLW     $4, Y8, Y9;       \
	VPAND      Y13, Y8, Y8;      \
	VPAND      Y13, Y9, Y9;      \
	VPMADDUBSW (R13), Y8, Y8;    \
	VPMADDUBSW 32(R13), Y9, Y9;  \
	VPADDW     Y9, Y8, Y8;       \
	VPMADDWD   Y12, Y8, Y8;      \
	VCVTDQ2PS  Y8, Y8

#define I8ROW(row, acc) \
	I8DOT(row);              \
	VFMADD231PS Y11, Y8, acc

// I8ROW32 adds one row's step, scaled by dx and by the scales of its two
// groups (sp: their address), to its total.
#define I8ROW32(row, sp, tot) \
	I8DOT(row);               \
	VMULPS      Y11, Y8, Y8;  \
	VMOVQ       sp, X14;      \
	VPERMPS     Y14, Y4, Y14; \
	VFMADD231PS Y14, Y8, tot

// I8CORR subtracts s·z·xsum for eight groups of one row: sp and zp point
// at the row's scales and zero points, DI indexes the group, Y12 holds
// xsum.
#define I8CORR(sp, zp, tot) \
	VPMOVZXBD    (zp)(DI*1), Y13;      \
	VCVTDQ2PS    Y13, Y13;             \
	VMULPS       (sp)(DI*4), Y13, Y13; \
	VFNMADD231PS Y12, Y13, tot

// I8EPILOGUE applies the zero points of the first len(xsum) groups (a
// multiple of 8), sums each total's lanes and stores the four results.
#define I8EPILOGUE \
	MOVQ      xsum_len+64(FP), R12; \
	SHRQ      $3, R12;              \
	JZ        reduce;               \
	MOVQ      xsum_base+56(FP), SI; \
	MOVQ      s+96(FP), R8;         \
	LEAQ      (R8)(R15*1), R9;      \
	LEAQ      (R9)(R15*1), R10;     \
	LEAQ      (R10)(R15*1), R11;    \
	MOVQ      z+112(FP), DX;        \
	MOVQ      zs+120(FP), CX;       \
	LEAQ      (DX)(CX*1), AX;       \
	LEAQ      (AX)(CX*1), BX;       \
	LEAQ      (BX)(CX*1), R13;      \
	XORQ      DI, DI;               \
corrloop:                           \
	VMOVUPS   (SI)(DI*4), Y12;      \
	I8CORR(R8, DX, Y0);             \
	I8CORR(R9, AX, Y1);             \
	I8CORR(R10, BX, Y2);            \
	I8CORR(R11, R13, Y3);           \
	ADDQ      $8, DI;               \
	DECQ      R12;                  \
	JNZ       corrloop;             \
reduce:                             \
	VHADDPS      Y1, Y0, Y0;        \
	VHADDPS      Y3, Y2, Y2;        \
	VHADDPS      Y2, Y0, Y0;        \
	VEXTRACTF128 $1, Y0, X1;        \
	VADDPS       X1, X0, X0;        \
	MOVQ         dst+0(FP), DI;     \
	VMOVUPS      X0, (DI);          \
	VZEROUPPER;                     \
	RET

// func qgemvQuad4I8AVX2(dst *float32, xq []int8, dx, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int)
TEXT ·qgemvQuad4I8AVX2(SB), NOSPLIT, $0-136
	I8PROLOGUE

group:
	TESTQ   R12, R12
	JZ      correct
	MOVQ    BX, AX
	CMPQ    R12, AX
	CMOVQLT R12, AX
	SUBQ    AX, R12
	SHRQ    $6, AX
	VXORPS  Y4, Y4, Y4
	VXORPS  Y5, Y5, Y5
	VXORPS  Y6, Y6, Y6
	VXORPS  Y7, Y7, Y7

step:
	VMOVUPS (SI), Y11
	I8ROW(R8, Y4)
	I8ROW(R9, Y5)
	I8ROW(R10, Y6)
	I8ROW(R11, Y7)
	ADDQ    $64, R13
	ADDQ    $32, SI
	ADDQ    $32, DX
	DECQ    AX
	JNZ     step

	VBROADCASTSS (R14), Y14
	VFMADD231PS  Y14, Y4, Y0
	VBROADCASTSS (R14)(R15*1), Y15
	VFMADD231PS  Y15, Y5, Y1
	VBROADCASTSS (R14)(R15*2), Y14
	VFMADD231PS  Y14, Y6, Y2
	VBROADCASTSS (R14)(DI*1), Y15
	VFMADD231PS  Y15, Y7, Y3
	ADDQ         $4, R14
	JMP          group

correct:
	I8EPILOGUE

// func qgemvQuad4I8G32AVX2(dst *float32, xq []int8, dx, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int)
TEXT ·qgemvQuad4I8G32AVX2(SB), NOSPLIT, $0-136
	I8PROLOGUE
	VMOVDQU i8perm<>(SB), Y4
	SHRQ    $6, R12

step:
	VMOVUPS (SI), Y11
	I8ROW32(R8, (R14), Y0)
	I8ROW32(R9, (R14)(R15*1), Y1)
	I8ROW32(R10, (R14)(R15*2), Y2)
	I8ROW32(R11, (R14)(DI*1), Y3)
	ADDQ    $64, R13
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $8, R14
	DECQ    R12
	JNZ     step

	I8EPILOGUE
