//go:build !purego

#include "textflag.h"

DATA rqabs512<>+0(SB)/8, $0x7fffffffffffffff
GLOBL rqabs512<>(SB), RODATA|NOPTR, $8

// func requant4G32AVX512(dst *byte, scales *float32, zeros *byte, w *byte, bf16 bool, d *float32, k int, f16 bool, tmp *float32) bool
//
// TTQ's per-request re-quantization of one row, fused: Ŵ = Q(W·D) on the
// 4-bit minmax grid in groups of 32, for k a multiple of 256 (eight groups;
// the parameters go sixteen to a vector, the last eight under a mask). It
// computes what quantizeRowScaled
// followed by SetRow computes, bit for bit:
//
//	pass 1, per group: w·d (w bf16 or f32), kept in tmp[:k]; lo, hi
//	pass 2, 16 groups at a time: scale = round(max(hi−lo, 1e-5)/15)
//	        (round: to f16 and back, capped at 65504, when f16), zero =
//	        clamp(−roundEven(lo/scale), 0, 15); scales, zeros stored
//	pass 3, per group: codes clamp(roundEven(w/scale) + zero, 0, 15),
//	        packed two per byte, low nibble first
//
// and returns false, having stored nothing, when w·d holds a NaN or an
// infinity (the caller's scalar path propagates them). tmp holds
// k + 2·k/32 + 256 floats.
//
// Pass 1 reduces sixteen groups' ranges at once: a horizontal min and max
// per group (eight shuffles and eight min/max each) was the largest part
// of the kernel. Two groups' lane-wise minima become one vector of their
// four-lane halves (the first level of a transposing reduction, in the
// loop), eight such vectors wait in tmp, and three more levels leave the
// sixteen minima in one vector in the order group u + 4p at lane 4u + p,
// which one VPERMPS undoes. Non-finite values are found by accumulating
// w·d × 0 (NaN for an infinity or a NaN, 0 otherwise) instead of by
// comparisons.
//
// Registers: Z20 1e-5, Z21 15, Z22 65504, Z23 zero, Z24 the sign bit,
// Z25/Z26 the even/odd indexes, Z27 the reduction's lane order, Z28 the
// non-finite accumulator.

DATA transposeOrder16<>+0(SB)/4, $0
DATA transposeOrder16<>+4(SB)/4, $4
DATA transposeOrder16<>+8(SB)/4, $8
DATA transposeOrder16<>+12(SB)/4, $12
DATA transposeOrder16<>+16(SB)/4, $1
DATA transposeOrder16<>+20(SB)/4, $5
DATA transposeOrder16<>+24(SB)/4, $9
DATA transposeOrder16<>+28(SB)/4, $13
DATA transposeOrder16<>+32(SB)/4, $2
DATA transposeOrder16<>+36(SB)/4, $6
DATA transposeOrder16<>+40(SB)/4, $10
DATA transposeOrder16<>+44(SB)/4, $14
DATA transposeOrder16<>+48(SB)/4, $3
DATA transposeOrder16<>+52(SB)/4, $7
DATA transposeOrder16<>+56(SB)/4, $11
DATA transposeOrder16<>+60(SB)/4, $15
GLOBL transposeOrder16<>(SB), RODATA|NOPTR, $64

#define BCONST(val, z, x) \
	MOVL         val, AX; \
	VMOVD        AX, x;   \
	VPBROADCASTD x, z

// HALVES combines the lane-wise extremes a and b of two groups into one
// vector of four-lane partial extremes, a's in the low half: the first
// level of the reduction; t scratch, the result in a.
#define HALVES(op, a, b, t) \
	VSHUFF64X2 $0xee, b, a, t; \
	VSHUFF64X2 $0x44, b, a, a; \
	op         t, a, a

