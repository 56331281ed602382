//go:build !purego

#include "textflag.h"

// Constants of expf32 (exp.go), broadcast from memory.
DATA expc<>+0(SB)/4, $0x3fb8aa3b  // log2(e)
DATA expc<>+4(SB)/4, $0x3f318000  // ln2 hi = 0.693359375
DATA expc<>+8(SB)/4, $0xb95e8083  // ln2 lo = -2.12194440e-4
DATA expc<>+12(SB)/4, $0x39506967 // p0 = 1.9875691500e-4
DATA expc<>+16(SB)/4, $0x3ab743ce // p1 = 1.3981999507e-3
DATA expc<>+20(SB)/4, $0x3c088908 // p2 = 8.3334519073e-3
DATA expc<>+24(SB)/4, $0x3d2aa9c1 // p3 = 4.1665795894e-2
DATA expc<>+28(SB)/4, $0x3e2aaaaa // p4 = 1.6666665459e-1
DATA expc<>+32(SB)/4, $0x3f000000 // p5 = 0.5 (5.0000001201e-1 rounds to it)
DATA expc<>+36(SB)/4, $0x3f800000 // 1
DATA expc<>+40(SB)/4, $0xc2ae0000 // lower clamp -87
DATA expc<>+44(SB)/4, $0x3f000000 // 0.5
DATA expc<>+48(SB)/4, $0x42b00000 // upper clamp 88
GLOBL expc<>(SB), RODATA|NOPTR, $52

// func expSumAVX2(dst, src []float32, shift float32) float32
// dst[i] = exp(src[i] - shift) for the first len(src) &^ 7 elements, and
// returns their sum. Arguments are clamped to [-87, 88]: e^-87 ≈ 1.6e-38 is
// far below anything a softmax row can resolve next to its maximum (which
// contributes 1), and e^88 ≈ 1.7e38 keeps 2^n inside the exponent range
// (callers needing +Inf beyond that use expf32). The polynomial is the one
// of expf32.
TEXT ·expSumAVX2(SB), NOSPLIT, $0-60
	MOVQ         dst_base+0(FP), DI
	MOVQ         src_base+24(FP), SI
	MOVQ         src_len+32(FP), CX
	ANDQ         $-8, CX
	VBROADCASTSS shift+48(FP), Y15
	VBROADCASTSS expc<>+0(SB), Y14  // log2e
	VBROADCASTSS expc<>+4(SB), Y13  // ln2hi
	VBROADCASTSS expc<>+8(SB), Y12  // ln2lo
	VBROADCASTSS expc<>+36(SB), Y11 // 1
	VBROADCASTSS expc<>+40(SB), Y10 // -87
	VBROADCASTSS expc<>+44(SB), Y9  // 0.5
	VBROADCASTSS expc<>+48(SB), Y7  // 88
	VXORPS       Y8, Y8, Y8         // sum
	XORQ         AX, AX

loop:
	CMPQ AX, CX
	JGE  done
	VMOVUPS (SI)(AX*4), Y0
	VSUBPS  Y15, Y0, Y0          // x = src - shift
	VMAXPS  Y10, Y0, Y0          // clamp below
	VMINPS  Y7, Y0, Y0           // and above
	VMOVAPS Y9, Y1
	VFMADD231PS Y14, Y0, Y1      // fx = x*log2e + 0.5
	VROUNDPS $1, Y1, Y1          // n = floor(fx)
	VFNMADD231PS Y13, Y1, Y0     // r = x - n*ln2hi
	VFNMADD231PS Y12, Y1, Y0     // r -= n*ln2lo
	VBROADCASTSS expc<>+12(SB), Y2
	VBROADCASTSS expc<>+16(SB), Y3
	VFMADD213PS Y3, Y0, Y2       // p = p*r + p1
	VBROADCASTSS expc<>+20(SB), Y3
	VFMADD213PS Y3, Y0, Y2
	VBROADCASTSS expc<>+24(SB), Y3
	VFMADD213PS Y3, Y0, Y2
	VBROADCASTSS expc<>+28(SB), Y3
	VFMADD213PS Y3, Y0, Y2
	VFMADD213PS Y9, Y0, Y2       // p = p*r + 0.5
	VMULPS  Y0, Y0, Y4           // r²
	VADDPS  Y11, Y0, Y5          // r + 1
	VFMADD231PS Y4, Y2, Y5       // y = p*r² + r + 1
	VCVTTPS2DQ Y1, Y6            // n as int32
	VPSLLD  $23, Y6, Y6
	VPADDD  Y11, Y6, Y6          // bits of 1.0 + (n << 23) = 2^n
	VMULPS  Y6, Y5, Y5
	VMOVUPS Y5, (DI)(AX*4)
	VADDPS  Y5, Y8, Y8
	ADDQ    $8, AX
	JMP     loop

done:
	VEXTRACTF128 $1, Y8, X0
	VADDPS       X0, X8, X0
	VMOVHLPS     X0, X0, X1
	VADDPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+56(FP)
	RET

// func scaleMaxAVX2(x []float32, s float32) float32
// x[i] *= s for the first len(x) &^ 7 elements (len(x) ≥ 8), returning the
// largest product: SoftmaxInPlace's scaling, maximum and normalization
// passes, which scalar Go ran at a few cycles an element (decode attention
// on a 1,024-position cache: 12-15 µs of softmax against 9 µs of scores).
TEXT ·scaleMaxAVX2(SB), NOSPLIT, $0-36
	MOVQ         x_base+0(FP), SI
	MOVQ         x_len+8(FP), CX
	ANDQ         $-8, CX
	VBROADCASTSS s+24(FP), Y0
	VMULPS       (SI), Y0, Y1
	VMOVUPS      Y1, (SI)
	VMOVAPS      Y1, Y2
	VMOVAPS      Y1, Y3
	VMOVAPS      Y1, Y4
	ADDQ         $32, SI
	SUBQ         $8, CX

scaleMax32:
	CMPQ    CX, $32
	JL      scaleMax8
	VMULPS  (SI), Y0, Y5
	VMULPS  32(SI), Y0, Y6
	VMULPS  64(SI), Y0, Y7
	VMULPS  96(SI), Y0, Y8
	VMOVUPS Y5, (SI)
	VMOVUPS Y6, 32(SI)
	VMOVUPS Y7, 64(SI)
	VMOVUPS Y8, 96(SI)
	VMAXPS  Y5, Y1, Y1
	VMAXPS  Y6, Y2, Y2
	VMAXPS  Y7, Y3, Y3
	VMAXPS  Y8, Y4, Y4
	ADDQ    $128, SI
	SUBQ    $32, CX
	JMP     scaleMax32

scaleMax8:
	CMPQ    CX, $8
	JL      scaleMaxDone
	VMULPS  (SI), Y0, Y5
	VMOVUPS Y5, (SI)
	VMAXPS  Y5, Y1, Y1
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     scaleMax8

scaleMaxDone:
	VMAXPS       Y2, Y1, Y1
	VMAXPS       Y4, Y3, Y3
	VMAXPS       Y3, Y1, Y1
	VEXTRACTF128 $1, Y1, X2
	VMAXPS       X2, X1, X1
	VPERMILPS    $0x4e, X1, X2
	VMAXPS       X2, X1, X1
	VPERMILPS    $0xb1, X1, X2
	VMAXPS       X2, X1, X1
	VMOVSS       X1, ret+32(FP)
	VZEROUPPER
	RET
