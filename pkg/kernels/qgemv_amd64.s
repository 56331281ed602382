//go:build !purego

#include "textflag.h"

// Quantized matrix-vector kernels, one per code width:
//
//	func qgemvQuadNAVX2(dst *float32, xp, xsum []float32, w *byte, wstride int,
//		s *float32, ss int, z *byte, zs, group int)
//
// compute four rows of the product as qgemvQuadGeneric does. Codes are
// widened to float32 in registers a chunk at a time in the order the
// activations were permuted into (qdecode.go), multiplied into two
// accumulators per row, and each group's sum is scaled once at its end;
// the zero points are applied afterwards, eight groups at a time, from the
// per-group sums of x.
//
// Registers: Y0–Y3 row totals, Y4–Y7 and Y8–Y11 group accumulators (two
// per row, so that eight FMA chains run at once), Y12–Y14 scratch, Y15 a
// code mask. R8–R11 row pointers, DX byte offset into the rows, R13 the
// position in xp, R12 codes left, AX chunks left in the group, BX the
// group size, R14 the scale of row 0 for the current group, R15 the scale
// stride in bytes.

// Dequantization kernels for the packed product:
//
//	func qdequantNAVX2(dst []float32, src *byte, sc, off *float32, group int)
//
// write dst[c] = code(c)·sc[c/group] + off[c/group] for c < len(dst), codes
// in chunk order; len(dst) and group are multiples of the chunk. Twin:
// qdequantGeneric. Registers: DI dst, SI src, CX codes left, AX chunks
// left in the group, BX group, R8/R9 the group's scale and offset, Y10/Y11
// their broadcasts, Y12–Y14 scratch, Y15 the code mask.

#define QDQ_PROLOGUE \
	MOVQ dst_base+0(FP), DI; \
	MOVQ dst_len+8(FP), CX;  \
	MOVQ src+24(FP), SI;     \
	MOVQ sc+32(FP), R8;      \
	MOVQ off+40(FP), R9;     \
	MOVQ group+48(FP), BX

#define QDQ_GROUP(shift, done) \
	TESTQ        CX, CX;     \
	JZ           done;       \
	MOVQ         BX, AX;     \
	CMPQ         CX, AX;     \
	CMOVQLT      CX, AX;     \
	SUBQ         AX, CX;     \
	SHRQ         $shift, AX; \
	VBROADCASTSS (R8), Y10;  \
	VBROADCASTSS (R9), Y11;  \
	ADDQ         $4, R8;     \
	ADDQ         $4, R9

// QDQ_STORE scales the codes in y and stores them at byte offset o of dst.
#define QDQ_STORE(y, o) \
	VCVTDQ2PS   y, y;        \
	VFMADD213PS Y11, Y10, y; \
	VMOVUPS     y, o(DI)

// QPROLOGUE loads the arguments and clears the totals.
#define QPROLOGUE \
	MOVQ   w+56(FP), R8;         \
	MOVQ   wstride+64(FP), CX;   \
	LEAQ   (R8)(CX*1), R9;       \
	LEAQ   (R9)(CX*1), R10;      \
	LEAQ   (R10)(CX*1), R11;     \
	MOVQ   xp_base+8(FP), R13;   \
	MOVQ   xp_len+16(FP), R12;   \
	MOVQ   s+72(FP), R14;        \
	MOVQ   ss+80(FP), R15;       \
	SHLQ   $2, R15;              \
	MOVQ   group+104(FP), BX;    \
	XORQ   DX, DX;               \
	VXORPS Y0, Y0, Y0;           \
	VXORPS Y1, Y1, Y1;           \
	VXORPS Y2, Y2, Y2;           \
	VXORPS Y3, Y3, Y3

// QGROUP_START sets AX to the chunks of the next group (2^shift codes
// each), jumping to done when no codes are left, and clears the group
// accumulators.
#define QGROUP_START(shift, done) \
	TESTQ   R12, R12;  \
	JZ      done;      \
	MOVQ    BX, AX;    \
	CMPQ    R12, AX;   \
	CMOVQLT R12, AX;   \
	SUBQ    AX, R12;   \
	SHRQ    $shift, AX; \
	VXORPS  Y4, Y4, Y4; \
	VXORPS  Y5, Y5, Y5; \
	VXORPS  Y6, Y6, Y6; \
	VXORPS  Y7, Y7, Y7; \
	VXORPS  Y8, Y8, Y8; \
	VXORPS  Y9, Y9, Y9; \
	VXORPS  Y10, Y10, Y10; \
	VXORPS  Y11, Y11, Y11

