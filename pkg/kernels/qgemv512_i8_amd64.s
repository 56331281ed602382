//go:build !purego

#include "textflag.h"

// Single-row int8-activation kernels for 4-bit codes with AVX-512 VNNI.
// One VPDPBUSD multiplies 64 unsigned codes by 64 signed activations and
// sums them in fours into sixteen int32 lanes: a step of 64 codes costs
// about twelve instructions, against about thirty to widen the same codes
// to float32 (the float row kernel was FMA-bound, not memory-bound, at
// 16–18 GB/s on cold 4096×11008 weights).
//
//	func qgemvRowsI8AVX512(dst []float32, xq []int8, dx, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int, eight bool)
//
// computes len(dst) rows of qgemvQuad4I8Generic one after another (row r
// at w[r*wstride:], s[r*ss:], z[r*zs:]), group 32 or a multiple of 64;
// with eight, of qgemvRow8I8Generic (8-bit codes, one a byte).
// Rows are taken one at a time, so the codes are one stream through
// memory, and the loop over them is here because a Go call per row cost
// a tenth of the decode time. The 32 bytes of a step hold the codes of
// two blocks of 32, low nibbles first: [bytes & 15 | bytes >> 4] lines up
// with quantizeActs' order, so the int32 lanes are, in fours, the even
// codes of block A, of block B, then the odd codes of A and of B. The
// block scales dx (dA×4, dB×4 per step) are broadcast to both halves, and
// for groups of 32 the two weight scales are spread the same way by
// VPERMPS.
//
// Spans of 128 codes (64 bytes) do the work of two steps with about half
// the instructions: one load, the low and the high nibbles of all 64
// bytes are the even and the odd codes of four blocks, multiplied by the
// matching halves of two steps' activations (gathered by VINSERTI64X4) in
// two VPDPBUSD into the same lanes — lane l holds block l/4 in both — then
// one conversion, one product by the span's sixteen dx (the two steps' dx
// as stored) and one FMA by the group scales (for groups of 32 the span's
// four scales spread by VPERMPS). Per 64 codes that is about seven
// instructions instead of thirteen to fifteen: with groups of 32 the step
// kernel decoded at about 16 GB/s end to end, half the read bandwidth.
//
// 8-bit codes: 64 bytes are 64 codes in natural order; one VPERMB (VBMI)
// puts them in quantizeActs' order (per step the even positions of two
// blocks, then the odd ones), so that the activations, their dx and the
// spread of two group scales are exactly the 4-bit step's; a step is then
// about eight instructions for 64 bytes of weights, where the float
// kernel's widening to float32 held 8-bit decode at 60–69 % of the read
// bandwidth.
//
// Registers: Z0, Z1 totals; Z2–Z13 scratch (Z13 the byte order for 8-bit
// codes); Z14 the spread index or group scale; Z15 the nibble mask. CX rows left, DI the output, R10/R11/DX the
// row's codes, scales and zero points; within a row R8 the codes, R13 the
// activations, R9 dx, R14 the scales, R12 codes left, AX steps left in the
// group, BX the group size.

DATA spreadG32<>+0(SB)/4, $0
DATA spreadG32<>+4(SB)/4, $0
DATA spreadG32<>+8(SB)/4, $0
DATA spreadG32<>+12(SB)/4, $0
DATA spreadG32<>+16(SB)/4, $1
DATA spreadG32<>+20(SB)/4, $1
DATA spreadG32<>+24(SB)/4, $1
DATA spreadG32<>+28(SB)/4, $1
DATA spreadG32<>+32(SB)/4, $0
DATA spreadG32<>+36(SB)/4, $0
DATA spreadG32<>+40(SB)/4, $0
DATA spreadG32<>+44(SB)/4, $0
DATA spreadG32<>+48(SB)/4, $1
DATA spreadG32<>+52(SB)/4, $1
DATA spreadG32<>+56(SB)/4, $1
DATA spreadG32<>+60(SB)/4, $1
GLOBL spreadG32<>(SB), RODATA|NOPTR, $64

