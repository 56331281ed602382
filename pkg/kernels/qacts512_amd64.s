//go:build !purego

#include "textflag.h"

// func quantizeActsAVX512(xq []int8, dx, bsum, x []float32)
//
// The block loop of quantizeActs for len(x) a multiple of 64, with the
// same arithmetic (so the same codes): per block of 32 the maximum |x|,
// d = amax/127 and id = 127/amax in float32, q = trunc(x·id ± 0.5)
// clamped to ±127, the even positions of the block at xq[s0+16h…] and the
// odd ones at xq[s0+32+16h…], d four times at dx[s0/8+4h…], and
// bsum[b] = d·Σq (the caller adds the blocks into its groups). A block
// whose maximum is not finite gets d = NaN and id = 0, as in the Go code.
//
// Registers: Z0/Z1 the block, Z2/Z3 scratch, Z4 the abs mask, Z5 0.5,
// Z6/Z7 the bounds 127 and −127, Z8/Z9 the even and odd indexes, X12 d,
// Z13 id, K1–K3 NaN masks; R8 the block, R11 MaxFloat32's bits.
DATA ·evenOdd16+0(SB)/4, $0
DATA ·evenOdd16+4(SB)/4, $2
DATA ·evenOdd16+8(SB)/4, $4
DATA ·evenOdd16+12(SB)/4, $6
DATA ·evenOdd16+16(SB)/4, $8
DATA ·evenOdd16+20(SB)/4, $10
DATA ·evenOdd16+24(SB)/4, $12
DATA ·evenOdd16+28(SB)/4, $14
DATA ·evenOdd16+32(SB)/4, $16
DATA ·evenOdd16+36(SB)/4, $18
DATA ·evenOdd16+40(SB)/4, $20
DATA ·evenOdd16+44(SB)/4, $22
DATA ·evenOdd16+48(SB)/4, $24
DATA ·evenOdd16+52(SB)/4, $26
DATA ·evenOdd16+56(SB)/4, $28
DATA ·evenOdd16+60(SB)/4, $30
// evenOdd16 holds the even indexes 0, 2, …, 30: VPERMI2D with it picks the
// even lanes of two registers (adding 1 gives the odd ones); the
// re-quantization kernel uses it too.
GLOBL ·evenOdd16(SB), RODATA|NOPTR, $64

TEXT ·quantizeActsAVX512(SB), NOSPLIT, $0-96
	MOVQ xq_base+0(FP), DI
	MOVQ dx_base+24(FP), R9
	MOVQ bsum_base+48(FP), R10
	MOVQ x_base+72(FP), SI
	MOVQ x_len+80(FP), CX
	SHRQ $5, CX

	MOVL         $0x7fffffff, AX
	VMOVD        AX, X4
	VPBROADCASTD X4, Z4
	MOVL         $0x3f000000, AX       // 0.5
	VMOVD        AX, X5
	VPBROADCASTD X5, Z5
	MOVL         $0x42fe0000, AX       // 127
	VMOVD        AX, X6
	VPBROADCASTD X6, Z6
	MOVL         $0xc2fe0000, AX       // −127
	VMOVD        AX, X7
	VPBROADCASTD X7, Z7
	VMOVDQU32    ·evenOdd16(SB), Z8
	MOVL         $1, AX
	VMOVD        AX, X9
	VPBROADCASTD X9, Z9
	VPADDD       Z9, Z8, Z9            // odd indexes
	MOVL         $0x7f7fffff, R11      // MaxFloat32
	XORQ         R8, R8                // block index

