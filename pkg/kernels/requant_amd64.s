//go:build !purego

#include "textflag.h"

// Calibration kernels of requant.go; each has its pure-Go twin there.

DATA rqabs<>+0(SB)/8, $0x7fffffffffffffff
GLOBL rqabs<>(SB), RODATA|NOPTR, $8

DATA rqpinf<>+0(SB)/4, $0x7f800000
GLOBL rqpinf<>(SB), RODATA|NOPTR, $4

DATA rqninf<>+0(SB)/4, $0xff800000
GLOBL rqninf<>(SB), RODATA|NOPTR, $4

DATA rqpack<>+0(SB)/2, $0x1001
GLOBL rqpack<>(SB), RODATA|NOPTR, $2

// func colStatAVX2(dst []float64, x []float32, stride, rows int, abs bool)
// dst[c] += Σ_r x[r*stride+c]² (|x| when abs) for c < len(dst), a
// multiple of 16: sixteen columns at a time in four accumulators, rows in
// order. Twin: colStatGeneric.
TEXT ·colStatAVX2(SB), NOSPLIT, $0-65
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         x_base+24(FP), SI
	MOVQ         stride+48(FP), R8
	SHLQ         $2, R8
	MOVQ         rows+56(FP), R9
	MOVBLZX      abs+64(FP), R10
	VBROADCASTSD rqabs<>(SB), Y15

block:
	VMOVUPD (DI), Y0
	VMOVUPD 32(DI), Y1
	VMOVUPD 64(DI), Y2
	VMOVUPD 96(DI), Y3
	MOVQ    SI, AX
	MOVQ    R9, BX
	TESTQ   R10, R10
	JNZ     absrow

sqrow:
	VCVTPS2PD   (AX), Y4
	VCVTPS2PD   16(AX), Y5
	VCVTPS2PD   32(AX), Y6
	VCVTPS2PD   48(AX), Y7
	VFMADD231PD Y4, Y4, Y0
	VFMADD231PD Y5, Y5, Y1
	VFMADD231PD Y6, Y6, Y2
	VFMADD231PD Y7, Y7, Y3
	ADDQ        R8, AX
	DECQ        BX
	JNZ         sqrow
	JMP         store

absrow:
	VCVTPS2PD (AX), Y4
	VCVTPS2PD 16(AX), Y5
	VCVTPS2PD 32(AX), Y6
	VCVTPS2PD 48(AX), Y7
	VANDPD    Y15, Y4, Y4
	VANDPD    Y15, Y5, Y5
	VANDPD    Y15, Y6, Y6
	VANDPD    Y15, Y7, Y7
	VADDPD    Y4, Y0, Y0
	VADDPD    Y5, Y1, Y1
	VADDPD    Y6, Y2, Y2
	VADDPD    Y7, Y3, Y3
	ADDQ      R8, AX
	DECQ      BX
	JNZ       absrow

