//go:build !purego

#include "textflag.h"

// func requant4G32AVX512(dst *byte, scales *float32, zeros *byte, w *byte, bf16 bool, d *float32, k int, f16 bool, tmp *float32) bool
//
// TTQ's per-request re-quantization of one row, fused: Ŵ = Q(W·D) on the
// 4-bit minmax grid in groups of 32, for k a multiple of 512 (16 groups
// per vector of group parameters). It computes what quantizeRowScaled
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
// k + 2·k/32 floats.
//
// Registers: Z20 1e-5, Z21 15, Z22 65504, Z23 zero, Z24 the sign bit,
// Z25/Z26 the even/odd indexes, Z27 the abs mask, Z28 +Inf; K3 collects
// non-finite lanes.

#define BCONST(val, z, x) \
	MOVL         val, AX; \
	VMOVD        AX, x;   \
	VPBROADCASTD x, z

// HMIN/HMAX reduce the 16 lanes of z into the low lane of its X register.
#define HREDUCE(op, z, y, x, ty, tx) \
	VEXTRACTF64X4 $1, z, ty;   \
	op            ty, y, y;    \
	VEXTRACTF128  $1, y, tx;   \
	op            tx, x, x;    \
	VPERMILPS     $0x4e, x, tx; \
	op            tx, x, x;    \
	VPERMILPS     $0xb1, x, tx; \
	op            tx, x, x

TEXT ·requant4G32AVX512(SB), NOSPLIT, $0-73
	BCONST($0x3727c5ac, Z20, X20)    // 1e-5
	BCONST($0x41700000, Z21, X21)    // 15
	BCONST($0x477fe000, Z22, X22)    // 65504
	VPXORD Z23, Z23, Z23
	BCONST($0x80000000, Z24, X24)
	VMOVDQU32 ·evenOdd16(SB), Z25
	BCONST($1, Z26, X26)
	VPADDD Z25, Z26, Z26
	BCONST($0x7fffffff, Z27, X27)
	BCONST($0x7f800000, Z28, X28)    // +Inf
	KXORW  K3, K3, K3

	MOVQ w+24(FP), R8
	MOVQ d+40(FP), R9
	MOVQ tmp+64(FP), R10
	MOVQ k+48(FP), CX
	LEAQ (R10)(CX*4), R11            // lo = tmp[k:]
	SHRQ $5, CX                      // groups
	LEAQ (R11)(CX*4), R12            // hi = lo[ng:]
	XORQ BX, BX

pass1:
	CMPQ BX, CX
	JGE  check
	CMPB bf16+32(FP), $0
	JEQ  loadf32
	VPMOVZXWD (R8), Z0
	VPMOVZXWD 32(R8), Z1
	VPSLLD    $16, Z0, Z0
	VPSLLD    $16, Z1, Z1
	ADDQ      $64, R8
	JMP       scaled

loadf32:
	VMOVUPS (R8), Z0
	VMOVUPS 64(R8), Z1
	ADDQ    $128, R8

scaled:
	VMULPS  (R9), Z0, Z0
	VMULPS  64(R9), Z1, Z1
	ADDQ    $128, R9
	VMOVUPS Z0, (R10)
	VMOVUPS Z1, 64(R10)
	ADDQ    $128, R10
	VCMPPS  $3, Z1, Z0, K1           // unordered: a NaN in either
	KORW    K1, K3, K3
	VANDPS  Z27, Z0, Z2
	VANDPS  Z27, Z1, Z3
	VCMPPS  $0, Z28, Z2, K1          // |w·d| = +Inf
	KORW    K1, K3, K3
	VCMPPS  $0, Z28, Z3, K1
	KORW    K1, K3, K3
	VMINPS  Z1, Z0, Z2
	VMAXPS  Z1, Z0, Z3
	HREDUCE(VMINPS, Z2, Y2, X2, Y4, X4)
	HREDUCE(VMAXPS, Z3, Y3, X3, Y5, X5)
	VMOVSS  X2, (R11)(BX*4)
	VMOVSS  X3, (R12)(BX*4)
	INCQ    BX
	JMP     pass1

check:
	KORTESTW K3, K3
	JNZ      nan

	// Pass 2: the group parameters, sixteen at a time; scale replaces lo
	// and the zero point (as a float) replaces hi.
	MOVQ scales+8(FP), SI
	MOVQ zeros+16(FP), DX
	XORQ BX, BX

pass2:
	CMPQ      BX, CX
	JGE       pass3init
	VMOVUPS   (R11)(BX*4), Z0        // lo
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
	VMOVUPS     Z2, (SI)(BX*4)
	VMOVUPS     Z2, (R11)(BX*4)
	VMOVUPS     Z4, (R12)(BX*4)
	VCVTTPS2DQ  Z4, Z5
	VPMOVDB     Z5, (DX)(BX*1)
	ADDQ        $16, BX
	JMP         pass2

pass3init:
	MOVQ tmp+64(FP), R10
	MOVQ dst+0(FP), DI
	XORQ BX, BX

pass3:
	CMPQ         BX, CX
	JGE          ok
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
	VPMOVDB      Z2, (DI)
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
