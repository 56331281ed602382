//go:build !purego

#include "textflag.h"

// Single-row kernels. Four rows read at once are four streams through
// memory, and on cold weights (the decode case: a model is far larger than
// the caches) they ran at 10.8 GB/s against 17.6 GB/s for the same codes
// read one row after another (AMD EPYC, 4096×11008 matrix, one thread), so
// the AVX-512 path takes one row per call and reads x from L1 for each:
//
//	func qgemvRow4AVX512(xp, xsum []float32, w *byte, s *float32, z *byte, group int) float32
//
// returns row 0 of qgemvQuadGeneric(qChunk4x32, 4, …) for one row. Each
// chunk of 32 codes is multiplied into a fresh product p (VMULPS, then
// VFMADD231PS for the odd codes) and added into a total scaled by its
// group's scale, so any group of whole chunks works and four totals keep
// four FMA chains in flight. The group scale is broadcast once per group.
//
// Registers: Z0–Z3 totals, Z4–Z7 products, Z8–Z13 scratch, Z14 the group
// scale, Z15 the nibble mask. R8 the row, DX the byte offset, R13 the
// position in xp, R12 codes left, AX chunks left in the group, BX the
// group size, R14 the scale.

// ROWCHUNK leaves in p the products of the 32 codes at byte offset o of
// the row with the activations at o*8 of R13.
#define ROWCHUNK(o, p, t) \
	VPMOVZXBD   o(R8)(DX*1), t;    \
	VPSRLD      $4, t, Z13;        \
	VPANDD      Z15, t, t;         \
	VCVTDQ2PS   t, t;              \
	VCVTDQ2PS   Z13, Z13;          \
	VMULPS      (o*8)(R13), t, p;  \
	VFMADD231PS (o*8+64)(R13), Z13, p

#define ROWPROLOGUE \
	MOVQ         w+48(FP), R8;      \
	MOVQ         xp_base+0(FP), R13; \
	MOVQ         xp_len+8(FP), R12; \
	MOVQ         s+56(FP), R14;     \
	MOVQ         group+72(FP), BX;  \
	XORQ         DX, DX;            \
	VPXORD       Z0, Z0, Z0;        \
	VPXORD       Z1, Z1, Z1;        \
	VPXORD       Z2, Z2, Z2;        \
	VPXORD       Z3, Z3, Z3;        \
	MOVL         $15, AX;           \
	VMOVD        AX, X15;           \
	VPBROADCASTD X15, Z15

// ROWEPILOGUE folds the totals, subtracts s·z·xsum for the first
// len(xsum) groups (a multiple of 8) and returns the sum of the lanes.
#define ROWEPILOGUE \
	VADDPS        Z1, Z0, Z0;          \
	VADDPS        Z3, Z2, Z2;          \
	VADDPS        Z2, Z0, Z0;          \
	VEXTRACTF64X4 $1, Z0, Y12;         \
	VADDPS        Y12, Y0, Y0;         \
	MOVQ          xsum_len+32(FP), R12; \
	SHRQ          $3, R12;             \
	JZ            reduce;              \
	MOVQ          xsum_base+24(FP), SI; \
	MOVQ          s+56(FP), R8;        \
	MOVQ          z+64(FP), R9;        \
	XORQ          DI, DI;              \
corrloop:                              \
	VMOVUPS       (SI)(DI*4), Y12;     \
	VPMOVZXBD     (R9)(DI*1), Y13;     \
	VCVTDQ2PS     Y13, Y13;            \
	VMULPS        (R8)(DI*4), Y13, Y13; \
	VFNMADD231PS  Y12, Y13, Y0;        \
	ADDQ          $8, DI;              \
	DECQ          R12;                 \
	JNZ           corrloop;            \
reduce:                                \
	VEXTRACTF128  $1, Y0, X1;          \
	VADDPS        X1, X0, X0;          \
	VHADDPS       X0, X0, X0;          \
	VHADDPS       X0, X0, X0;          \
	VMOVSS        X0, ret+80(FP);      \
	VZEROUPPER;                        \
	RET

// func qgemvRow4AVX512(xp, xsum []float32, w *byte, s *float32, z *byte, group int) float32
TEXT ·qgemvRow4AVX512(SB), NOSPLIT, $0-84
	ROWPROLOGUE
	CMPQ BX, $32
	JEQ  g32

group:
	TESTQ        R12, R12
	JZ           done
	MOVQ         BX, AX
	CMPQ         R12, AX
	CMOVQLT      R12, AX
	SUBQ         AX, R12
	SHRQ         $5, AX
	VBROADCASTSS (R14), Z14
	ADDQ         $4, R14

pair:
	CMPQ        AX, $2
	JLT         single
	ROWCHUNK(0, Z4, Z8)
	ROWCHUNK(16, Z5, Z9)
	VFMADD231PS Z14, Z4, Z0
	VFMADD231PS Z14, Z5, Z1
	ADDQ        $32, DX
	ADDQ        $256, R13
	SUBQ        $2, AX
	JMP         pair

single:
	TESTQ       AX, AX
	JZ          group
	ROWCHUNK(0, Z4, Z8)
	VFMADD231PS Z14, Z4, Z2
	ADDQ        $16, DX
	ADDQ        $128, R13
	JMP         group

	// Groups of one chunk: four groups a step, each with its own total.
g32:
	SHRQ $5, R12

quad32:
	CMPQ         R12, $4
	JLT          tail32
	ROWCHUNK(0, Z4, Z8)
	ROWCHUNK(16, Z5, Z9)
	ROWCHUNK(32, Z6, Z10)
	ROWCHUNK(48, Z7, Z11)
	VBROADCASTSS (R14), Z12
	VFMADD231PS  Z12, Z4, Z0
	VBROADCASTSS 4(R14), Z12
	VFMADD231PS  Z12, Z5, Z1
	VBROADCASTSS 8(R14), Z12
	VFMADD231PS  Z12, Z6, Z2
	VBROADCASTSS 12(R14), Z12
	VFMADD231PS  Z12, Z7, Z3
	ADDQ         $16, R14
	ADDQ         $64, DX
	ADDQ         $512, R13
	SUBQ         $4, R12
	JMP          quad32

tail32:
	TESTQ        R12, R12
	JZ           done
	ROWCHUNK(0, Z4, Z8)
	VBROADCASTSS (R14), Z12
	VFMADD231PS  Z12, Z4, Z0
	ADDQ         $4, R14
	ADDQ         $16, DX
	ADDQ         $128, R13
	DECQ         R12
	JMP          tail32

done:
	ROWEPILOGUE