// QGROUP_END adds each row's group sum times its scale to its total.
#define QGROUP_END \
	VADDPS       Y8, Y4, Y4;        \
	VADDPS       Y9, Y5, Y5;        \
	VADDPS       Y10, Y6, Y6;       \
	VADDPS       Y11, Y7, Y7;       \
	VBROADCASTSS (R14), Y12;        \
	VFMADD231PS  Y12, Y4, Y0;       \
	VBROADCASTSS (R14)(R15*1), Y13; \
	VFMADD231PS  Y13, Y5, Y1;       \
	VBROADCASTSS (R14)(R15*2), Y12; \
	VFMADD231PS  Y12, Y6, Y2;       \
	LEAQ         (R15)(R15*2), CX;  \
	VBROADCASTSS (R14)(CX*1), Y13;  \
	VFMADD231PS  Y13, Y7, Y3;       \
	ADDQ         $4, R14

// QCORR subtracts s·z·xsum for eight groups of one row: sp and zp point at
// the row's scales and zero points, DI indexes the group, Y12 holds xsum.
#define QCORR(sp, zp, tot) \
	VPMOVZXBD    (zp)(DI*1), Y13;    \
	VCVTDQ2PS    Y13, Y13;           \
	VMULPS       (sp)(DI*4), Y13, Y13; \
	VFNMADD231PS Y12, Y13, tot

// QEPILOGUE applies the zero points of the first len(xsum) groups (a
// multiple of 8), sums each total's lanes and stores the four results.
#define QEPILOGUE \
	MOVQ      xsum_len+40(FP), R12; \
	SHRQ      $3, R12;              \
	JZ        reduce;               \
	MOVQ      xsum_base+32(FP), SI; \
	MOVQ      s+72(FP), R8;         \
	LEAQ      (R8)(R15*1), R9;      \
	LEAQ      (R9)(R15*1), R10;     \
	LEAQ      (R10)(R15*1), R11;    \
	MOVQ      z+88(FP), DX;         \
	MOVQ      zs+96(FP), CX;        \
	LEAQ      (DX)(CX*1), AX;       \
	LEAQ      (AX)(CX*1), BX;       \
	LEAQ      (BX)(CX*1), R13;      \
	XORQ      DI, DI;               \
corrloop:                           \
	VMOVUPS   (SI)(DI*4), Y12;      \
	QCORR(R8, DX, Y0);              \
	QCORR(R9, AX, Y1);              \
	QCORR(R10, BX, Y2);             \
	QCORR(R11, R13, Y3);            \
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

// Q4ROW: 16 four-bit codes (8 bytes) of one row; lane l of the widened
// bytes holds codes 2l (low nibble) and 2l+1 (high nibble).
#define Q4ROW(row, accA, accB) \
	VPMOVZXBD   (row)(DX*1), Y12; \
	VPSRLD      $4, Y12, Y13;     \
	VPAND       Y15, Y12, Y12;    \
	VCVTDQ2PS   Y12, Y12;         \
	VCVTDQ2PS   Y13, Y13;         \
	VFMADD231PS (R13), Y12, accA; \
	VFMADD231PS 32(R13), Y13, accB

// func qgemvQuad4AVX2(dst *float32, xp, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int)
TEXT ·qgemvQuad4AVX2(SB), NOSPLIT, $0-112
	QPROLOGUE
	MOVL         $15, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15

group:
	QGROUP_START(4, correct)

chunk:
	Q4ROW(R8, Y4, Y8)
	Q4ROW(R9, Y5, Y9)
	Q4ROW(R10, Y6, Y10)
	Q4ROW(R11, Y7, Y11)
	ADDQ $64, R13
	ADDQ $8, DX
	DECQ AX
	JNZ  chunk
	QGROUP_END
	JMP  group

correct:
	QEPILOGUE

// Q8ROW: 16 eight-bit codes of one row, in order.
#define Q8ROW(row, accA, accB) \
	VPMOVZXBD   (row)(DX*1), Y12;  \
	VPMOVZXBD   8(row)(DX*1), Y13; \
	VCVTDQ2PS   Y12, Y12;          \
	VCVTDQ2PS   Y13, Y13;          \
	VFMADD231PS (R13), Y12, accA;  \
	VFMADD231PS 32(R13), Y13, accB