// spreadG32Hi is spreadG32 for the third and fourth of four scales: the
// second step's two groups when a pair step converts four half-precision
// scales at once.
DATA spreadG32Hi<>+0(SB)/4, $2
DATA spreadG32Hi<>+4(SB)/4, $2
DATA spreadG32Hi<>+8(SB)/4, $2
DATA spreadG32Hi<>+12(SB)/4, $2
DATA spreadG32Hi<>+16(SB)/4, $3
DATA spreadG32Hi<>+20(SB)/4, $3
DATA spreadG32Hi<>+24(SB)/4, $3
DATA spreadG32Hi<>+28(SB)/4, $3
DATA spreadG32Hi<>+32(SB)/4, $2
DATA spreadG32Hi<>+36(SB)/4, $2
DATA spreadG32Hi<>+40(SB)/4, $2
DATA spreadG32Hi<>+44(SB)/4, $2
DATA spreadG32Hi<>+48(SB)/4, $3
DATA spreadG32Hi<>+52(SB)/4, $3
DATA spreadG32Hi<>+56(SB)/4, $3
DATA spreadG32Hi<>+60(SB)/4, $3
GLOBL spreadG32Hi<>(SB), RODATA|NOPTR, $64

// codeOrder8 sends byte i of 64 natural 8-bit codes to quantizeActs'
// position of that input.
DATA codeOrder8<>+0(SB)/8, $0x0e0c0a0806040200
DATA codeOrder8<>+8(SB)/8, $0x1e1c1a1816141210
DATA codeOrder8<>+16(SB)/8, $0x2e2c2a2826242220
DATA codeOrder8<>+24(SB)/8, $0x3e3c3a3836343230
DATA codeOrder8<>+32(SB)/8, $0x0f0d0b0907050301
DATA codeOrder8<>+40(SB)/8, $0x1f1d1b1917151311
DATA codeOrder8<>+48(SB)/8, $0x2f2d2b2927252321
DATA codeOrder8<>+56(SB)/8, $0x3f3d3b3937353331
GLOBL codeOrder8<>(SB), RODATA|NOPTR, $64

// I8STEP8 leaves in p the float32 lane sums, scaled by dx, of the step of
// 64 8-bit codes at byte offset o (activations at o, dx at do); Z2, Z3
// scratch.
#define I8STEP8(o, do, p) \
	VPERMB          o(R8), Z13, Z2;   \
	VPXORD          p, p, p;          \
	VPDPBUSD        o(R13), Z2, p;    \
	VCVTDQ2PS       p, p;             \
	VBROADCASTF64X4 do(R9), Z3;       \
	VMULPS          Z3, p, p

DATA spread4G32<>+0(SB)/4, $0
DATA spread4G32<>+4(SB)/4, $0
DATA spread4G32<>+8(SB)/4, $0
DATA spread4G32<>+12(SB)/4, $0
DATA spread4G32<>+16(SB)/4, $1
DATA spread4G32<>+20(SB)/4, $1
DATA spread4G32<>+24(SB)/4, $1
DATA spread4G32<>+28(SB)/4, $1
DATA spread4G32<>+32(SB)/4, $2
DATA spread4G32<>+36(SB)/4, $2
DATA spread4G32<>+40(SB)/4, $2
DATA spread4G32<>+44(SB)/4, $2
DATA spread4G32<>+48(SB)/4, $3
DATA spread4G32<>+52(SB)/4, $3
DATA spread4G32<>+56(SB)/4, $3
DATA spread4G32<>+60(SB)/4, $3
GLOBL spread4G32<>(SB), RODATA|NOPTR, $64