store:
	VMOVUPD Y0, (DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	ADDQ    $128, DI
	ADDQ    $64, SI
	SUBQ    $16, CX
	JNZ     block
	VZEROUPPER
	RET

// MMREDUCE leaves the minimum of Y2 in X2 and the maximum of Y3 in X3,
// and sets nan when any lane of Y4 is set.
#define MMREDUCE(loff, hoff, noff) \
	VEXTRACTF128 $1, Y2, X0;    \
	VMINPS       X0, X2, X2;    \
	VEXTRACTF128 $1, Y3, X1;    \
	VMAXPS       X1, X3, X3;    \
	VPERMILPS    $0x4e, X2, X0; \
	VMINPS       X0, X2, X2;    \
	VPERMILPS    $0x4e, X3, X1; \
	VMAXPS       X1, X3, X3;    \
	VPERMILPS    $0xb1, X2, X0; \
	VMINPS       X0, X2, X2;    \
	VPERMILPS    $0xb1, X3, X1; \
	VMAXPS       X1, X3, X3;    \
	MOVSS        X2, lo+loff(FP); \
	MOVSS        X3, hi+hoff(FP); \
	VMOVMSKPS    Y4, AX;        \
	TESTL        AX, AX;        \
	SETNE        nan+noff(FP); \
	VZEROUPPER;                 \
	RET

// func scaleMinMaxAVX2(w []float32, d *float32) (lo, hi float32, nan bool)
// w[i] *= d[i] for i < len(w), a multiple of 8, then the least and
// greatest element and whether one is a NaN. Twin: scaleMinMaxGeneric.
TEXT ·scaleMinMaxAVX2(SB), NOSPLIT, $0-41
	MOVQ         w_base+0(FP), SI
	MOVQ         w_len+8(FP), CX
	MOVQ         d+24(FP), DX
	VBROADCASTSS rqpinf<>(SB), Y2
	VBROADCASTSS rqninf<>(SB), Y3
	VXORPS       Y4, Y4, Y4

smm:
	VMOVUPS (SI), Y0
	VMULPS  (DX), Y0, Y0
	VMOVUPS Y0, (SI)
	VMINPS  Y0, Y2, Y2
	VMAXPS  Y0, Y3, Y3
	VCMPPS  $3, Y0, Y0, Y1
	VORPS   Y1, Y4, Y4
	ADDQ    $32, SI
	ADDQ    $32, DX
	SUBQ    $8, CX
	JNZ     smm
	MMREDUCE(32, 36, 40)

// func minMaxAVX2(w []float32) (lo, hi float32, nan bool)
// scaleMinMaxAVX2 without the scaling.
TEXT ·minMaxAVX2(SB), NOSPLIT, $0-33
	MOVQ         w_base+0(FP), SI
	MOVQ         w_len+8(FP), CX
	VBROADCASTSS rqpinf<>(SB), Y2
	VBROADCASTSS rqninf<>(SB), Y3
	VXORPS       Y4, Y4, Y4

mm:
	VMOVUPS (SI), Y0
	VMINPS  Y0, Y2, Y2
	VMAXPS  Y0, Y3, Y3
	VCMPPS  $3, Y0, Y0, Y1
	VORPS   Y1, Y4, Y4
	ADDQ    $32, SI
	SUBQ    $8, CX
	JNZ     mm
	MMREDUCE(24, 28, 32)

// func quantizeAVX2(codes []uint8, w *float32, s, z, maxq float32)
// codes[i] = clamp(roundHalfEven(w[i]/s) + z, 0, maxq) for i < len(codes),
// a multiple of 8; VMAXPS returns its second source for a NaN, which maps
// it to 0. Twin: quantizeGeneric.
TEXT ·quantizeAVX2(SB), NOSPLIT, $0-44
	MOVQ         codes_base+0(FP), DI
	MOVQ         codes_len+8(FP), CX
	MOVQ         w+24(FP), SI
	VBROADCASTSS s+32(FP), Y5
	VBROADCASTSS z+36(FP), Y6
	VBROADCASTSS maxq+40(FP), Y7
	VXORPS       Y8, Y8, Y8

q8:
	VMOVUPS     (SI), Y0
	VDIVPS      Y5, Y0, Y0
	VROUNDPS    $0, Y0, Y0
	VADDPS      Y6, Y0, Y0
	VMAXPS      Y8, Y0, Y0
	VMINPS      Y7, Y0, Y0
	VCVTTPS2DQ  Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPACKUSDW   X1, X0, X0
	VPACKUSWB   X0, X0, X0
	VMOVQ       X0, (DI)
	ADDQ        $32, SI
	ADDQ        $8, DI
	SUBQ        $8, CX
	JNZ         q8
	VZEROUPPER
	RET

// func pack4AVX2(dst []byte, codes *uint8)
// dst[i] = codes[2i] | codes[2i+1]<<4 for i < len(dst), a multiple of 16:
// VPMADDUBSW by (1, 16) forms each byte in a 16-bit lane.
TEXT ·pack4AVX2(SB), NOSPLIT, $0-32
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         codes+24(FP), SI
	VPBROADCASTW rqpack<>(SB), Y5

p32:
	VMOVDQU      (SI), Y0
	VPMADDUBSW   Y5, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPACKUSWB    X1, X0, X0
	VMOVDQU      X0, (DI)
	ADDQ         $32, SI
	ADDQ         $16, DI
	SUBQ         $16, CX
	JNZ          p32
	VZEROUPPER
	RET