block:
	TESTQ CX, CX
	JZ    done
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1

	// amax, with any NaN of the block making it NaN (Go's max).
	VANDPS        Z4, Z0, Z2
	VANDPS        Z4, Z1, Z3
	VMAXPS        Z3, Z2, Z10
	VCMPPS        $3, Z3, Z2, K1       // unordered: a NaN in either
	VEXTRACTF64X4 $1, Z10, Y11
	VMAXPS        Y11, Y10, Y10
	VEXTRACTF128  $1, Y10, X11
	VMAXPS        X11, X10, X10
	VPERMILPS     $0x4e, X10, X11
	VMAXPS        X11, X10, X10
	VPERMILPS     $0xb1, X10, X11
	VMAXPS        X11, X10, X10        // X10[0] = max over finite lanes
	KORTESTW      K1, K1
	JNZ           nonfinite
	VMOVD         X10, AX
	CMPL          AX, R11
	JA            nonfinite            // +Inf (bit patterns above MaxFloat32)
	TESTL         AX, AX
	JZ            zero

	// d = amax/127, id = 127/amax.
	VDIVSS       X6, X10, X12          // d
	VDIVSS       X10, X6, X13          // id
	VBROADCASTSS X13, Z13
	VMULPS       Z13, Z0, Z0
	VMULPS       Z13, Z1, Z1
	JMP          round

nonfinite:
	MOVL         $0x7fc00000, AX       // NaN
	VMOVD        AX, X12
	VPXORD       Z13, Z13, Z13         // id = 0
	VMULPS       Z13, Z0, Z0
	VMULPS       Z13, Z1, Z1
	JMP          round

zero:
	VXORPS X12, X12, X12
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1

round:
	// q = trunc(clamp(f ± 0.5, ±127)); NaN lanes (f unordered) give 0.
	VCMPPS        $7, Z0, Z0, K2       // ordered
	VCMPPS        $7, Z1, Z1, K3
	VANDNPS       Z0, Z4, Z2           // sign of f
	VORPS         Z5, Z2, Z2           // ±0.5
	VADDPS        Z2, Z0, Z0
	VANDNPS       Z1, Z4, Z3
	VORPS         Z5, Z3, Z3
	VADDPS        Z3, Z1, Z1
	VMINPS        Z6, Z0, Z0
	VMAXPS        Z7, Z0, Z0
	VMINPS        Z6, Z1, Z1
	VMAXPS        Z7, Z1, Z1
	VCVTTPS2DQ    Z0, K2, Z0
	VCVTTPS2DQ    Z1, K3, Z1
	KNOTW         K2, K2
	KNOTW         K3, K3
	VPXORD        Z2, Z2, Z2
	VMOVDQA32     Z2, K2, Z0
	VMOVDQA32     Z2, K3, Z1

	// Even and odd positions, narrowed to bytes.
	VMOVDQA32 Z8, Z2
	VPERMI2D  Z1, Z0, Z2
	VMOVDQA32 Z9, Z3
	VPERMI2D  Z1, Z0, Z3

	// Output offsets: s0 = (b &^ 1)*32, h = b & 1.
	MOVQ  R8, AX
	ANDQ  $-2, AX
	SHLQ  $5, AX                       // s0
	MOVQ  R8, BX
	ANDQ  $1, BX
	SHLQ  $4, BX                       // 16h
	LEAQ  (DI)(AX*1), DX
	ADDQ  BX, DX
	VPMOVDB Z2, X2                     // to registers: VPMOVDB to memory is microcoded on Zen 4/5
	VPMOVDB Z3, X3
	VMOVDQU X2, (DX)
	VMOVDQU X3, 32(DX)
	SHRQ  $3, AX                       // s0/8
	SHRQ  $2, BX                       // 4h
	ADDQ  BX, AX
	VBROADCASTSS X12, X14
	VMOVUPS X14, (R9)(AX*4)

	// bsum[b] = d·Σq.
	VPADDD        Z1, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDD        Y1, Y0, Y0
	VEXTRACTI128  $1, Y0, X1
	VPADDD        X1, X0, X0
	VPSHUFD       $0x4e, X0, X1
	VPADDD        X1, X0, X0
	VPSHUFD       $0xb1, X0, X1
	VPADDD        X1, X0, X0
	VCVTDQ2PS     X0, X0
	VMULSS        X0, X12, X0
	VMOVSS        X0, (R10)(R8*4)

	ADDQ $128, SI
	INCQ R8
	DECQ CX
	JMP  block

done:
	VZEROUPPER
	RET