// I8SPAN leaves in p the float32 lane sums, scaled by dx, of the span of
// 128 codes at byte offset o (activations at 2*o, dx at o); Z2–Z5 scratch.
#define I8SPAN(o, p) \
	VMOVDQU64    o(R8), Z2;               \
	VPSRLW       $4, Z2, Z3;              \
	VPANDD       Z15, Z2, Z2;             \
	VPANDD       Z15, Z3, Z3;             \
	VMOVDQU      (2*o)(R13), Y4;          \
	VINSERTI64X4 $1, (2*o+64)(R13), Z4, Z4; \
	VMOVDQU      (2*o+32)(R13), Y5;       \
	VINSERTI64X4 $1, (2*o+96)(R13), Z5, Z5; \
	VPXORD       p, p, p;                 \
	VPDPBUSD     Z4, Z2, p;               \
	VPDPBUSD     Z5, Z3, p;               \
	VCVTDQ2PS    p, p;                    \
	VMULPS       o(R9), p, p

// I8STEP leaves in p the float32 lane sums, scaled by dx, of the step at
// byte offset o of the codes (activations at 2*o, dx at o); ty/tz (the
// same register) and u scratch.
#define I8STEP(o, p, ty, tz, u) \
	VMOVDQU         o(R8), ty;            \
	VPSRLW          $4, ty, u;            \
	VINSERTI64X4    $1, u, tz, tz;        \
	VPANDD          Z15, tz, tz;          \
	VPXORD          p, p, p;              \
	VPDPBUSD        (2*o)(R13), tz, p;    \
	VCVTDQ2PS       p, p;                 \
	VBROADCASTF64X4 o(R9), tz;            \
	VMULPS          tz, p, p

// ZCORR subtracts from acc the zero-point correction of eight groups,
// s·z·xsum with xsum in Y12, z (bytes) and s at the given addresses; t
// scratch.
#define ZCORR(z, s, t, acc) \
	VPMOVZXBD    z, t;    \
	VCVTDQ2PS    t, t;    \
	VMULPS       s, t, t; \
	VFNMADD231PS Y12, t, acc

// ZCORRH is ZCORR with the eight scales in half precision at s; u scratch.
#define ZCORRH(z, s, t, u, acc) \
	VPMOVZXBD    z, t;    \
	VCVTDQ2PS    t, t;    \
	VCVTPH2PS    s, u;    \
	VMULPS       u, t, t; \
	VFNMADD231PS Y12, t, acc

// HSUM8 stores at dst the sum of the eight lanes of y (x its low half; tx
// scratch).
#define HSUM8(y, x, tx, dst) \
	VEXTRACTF128 $1, y, tx; \
	VADDPS       tx, x, x;  \
	VHADDPS      x, x, x;   \
	VHADDPS      x, x, x;   \
	VMOVSS       x, dst

TEXT ·qgemvRowsI8AVX512(SB), NOSPLIT, $0-153
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         w+96(FP), R10
	MOVQ         s+112(FP), R11
	MOVQ         z+128(FP), DX
	MOVQ         group+144(FP), BX
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Z15

row:
	TESTQ  CX, CX
	JZ     end
	MOVQ   R10, R8
	MOVQ   R11, R14
	MOVQ   xq_base+24(FP), R13
	MOVQ   xq_len+32(FP), R12
	MOVQ   dx_base+48(FP), R9
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	CMPB   eight+152(FP), $0
	JNE    row8
	CMPQ   BX, $32
	JEQ    g32

	// Groups of whole steps: one broadcast scale per group.
group:
	TESTQ        R12, R12
	JZ           done
	MOVQ         BX, AX
	CMPQ         R12, AX
	CMOVQLT      R12, AX
	SUBQ         AX, R12
	SHRQ         $6, AX
	VBROADCASTSS (R14), Z14
	ADDQ         $4, R14

	// Two spans at a time into the two totals: with one total the FMA's
	// latency held the step kernel at 26–28 GB/s.