// func qgemvQuad8AVX2(dst *float32, xp, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int)
TEXT ·qgemvQuad8AVX2(SB), NOSPLIT, $0-112
	QPROLOGUE

group:
	QGROUP_START(4, correct)

chunk:
	Q8ROW(R8, Y4, Y8)
	Q8ROW(R9, Y5, Y9)
	Q8ROW(R10, Y6, Y10)
	Q8ROW(R11, Y7, Y11)
	ADDQ $64, R13
	ADDQ $16, DX
	DECQ AX
	JNZ  chunk
	QGROUP_END
	JMP  group

correct:
	QEPILOGUE

// Q2ROW: 32 two-bit codes (8 bytes) of one row; step j takes code j of
// each of the eight bytes.
#define Q2ROW(row, accA, accB) \
	VPMOVZXBD   (row)(DX*1), Y12; \
	VPAND       Y15, Y12, Y13;    \
	VPSRLD      $2, Y12, Y14;     \
	VPAND       Y15, Y14, Y14;    \
	VCVTDQ2PS   Y13, Y13;         \
	VCVTDQ2PS   Y14, Y14;         \
	VFMADD231PS (R13), Y13, accA; \
	VFMADD231PS 32(R13), Y14, accB; \
	VPSRLD      $4, Y12, Y13;     \
	VPAND       Y15, Y13, Y13;    \
	VPSRLD      $6, Y12, Y14;     \
	VCVTDQ2PS   Y13, Y13;         \
	VCVTDQ2PS   Y14, Y14;         \
	VFMADD231PS 64(R13), Y13, accA; \
	VFMADD231PS 96(R13), Y14, accB

// func qgemvQuad2AVX2(dst *float32, xp, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int)
TEXT ·qgemvQuad2AVX2(SB), NOSPLIT, $0-112
	QPROLOGUE
	MOVL         $3, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15

group:
	QGROUP_START(5, correct)

chunk:
	Q2ROW(R8, Y4, Y8)
	Q2ROW(R9, Y5, Y9)
	Q2ROW(R10, Y6, Y10)
	Q2ROW(R11, Y7, Y11)
	ADDQ $128, R13
	ADDQ $8, DX
	DECQ AX
	JNZ  chunk
	QGROUP_END
	JMP  group

correct:
	QEPILOGUE

// q3shuf spreads four 3-byte blocks over the four dwords of an XMM
// register; q3shift then moves the blocks copied to lanes 4–7 down by one
// code, so that lanes 0–3 yield even codes and lanes 4–7 odd ones.
DATA q3shuf<>+0(SB)/8, $0x8005040380020100
DATA q3shuf<>+8(SB)/8, $0x800b0a0980080706
GLOBL q3shuf<>(SB), RODATA|NOPTR, $16

DATA q3shift<>+0(SB)/8, $0
DATA q3shift<>+8(SB)/8, $0
DATA q3shift<>+16(SB)/8, $0x0000000300000003
DATA q3shift<>+24(SB)/8, $0x0000000300000003
GLOBL q3shift<>(SB), RODATA|NOPTR, $32

// Q3ROW: 32 three-bit codes (four 24-bit blocks, 12 bytes) of one row.
// Exactly 12 bytes are read, so the last row never reads past its end.
#define Q3ROW(row, accA, accB) \
	VMOVQ       (row)(DX*1), X12;           \
	VPINSRD     $2, 8(row)(DX*1), X12, X12; \
	VPSHUFB     q3shuf<>(SB), X12, X12;     \
	VINSERTI128 $1, X12, Y12, Y12;          \
	VPSRLVD     q3shift<>(SB), Y12, Y12;    \
	VPAND       Y15, Y12, Y13;              \
	VPSRLD      $6, Y12, Y14;               \
	VPAND       Y15, Y14, Y14;              \
	VCVTDQ2PS   Y13, Y13;                   \
	VCVTDQ2PS   Y14, Y14;                   \
	VFMADD231PS (R13), Y13, accA;           \
	VFMADD231PS 32(R13), Y14, accB;         \
	VPSRLD      $12, Y12, Y13;              \
	VPAND       Y15, Y13, Y13;              \
	VPSRLD      $18, Y12, Y14;              \
	VPAND       Y15, Y14, Y14;              \
	VCVTDQ2PS   Y13, Y13;                   \
	VCVTDQ2PS   Y14, Y14;                   \
	VFMADD231PS 64(R13), Y13, accA;         \
	VFMADD231PS 96(R13), Y14, accB