// TREE reduces the eight HALVES vectors at (base) to the sixteen groups'
// extremes, in lane order 4u + p for group u + 4p, into Z0; Z0–Z7 scratch.
#define TREE(op, base) \
	VMOVUPS    0(base), Z0;         \
	VMOVUPS    64(base), Z1;        \
	VSHUFF32X4 $0xdd, Z1, Z0, Z2;   \
	VSHUFF32X4 $0x88, Z1, Z0, Z0;   \
	op         Z2, Z0, Z0;          \
	VMOVUPS    128(base), Z1;       \
	VMOVUPS    192(base), Z3;       \
	VSHUFF32X4 $0xdd, Z3, Z1, Z2;   \
	VSHUFF32X4 $0x88, Z3, Z1, Z1;   \
	op         Z2, Z1, Z1;          \
	VMOVUPS    256(base), Z4;       \
	VMOVUPS    320(base), Z3;       \
	VSHUFF32X4 $0xdd, Z3, Z4, Z2;   \
	VSHUFF32X4 $0x88, Z3, Z4, Z4;   \
	op         Z2, Z4, Z4;          \
	VMOVUPS    384(base), Z5;       \
	VMOVUPS    448(base), Z3;       \
	VSHUFF32X4 $0xdd, Z3, Z5, Z2;   \
	VSHUFF32X4 $0x88, Z3, Z5, Z5;   \
	op         Z2, Z5, Z5;          \
	VSHUFPS    $0xee, Z1, Z0, Z2;   \
	VSHUFPS    $0x44, Z1, Z0, Z0;   \
	op         Z2, Z0, Z0;          \
	VSHUFPS    $0xee, Z5, Z4, Z2;   \
	VSHUFPS    $0x44, Z5, Z4, Z4;   \
	op         Z2, Z4, Z4;          \
	VSHUFPS    $0xdd, Z4, Z0, Z2;   \
	VSHUFPS    $0x88, Z4, Z0, Z0;   \
	op         Z2, Z0, Z0

// RANGES stores the lo and hi of the sixteen (store Z0) or eight (Y0)
// groups ending at group BX, from their HALVES at R13; AX, Z0–Z7 scratch.
#define RANGES(out, off) \
	TREE(VMINPS, R13);          \
	VPERMPS Z0, Z27, Z0;        \
	VMOVUPS out, off(R11)(BX*4); \
	LEAQ    512(R13), AX;       \
	TREE(VMAXPS, AX);           \
	VPERMPS Z0, Z27, Z0;        \
	VMOVUPS out, off(R12)(BX*4)

TEXT ·requant4G32AVX512(SB), NOSPLIT, $0-73
	BCONST($0x3727c5ac, Z20, X20)    // 1e-5
	BCONST($0x41700000, Z21, X21)    // 15
	BCONST($0x477fe000, Z22, X22)    // 65504
	VPXORD Z23, Z23, Z23
	BCONST($0x80000000, Z24, X24)
	VMOVDQU32 ·evenOdd16(SB), Z25
	BCONST($1, Z26, X26)
	VPADDD Z25, Z26, Z26
	VMOVDQU32 transposeOrder16<>(SB), Z27
	VPXORD Z28, Z28, Z28

	MOVQ w+24(FP), R8
	MOVQ d+40(FP), R9
	MOVQ tmp+64(FP), R10
	MOVQ k+48(FP), CX
	LEAQ (R10)(CX*4), R11            // lo = tmp[k:]
	SHRQ $5, CX                      // groups
	LEAQ (R11)(CX*4), R12            // hi = lo[ng:]
	LEAQ (R12)(CX*4), R13            // the HALVES of sixteen groups: minima, then maxima
	XORQ BX, BX

pass1:
	CMPQ BX, CX
	JGE  tail
	CMPB bf16+32(FP), $0
	JEQ  loadf32
	VPMOVZXWD (R8), Z0
	VPMOVZXWD 32(R8), Z1
	VPMOVZXWD 64(R8), Z2
	VPMOVZXWD 96(R8), Z3
	VPSLLD    $16, Z0, Z0
	VPSLLD    $16, Z1, Z1
	VPSLLD    $16, Z2, Z2
	VPSLLD    $16, Z3, Z3
	ADDQ      $128, R8
	JMP       scaled

loadf32:
	VMOVUPS (R8), Z0
	VMOVUPS 64(R8), Z1
	VMOVUPS 128(R8), Z2
	VMOVUPS 192(R8), Z3
	ADDQ    $256, R8