span4:
	CMPQ         AX, $4
	JLT          step2
	I8SPAN(0, Z6)
	I8SPAN(64, Z7)
	VFMADD231PS  Z14, Z6, Z0
	VFMADD231PS  Z14, Z7, Z1
	ADDQ         $128, R8
	ADDQ         $256, R13
	ADDQ         $128, R9
	SUBQ         $4, AX
	JMP          span4

step2:
	CMPQ         AX, $2
	JLT          step
	I8SPAN(0, Z6)
	VFMADD231PS  Z14, Z6, Z0
	ADDQ         $64, R8
	ADDQ         $128, R13
	ADDQ         $64, R9
	SUBQ         $2, AX
	JMP          step2

step:
	TESTQ        AX, AX
	JZ           group
	I8STEP(0, Z4, Y2, Z2, Y3)
	VFMADD231PS  Z14, Z4, Z0
	ADDQ         $32, R8
	ADDQ         $64, R13
	ADDQ         $32, R9
	JMP          group

	// Groups of 32: four groups a span, their scales spread over the lanes.
g32:
	VMOVDQU32 spread4G32<>(SB), Z14

pair32:
	CMPQ            R12, $256
	JLT             span32
	I8SPAN(0, Z6)
	I8SPAN(64, Z7)
	VBROADCASTF32X4 (R14), Z8
	VPERMPS         Z8, Z14, Z8
	VBROADCASTF32X4 16(R14), Z9
	VPERMPS         Z9, Z14, Z9
	VFMADD231PS     Z8, Z6, Z0
	VFMADD231PS     Z9, Z7, Z1
	ADDQ            $128, R8
	ADDQ            $256, R13
	ADDQ            $128, R9
	ADDQ            $32, R14
	SUBQ            $256, R12
	JMP             pair32

span32:
	CMPQ            R12, $128
	JLT             tail32
	I8SPAN(0, Z6)
	VBROADCASTF32X4 (R14), Z8
	VPERMPS         Z8, Z14, Z8
	VFMADD231PS     Z8, Z6, Z0
	ADDQ            $64, R8
	ADDQ            $128, R13
	ADDQ            $64, R9
	ADDQ            $16, R14
	SUBQ            $128, R12

	// A last step of 64 codes: two groups.
tail32:
	TESTQ        R12, R12
	JZ           done
	VMOVDQU32    spreadG32<>(SB), Z10
	I8STEP(0, Z4, Y2, Z2, Y3)
	VBROADCASTSD (R14), Z8
	VPERMPS      Z8, Z10, Z8
	VFMADD231PS  Z8, Z4, Z0

	JMP          done

	// 8-bit codes, groups of whole steps.
row8:
	VMOVDQU64 codeOrder8<>(SB), Z13 // per row: the correction below uses Y13
	CMPQ      BX, $32
	JEQ       g32w8

group8:
	TESTQ        R12, R12
	JZ           done
	MOVQ         BX, AX
	CMPQ         R12, AX
	CMOVQLT      R12, AX
	SUBQ         AX, R12
	SHRQ         $6, AX
	VBROADCASTSS (R14), Z14
	ADDQ         $4, R14

step2w8:
	CMPQ        AX, $2
	JLT         step1w8
	I8STEP8(0, 0, Z4)
	I8STEP8(64, 32, Z5)
	VFMADD231PS Z14, Z4, Z0
	VFMADD231PS Z14, Z5, Z1
	ADDQ        $128, R8
	ADDQ        $128, R13
	ADDQ        $64, R9
	SUBQ        $2, AX
	JMP         step2w8

step1w8:
	TESTQ       AX, AX
	JZ          group8
	I8STEP8(0, 0, Z4)
	VFMADD231PS Z14, Z4, Z0
	ADDQ        $64, R8
	ADDQ        $64, R13
	ADDQ        $32, R9
	JMP         group8

	// 8-bit codes in groups of 32: two groups a step.
g32w8:
	VMOVDQU32 spreadG32<>(SB), Z14