// func qgemvQuad3AVX2(dst *float32, xp, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int)
TEXT ·qgemvQuad3AVX2(SB), NOSPLIT, $0-112
	QPROLOGUE
	MOVL         $7, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15

group:
	QGROUP_START(5, correct)

chunk:
	Q3ROW(R8, Y4, Y8)
	Q3ROW(R9, Y5, Y9)
	Q3ROW(R10, Y6, Y10)
	Q3ROW(R11, Y7, Y11)
	ADDQ $128, R13
	ADDQ $12, DX
	DECQ AX
	JNZ  chunk
	QGROUP_END
	JMP  group

correct:
	QEPILOGUE

// func qdequant4AVX2(dst []float32, src *byte, sc, off *float32, group int)
TEXT ·qdequant4AVX2(SB), NOSPLIT, $0-56
	QDQ_PROLOGUE
	MOVL         $15, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15

group:
	QDQ_GROUP(4, done)

chunk:
	VPMOVZXBD (SI), Y12
	VPSRLD    $4, Y12, Y13
	VPAND     Y15, Y12, Y12
	QDQ_STORE(Y12, 0)
	QDQ_STORE(Y13, 32)
	ADDQ      $8, SI
	ADDQ      $64, DI
	DECQ      AX
	JNZ       chunk
	JMP       group

done:
	VZEROUPPER
	RET

// func qdequant8AVX2(dst []float32, src *byte, sc, off *float32, group int)
TEXT ·qdequant8AVX2(SB), NOSPLIT, $0-56
	QDQ_PROLOGUE

group:
	QDQ_GROUP(4, done)

chunk:
	VPMOVZXBD (SI), Y12
	VPMOVZXBD 8(SI), Y13
	QDQ_STORE(Y12, 0)
	QDQ_STORE(Y13, 32)
	ADDQ      $16, SI
	ADDQ      $64, DI
	DECQ      AX
	JNZ       chunk
	JMP       group

done:
	VZEROUPPER
	RET

// func qdequant2AVX2(dst []float32, src *byte, sc, off *float32, group int)
TEXT ·qdequant2AVX2(SB), NOSPLIT, $0-56
	QDQ_PROLOGUE
	MOVL         $3, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15

group:
	QDQ_GROUP(5, done)

chunk:
	VPMOVZXBD (SI), Y12
	VPAND     Y15, Y12, Y13
	QDQ_STORE(Y13, 0)
	VPSRLD    $2, Y12, Y14
	VPAND     Y15, Y14, Y14
	QDQ_STORE(Y14, 32)
	VPSRLD    $4, Y12, Y13
	VPAND     Y15, Y13, Y13
	QDQ_STORE(Y13, 64)
	VPSRLD    $6, Y12, Y14
	QDQ_STORE(Y14, 96)
	ADDQ      $8, SI
	ADDQ      $128, DI
	DECQ      AX
	JNZ       chunk
	JMP       group

done:
	VZEROUPPER
	RET

// func qdequant3AVX2(dst []float32, src *byte, sc, off *float32, group int)
TEXT ·qdequant3AVX2(SB), NOSPLIT, $0-56
	QDQ_PROLOGUE
	MOVL         $7, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15

group:
	QDQ_GROUP(5, done)

chunk:
	VMOVQ       (SI), X12
	VPINSRD     $2, 8(SI), X12, X12
	VPSHUFB     q3shuf<>(SB), X12, X12
	VINSERTI128 $1, X12, Y12, Y12
	VPSRLVD     q3shift<>(SB), Y12, Y12
	VPAND       Y15, Y12, Y13
	QDQ_STORE(Y13, 0)
	VPSRLD      $6, Y12, Y14
	VPAND       Y15, Y14, Y14
	QDQ_STORE(Y14, 32)
	VPSRLD      $12, Y12, Y13
	VPAND       Y15, Y13, Y13
	QDQ_STORE(Y13, 64)
	VPSRLD      $18, Y12, Y14
	VPAND       Y15, Y14, Y14
	QDQ_STORE(Y14, 96)
	ADDQ        $12, SI
	ADDQ        $128, DI
	DECQ        AX
	JNZ         chunk
	JMP         group

done:
	VZEROUPPER
	RET