scaled:
	// Two groups: Z0, Z1 the first, Z2, Z3 the second.
	VMULPS      (R9), Z0, Z0
	VMULPS      64(R9), Z1, Z1
	VMULPS      128(R9), Z2, Z2
	VMULPS      192(R9), Z3, Z3
	ADDQ        $256, R9
	VMOVUPS     Z0, (R10)
	VMOVUPS     Z1, 64(R10)
	VMOVUPS     Z2, 128(R10)
	VMOVUPS     Z3, 192(R10)
	ADDQ        $256, R10
	VFMADD231PS Z23, Z0, Z28
	VFMADD231PS Z23, Z1, Z28
	VFMADD231PS Z23, Z2, Z28
	VFMADD231PS Z23, Z3, Z28
	VMINPS      Z1, Z0, Z4
	VMINPS      Z3, Z2, Z5
	VMAXPS      Z1, Z0, Z6
	VMAXPS      Z3, Z2, Z7
	HALVES(VMINPS, Z4, Z5, Z8)
	HALVES(VMAXPS, Z6, Z7, Z9)
	MOVQ        BX, AX
	ANDQ        $15, AX
	SHLQ        $5, AX                // the pair's slot: 64 bytes per pair
	VMOVUPS     Z4, (R13)(AX*1)
	VMOVUPS     Z6, 512(R13)(AX*1)
	ADDQ        $2, BX
	TESTQ       $15, BX
	JNZ         pass1

	// Sixteen groups done: their lo and hi.
	RANGES(Z0, -64)
	JMP         pass1

tail:
	// Eight groups left over (k an odd multiple of 256): the reduction
	// leaves their extremes in the low lanes, the other eight lanes
	// reducing stale slots.
	TESTQ       $15, BX
	JZ          check
	RANGES(Y0, -32)

check:
	VCMPPS   $3, Z28, Z28, K3         // unordered: some w·d was not finite
	KORTESTW K3, K3
	JNZ      nan

	// Pass 2: the group parameters, sixteen at a time; scale replaces lo
	// and the zero point (as a float) replaces hi.
	MOVQ scales+8(FP), SI
	MOVQ zeros+16(FP), DX
	XORQ BX, BX

	MOVL $0xffff, AX
	KMOVW AX, K4

pass2:
	CMPQ      BX, CX
	JGE       pass3init
	MOVQ      CX, AX
	SUBQ      BX, AX
	CMPQ      AX, $16
	JGE       full
	MOVL      $0xff, AX              // the last eight groups: their lanes only
	KMOVW     AX, K4

full:
	VMOVUPS   (R11)(BX*4), Z0        // lo; past the last group it reads on into tmp
	VMOVUPS   (R12)(BX*4), Z1        // hi
	VSUBPS    Z0, Z1, Z2
	VMAXPS    Z20, Z2, Z2
	VDIVPS    Z21, Z2, Z2
	CMPB      f16+56(FP), $0
	JEQ       params
	VCVTPS2PH $0, Z2, Y3
	VCVTPH2PS Y3, Z2
	VMINPS    Z22, Z2, Z2

params:
	VDIVPS      Z2, Z0, Z4           // lo/scale
	VRNDSCALEPS $0, Z4, Z4
	VXORPS      Z24, Z4, Z4          // −roundEven(lo/scale)
	VMAXPS      Z23, Z4, Z4
	VMINPS      Z21, Z4, Z4
	VMOVUPS     Z2, K4, (SI)(BX*4)
	VMOVUPS     Z2, K4, (R11)(BX*4)
	VMOVUPS     Z4, K4, (R12)(BX*4)
	VCVTTPS2DQ  Z4, Z5
	VPMOVDB     Z5, X5
	VMOVDQU8    X5, K4, (DX)(BX*1)
	ADDQ        $16, BX
	JMP         pass2

pass3init:
	MOVQ tmp+64(FP), R10
	MOVQ dst+0(FP), DI
	XORQ BX, BX
	// R8 is the next row's weights, which the caller reads next: pass 3
	// touches no memory but tmp, so it asks for them a group at a time
	// (R15 bytes: 64 of bfloat16, 128 of float32). Without it every row
	// started with a cold stream (a 21 MB matrix from L3: 0.29 ns a
	// weight, from L2: 0.16); BenchmarkRequantRow4G32, weights from
	// memory, went 0.45 → 0.34 ns with this and the batched ranges.
	MOVQ $64, R15
	CMPB bf16+32(FP), $0
	JNE  pass3
	MOVQ $128, R15