pair32w8:
	CMPQ         R12, $128
	JLT          tail32w8
	I8STEP8(0, 0, Z4)
	I8STEP8(64, 32, Z5)
	VBROADCASTSD (R14), Z8
	VPERMPS      Z8, Z14, Z8
	VBROADCASTSD 8(R14), Z9
	VPERMPS      Z9, Z14, Z9
	VFMADD231PS  Z8, Z4, Z0
	VFMADD231PS  Z9, Z5, Z1
	ADDQ         $128, R8
	ADDQ         $128, R13
	ADDQ         $64, R9
	ADDQ         $16, R14
	SUBQ         $128, R12
	JMP          pair32w8

tail32w8:
	TESTQ        R12, R12
	JZ           done
	I8STEP8(0, 0, Z4)
	VBROADCASTSD (R14), Z8
	VPERMPS      Z8, Z14, Z8
	VFMADD231PS  Z8, Z4, Z0

done:
	// Σ s·z·xsum over the first len(xsum) groups (a multiple of 8).
	VADDPS        Z1, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	MOVQ          xsum_len+80(FP), R12
	SHRQ          $3, R12
	JZ            reduce
	MOVQ          xsum_base+72(FP), SI
	XORQ          AX, AX

corr:
	VMOVUPS (SI)(AX*4), Y12
	ZCORR((DX)(AX*1), (R11)(AX*4), Y13, Y0)
	ADDQ    $8, AX
	DECQ    R12
	JNZ     corr

reduce:
	HSUM8(Y0, X0, X1, (DI))
	ADDQ         $4, DI
	ADDQ         wstride+104(FP), R10
	MOVQ         ss+120(FP), AX
	LEAQ         (R11)(AX*4), R11
	ADDQ         zs+136(FP), DX
	DECQ         CX
	JMP          row

end:
	VZEROUPPER
	RET

// qgemvPairsI8AVX512 is qgemvRowsI8AVX512 for 4-bit codes in groups of
// 32 or 128, k a multiple of 256, two rows at once: row r and row
// r + len(dst)/2 (dst holds both halves), each summed exactly as the
// one-row kernel sums it (its pair32 loop, or for groups of 128 its step2
// loop: a span a group into Z0), so the results are the same bit for bit.
// The two rows share each pair of spans' activation loads (a third of the
// one-row loop's instructions), are two independent chains and two streams
// through memory far apart, and their corrections and reductions run
// together. On 2048-wide rows the one-row kernel read 56–68 % of the read
// probe, its per-row correction and reduction exposed; this one 78–95 %.
//
//	func qgemvPairsI8AVX512(dst []float32, xq []int8, dx, xsum []float32, w *byte, wstride int, s unsafe.Pointer, ss int, z *byte, zs, group int, eight, half bool)
//
// With eight the codes are 8-bit in groups of 32, k a multiple of 128
// (pair32w8's sums; the activations and dx of a step loaded once for
// both rows): Z13 the byte order, Z26, Z27 a step pair's activations.
//
// Registers: Z0, Z1 row A's totals, Z20, Z21 row B's; Z4, Z5, Z24, Z25 a
// pair of spans' activations; Z6, Z7, Z16, Z17 the spans' sums; Z14 the
// spread index (Z28 for the second step's half-precision scales); Z15 the
// nibble mask. CX pairs left, DI row A's output;
// R10/R11/DX row A's codes, scales and zero points; SI and BX the distance
// of row B's codes and scales; within a row R8 the codes, R13 the
// activations, R9 dx, R14 the scales, R12 codes left.

// PAIRSPANS leaves in Z6, Z7 (row A) and Z16, Z17 (row B) the float32 lane
// sums, scaled by dx, of the two spans at R8 (row B at R8+SI).
#define PAIRSPANS \
	VMOVDQU      (R13), Y4;               \
	VINSERTI64X4 $1, 64(R13), Z4, Z4;     \
	VMOVDQU      32(R13), Y5;             \
	VINSERTI64X4 $1, 96(R13), Z5, Z5;     \
	VMOVDQU32    128(R13), Y24;           \
	VINSERTI64X4 $1, 192(R13), Z24, Z24;  \
	VMOVDQU32    160(R13), Y25;           \
	VINSERTI64X4 $1, 224(R13), Z25, Z25;  \
	VMOVDQU64    (R8), Z2;                \
	VPSRLW       $4, Z2, Z3;              \
	VPANDD       Z15, Z2, Z2;             \
	VPANDD       Z15, Z3, Z3;             \
	VPXORD       Z6, Z6, Z6;              \
	VPDPBUSD     Z4, Z2, Z6;              \
	VPDPBUSD     Z5, Z3, Z6;              \
	VMOVDQU64    64(R8), Z2;              \
	VPSRLW       $4, Z2, Z3;              \
	VPANDD       Z15, Z2, Z2;             \
	VPANDD       Z15, Z3, Z3;             \
	VPXORD       Z7, Z7, Z7;              \
	VPDPBUSD     Z24, Z2, Z7;             \
	VPDPBUSD     Z25, Z3, Z7;             \
	VMOVDQU64    (R8)(SI*1), Z2;          \
	VPSRLW       $4, Z2, Z3;              \
	VPANDD       Z15, Z2, Z2;             \
	VPANDD       Z15, Z3, Z3;             \
	VPXORD       Z16, Z16, Z16;           \
	VPDPBUSD     Z4, Z2, Z16;             \
	VPDPBUSD     Z5, Z3, Z16;             \
	VMOVDQU64    64(R8)(SI*1), Z2;        \
	VPSRLW       $4, Z2, Z3;              \
	VPANDD       Z15, Z2, Z2;             \
	VPANDD       Z15, Z3, Z3;             \
	VPXORD       Z17, Z17, Z17;           \
	VPDPBUSD     Z24, Z2, Z17;            \
	VPDPBUSD     Z25, Z3, Z17;            \
	VCVTDQ2PS    Z6, Z6;                  \
	VMULPS       (R9), Z6, Z6;            \
	VCVTDQ2PS    Z7, Z7;                  \
	VMULPS       64(R9), Z7, Z7;          \
	VCVTDQ2PS    Z16, Z16;                \
	VMULPS       (R9), Z16, Z16;          \
	VCVTDQ2PS    Z17, Z17;                \
	VMULPS       64(R9), Z17, Z17

// PAIRSTEPS8 leaves in Z4, Z5 (row A) and Z16, Z17 (row B) the float32
// lane sums, scaled by dx, of the two steps of 8-bit codes at R8 (row B at
// R8+SI), as I8STEP8 at 0 and 64 does; the activations and dx are loaded
// once for both rows.
#define PAIRSTEPS8 \
	VMOVDQU64       (R13), Z26;        \
	VMOVDQU64       64(R13), Z27;      \
	VBROADCASTF64X4 (R9), Z10;         \
	VBROADCASTF64X4 32(R9), Z11;       \
	VPERMB          (R8), Z13, Z2;     \
	VPXORD          Z4, Z4, Z4;        \
	VPDPBUSD        Z26, Z2, Z4;       \
	VPERMB          64(R8), Z13, Z3;   \
	VPXORD          Z5, Z5, Z5;        \
	VPDPBUSD        Z27, Z3, Z5;       \
	VPERMB          (R8)(SI*1), Z13, Z2;   \
	VPXORD          Z16, Z16, Z16;     \
	VPDPBUSD        Z26, Z2, Z16;      \
	VPERMB          64(R8)(SI*1), Z13, Z3; \
	VPXORD          Z17, Z17, Z17;     \
	VPDPBUSD        Z27, Z3, Z17;      \
	VCVTDQ2PS       Z4, Z4;            \
	VMULPS          Z10, Z4, Z4;       \
	VCVTDQ2PS       Z5, Z5;            \
	VMULPS          Z11, Z5, Z5;       \
	VCVTDQ2PS       Z16, Z16;          \
	VMULPS          Z10, Z16, Z16;     \
	VCVTDQ2PS       Z17, Z17;          \
	VMULPS          Z11, Z17, Z17