pass3:
	CMPQ         BX, CX
	JGE          ok
	PREFETCHT0   (R8)
	PREFETCHT0   64(R8)
	ADDQ         R15, R8
	VBROADCASTSS (R11)(BX*4), Z5
	VBROADCASTSS (R12)(BX*4), Z6
	VMOVUPS      (R10), Z0
	VMOVUPS      64(R10), Z1
	ADDQ         $128, R10
	VDIVPS       Z5, Z0, Z0
	VDIVPS       Z5, Z1, Z1
	VRNDSCALEPS  $0, Z0, Z0
	VRNDSCALEPS  $0, Z1, Z1
	VADDPS       Z6, Z0, Z0
	VADDPS       Z6, Z1, Z1
	VMAXPS       Z23, Z0, Z0
	VMAXPS       Z23, Z1, Z1
	VMINPS       Z21, Z0, Z0
	VMINPS       Z21, Z1, Z1
	VCVTTPS2DQ   Z0, Z0
	VCVTTPS2DQ   Z1, Z1
	VMOVDQA32    Z25, Z2
	VPERMI2D     Z1, Z0, Z2          // even codes
	VMOVDQA32    Z26, Z3
	VPERMI2D     Z1, Z0, Z3          // odd codes
	VPSLLD       $4, Z3, Z3
	VPORD        Z3, Z2, Z2
	VPMOVDB      Z2, X2              // to a register: VPMOVDB to memory is microcoded on Zen 4/5
	VMOVDQU      X2, (DI)
	ADDQ         $16, DI
	INCQ         BX
	JMP          pass3

ok:
	MOVB $1, ret+72(FP)
	VZEROUPPER
	RET

nan:
	MOVB $0, ret+72(FP)
	VZEROUPPER
	RET

// func colStatAVX512(dst []float64, x []float32, stride, rows int, abs bool)
// colStatAVX2 for len(dst) a multiple of 128: 128 columns at a time in
// sixteen accumulators, rows in order, so that each row step reads 512
// contiguous bytes and sixteen FMA chains hide their latency. The AVX2
// kernel's sixteen columns (one line per row, a row apart) ran at half a
// column-row per cycle, bound by the strided loads (#9). Twin:
// colStatGeneric.
TEXT ·colStatAVX512(SB), NOSPLIT, $0-65
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         x_base+24(FP), SI
	MOVQ         stride+48(FP), R8
	SHLQ         $2, R8
	MOVQ         rows+56(FP), R9
	MOVBLZX      abs+64(FP), R10
	VBROADCASTSD rqabs512<>(SB), Z31

cs512block:
	VMOVUPD 0(DI), Z0
	VMOVUPD 64(DI), Z1
	VMOVUPD 128(DI), Z2
	VMOVUPD 192(DI), Z3
	VMOVUPD 256(DI), Z4
	VMOVUPD 320(DI), Z5
	VMOVUPD 384(DI), Z6
	VMOVUPD 448(DI), Z7
	VMOVUPD 512(DI), Z8
	VMOVUPD 576(DI), Z9
	VMOVUPD 640(DI), Z10
	VMOVUPD 704(DI), Z11
	VMOVUPD 768(DI), Z12
	VMOVUPD 832(DI), Z13
	VMOVUPD 896(DI), Z14
	VMOVUPD 960(DI), Z15
	MOVQ    SI, AX
	MOVQ    R9, BX
	TESTQ   R10, R10
	JNZ     cs512abs

cs512sq:
	VCVTPS2PD   0(AX), Z16
	VFMADD231PD Z16, Z16, Z0
	VCVTPS2PD   32(AX), Z17
	VFMADD231PD Z17, Z17, Z1
	VCVTPS2PD   64(AX), Z18
	VFMADD231PD Z18, Z18, Z2
	VCVTPS2PD   96(AX), Z19
	VFMADD231PD Z19, Z19, Z3
	VCVTPS2PD   128(AX), Z20
	VFMADD231PD Z20, Z20, Z4
	VCVTPS2PD   160(AX), Z21
	VFMADD231PD Z21, Z21, Z5
	VCVTPS2PD   192(AX), Z22
	VFMADD231PD Z22, Z22, Z6
	VCVTPS2PD   224(AX), Z23
	VFMADD231PD Z23, Z23, Z7
	VCVTPS2PD   256(AX), Z16
	VFMADD231PD Z16, Z16, Z8
	VCVTPS2PD   288(AX), Z17
	VFMADD231PD Z17, Z17, Z9
	VCVTPS2PD   320(AX), Z18
	VFMADD231PD Z18, Z18, Z10
	VCVTPS2PD   352(AX), Z19
	VFMADD231PD Z19, Z19, Z11
	VCVTPS2PD   384(AX), Z20
	VFMADD231PD Z20, Z20, Z12
	VCVTPS2PD   416(AX), Z21
	VFMADD231PD Z21, Z21, Z13
	VCVTPS2PD   448(AX), Z22
	VFMADD231PD Z22, Z22, Z14
	VCVTPS2PD   480(AX), Z23
	VFMADD231PD Z23, Z23, Z15
	ADDQ        R8, AX
	DECQ        BX
	JNZ         cs512sq
	JMP         cs512store

cs512abs:
	VCVTPS2PD 0(AX), Z16
	VANDPD    Z31, Z16, Z16
	VADDPD    Z16, Z0, Z0
	VCVTPS2PD 32(AX), Z17
	VANDPD    Z31, Z17, Z17
	VADDPD    Z17, Z1, Z1
	VCVTPS2PD 64(AX), Z18
	VANDPD    Z31, Z18, Z18
	VADDPD    Z18, Z2, Z2
	VCVTPS2PD 96(AX), Z19
	VANDPD    Z31, Z19, Z19
	VADDPD    Z19, Z3, Z3
	VCVTPS2PD 128(AX), Z20
	VANDPD    Z31, Z20, Z20
	VADDPD    Z20, Z4, Z4
	VCVTPS2PD 160(AX), Z21
	VANDPD    Z31, Z21, Z21
	VADDPD    Z21, Z5, Z5
	VCVTPS2PD 192(AX), Z22
	VANDPD    Z31, Z22, Z22
	VADDPD    Z22, Z6, Z6
	VCVTPS2PD 224(AX), Z23
	VANDPD    Z31, Z23, Z23
	VADDPD    Z23, Z7, Z7
	VCVTPS2PD 256(AX), Z16
	VANDPD    Z31, Z16, Z16
	VADDPD    Z16, Z8, Z8
	VCVTPS2PD 288(AX), Z17
	VANDPD    Z31, Z17, Z17
	VADDPD    Z17, Z9, Z9
	VCVTPS2PD 320(AX), Z18
	VANDPD    Z31, Z18, Z18
	VADDPD    Z18, Z10, Z10
	VCVTPS2PD 352(AX), Z19
	VANDPD    Z31, Z19, Z19
	VADDPD    Z19, Z11, Z11
	VCVTPS2PD 384(AX), Z20
	VANDPD    Z31, Z20, Z20
	VADDPD    Z20, Z12, Z12
	VCVTPS2PD 416(AX), Z21
	VANDPD    Z31, Z21, Z21
	VADDPD    Z21, Z13, Z13
	VCVTPS2PD 448(AX), Z22
	VANDPD    Z31, Z22, Z22
	VADDPD    Z22, Z14, Z14
	VCVTPS2PD 480(AX), Z23
	VANDPD    Z31, Z23, Z23
	VADDPD    Z23, Z15, Z15
	ADDQ      R8, AX
	DECQ      BX
	JNZ       cs512abs

cs512store:
	VMOVUPD Z0, 0(DI)
	VMOVUPD Z1, 64(DI)
	VMOVUPD Z2, 128(DI)
	VMOVUPD Z3, 192(DI)
	VMOVUPD Z4, 256(DI)
	VMOVUPD Z5, 320(DI)
	VMOVUPD Z6, 384(DI)
	VMOVUPD Z7, 448(DI)
	VMOVUPD Z8, 512(DI)
	VMOVUPD Z9, 576(DI)
	VMOVUPD Z10, 640(DI)
	VMOVUPD Z11, 704(DI)
	VMOVUPD Z12, 768(DI)
	VMOVUPD Z13, 832(DI)
	VMOVUPD Z14, 896(DI)
	VMOVUPD Z15, 960(DI)
	ADDQ    $1024, DI
	ADDQ    $512, SI
	SUBQ    $128, CX
	JNZ     cs512block
	VZEROUPPER
	RET