TEXT ·qgemvPairsI8AVX512(SB), NOSPLIT, $0-154
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	SHRQ         $1, CX
	MOVQ         w+96(FP), R10
	MOVQ         s+112(FP), R11
	MOVQ         z+128(FP), DX
	MOVQ         wstride+104(FP), SI
	IMULQ        CX, SI
	MOVQ         ss+120(FP), BX
	IMULQ        CX, BX
	SHLQ         $1, BX
	CMPB         half+153(FP), $0
	JNE          pstride
	SHLQ         $1, BX

pstride:
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Z15
	VMOVDQU32    spread4G32<>(SB), Z14
	CMPB         eight+152(FP), $0
	JEQ          prow
	VMOVDQU32    spreadG32<>(SB), Z14
	VMOVDQU32    spreadG32Hi<>(SB), Z28
	VMOVDQU64    codeOrder8<>(SB), Z13

prow:
	TESTQ  CX, CX
	JZ     pend
	MOVQ   R10, R8
	MOVQ   R11, R14
	MOVQ   xq_base+24(FP), R13
	MOVQ   xq_len+32(FP), R12
	MOVQ   dx_base+48(FP), R9
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	CMPB   half+153(FP), $0
	JNE    ppair8h
	CMPB   eight+152(FP), $0
	JNE    ppair8
	CMPQ   group+144(FP), $32
	JNE    ppair128

	// Groups of 32: each span's four scales spread over its lanes; the
	// spans into the two totals, as pair32 does.
ppair32:
	TESTQ           R12, R12
	JZ              pdone
	PAIRSPANS
	VBROADCASTF32X4 (R14), Z8
	VPERMPS         Z8, Z14, Z8
	VBROADCASTF32X4 16(R14), Z9
	VPERMPS         Z9, Z14, Z9
	VBROADCASTF32X4 (R14)(BX*1), Z18
	VPERMPS         Z18, Z14, Z18
	VBROADCASTF32X4 16(R14)(BX*1), Z19
	VPERMPS         Z19, Z14, Z19
	VFMADD231PS     Z8, Z6, Z0
	VFMADD231PS     Z9, Z7, Z1
	VFMADD231PS     Z18, Z16, Z20
	VFMADD231PS     Z19, Z17, Z21
	ADDQ            $128, R8
	ADDQ            $256, R13
	ADDQ            $128, R9
	ADDQ            $32, R14
	SUBQ            $256, R12
	JMP             ppair32

	// Groups of 128: a span a group, its one scale broadcast; both spans
	// into the first total, in order, as step2 does.
ppair128:
	TESTQ        R12, R12
	JZ           pdone
	PAIRSPANS
	VBROADCASTSS (R14), Z8
	VBROADCASTSS 4(R14), Z9
	VBROADCASTSS (R14)(BX*1), Z18
	VBROADCASTSS 4(R14)(BX*1), Z19
	VFMADD231PS  Z8, Z6, Z0
	VFMADD231PS  Z18, Z16, Z20
	VFMADD231PS  Z9, Z7, Z0
	VFMADD231PS  Z19, Z17, Z20
	ADDQ         $128, R8
	ADDQ         $256, R13
	ADDQ         $128, R9
	ADDQ         $8, R14
	SUBQ         $256, R12
	JMP          ppair128

	// 8-bit codes in groups of 32: two groups a step, their scales spread
	// over its lanes, as pair32w8 does.
ppair8:
	TESTQ        R12, R12
	JZ           pdone
	PAIRSTEPS8
	VBROADCASTSD (R14), Z8
	VPERMPS      Z8, Z14, Z8
	VBROADCASTSD 8(R14), Z9
	VPERMPS      Z9, Z14, Z9
	VBROADCASTSD (R14)(BX*1), Z18
	VPERMPS      Z18, Z14, Z18
	VBROADCASTSD 8(R14)(BX*1), Z19
	VPERMPS      Z19, Z14, Z19
	VFMADD231PS  Z8, Z4, Z0
	VFMADD231PS  Z9, Z5, Z1
	VFMADD231PS  Z18, Z16, Z20
	VFMADD231PS  Z19, Z17, Z21
	ADDQ         $128, R8
	ADDQ         $128, R13
	ADDQ         $64, R9
	ADDQ         $16, R14
	SUBQ         $128, R12
	JMP          ppair8

	// 8-bit codes with half-precision scales (half): the four scales of
	// the two steps converted at once, then spread as ppair8 does; the
	// same products bit for bit, on two bytes a group less.
ppair8h:
	TESTQ        R12, R12
	JZ           pdone
	PAIRSTEPS8
	VCVTPH2PS    (R14), X9
	VPERMPS      Z9, Z14, Z8
	VPERMPS      Z9, Z28, Z9
	VCVTPH2PS    (R14)(BX*1), X19
	VPERMPS      Z19, Z14, Z18
	VPERMPS      Z19, Z28, Z19
	VFMADD231PS  Z8, Z4, Z0
	VFMADD231PS  Z9, Z5, Z1
	VFMADD231PS  Z18, Z16, Z20
	VFMADD231PS  Z19, Z17, Z21
	ADDQ         $128, R8
	ADDQ         $128, R13
	ADDQ         $64, R9
	ADDQ         $8, R14
	SUBQ         $128, R12
	JMP          ppair8h

pdone:
	// Σ s·z·xsum over the first len(xsum) groups (a multiple of 8), for
	// both rows: R14 and R8 row B's scales and zero points.
	VADDPS        Z1, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	VADDPS        Z21, Z20, Z20
	VEXTRACTF64X4 $1, Z20, Y21
	VADDPS        Y21, Y20, Y20
	MOVQ          xsum_len+80(FP), R12
	SHRQ          $3, R12
	JZ            preduce
	MOVQ          xsum_base+72(FP), R13
	LEAQ          (R11)(BX*1), R14
	MOVQ          zs+136(FP), R8
	MOVQ          dst_len+8(FP), R9
	SHRQ          $1, R9
	IMULQ         R9, R8
	ADDQ          DX, R8
	XORQ          AX, AX
	CMPB          half+153(FP), $0
	JNE           pcorrh

pcorr:
	VMOVUPS (R13)(AX*4), Y12
	ZCORR((DX)(AX*1), (R11)(AX*4), Y22, Y0) // not Y13: the 8-bit byte order
	ZCORR((R8)(AX*1), (R14)(AX*4), Y23, Y20)
	ADDQ    $8, AX
	DECQ    R12
	JNZ     pcorr
	JMP     preduce

pcorrh:
	VMOVUPS (R13)(AX*4), Y12
	ZCORRH((DX)(AX*1), (R11)(AX*2), Y22, Y29, Y0)
	ZCORRH((R8)(AX*1), (R14)(AX*2), Y23, Y30, Y20)
	ADDQ    $8, AX
	DECQ    R12
	JNZ     pcorrh

preduce:
	HSUM8(Y0, X0, X1, (DI))
	VMOVAPS Y20, Y2
	MOVQ    dst_len+8(FP), R9
	SHRQ    $1, R9
	HSUM8(Y2, X2, X3, (DI)(R9*4))
	ADDQ         $4, DI
	ADDQ         wstride+104(FP), R10
	MOVQ         ss+120(FP), AX
	CMPB         half+153(FP), $0
	JNE          padvance
	SHLQ         $1, AX

padvance:
	LEAQ         (R11)(AX*2), R11
	ADDQ         zs+136(FP), DX
	DECQ         CX
	JMP          prow

pend:
	VZEROUPPER
	RET
