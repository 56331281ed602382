//go:build !purego

#include "textflag.h"

// The 8-bit single-row kernel, rows in a loop (see qgemv512_amd64.s for
// why one row at a time, qgemv512_i8_amd64.s for why the loop over rows is
// in the assembly):
//
//	func qgemvRows8AVX512(dst, xp, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int)
//
// computes len(dst) rows of qgemvQuadGeneric(qChunks[8], 8, …), row r at
// w[r*wstride:], s[r*ss:], z[r*zs:]; group is a multiple of 16. Each chunk
// of 16 codes is widened (VPMOVZXBD, VCVTDQ2PS), multiplied by x into a
// fresh product and added into a total scaled by its group's scale.
//
// Registers: Z0–Z3 totals, Z4–Z7 products, Z14/Z15 group scales. CX rows
// left, DI the output, R10/R11/DX the row's codes, scales and zero points;
// within a row R8 the codes, R13 x, R14 the scales, R12 codes left, AX
// chunks left in the group, BX the group size.
TEXT ·qgemvRows8AVX512(SB), NOSPLIT, $0-128
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ w+72(FP), R10
	MOVQ s+88(FP), R11
	MOVQ z+104(FP), DX
	MOVQ group+120(FP), BX

row:
	TESTQ  CX, CX
	JZ     end
	MOVQ   R10, R8
	MOVQ   R11, R14
	MOVQ   xp_base+24(FP), R13
	MOVQ   xp_len+32(FP), R12
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	CMPQ   BX, $32
	JEQ    g32

group:
	TESTQ        R12, R12
	JZ           done
	MOVQ         BX, AX
	CMPQ         R12, AX
	CMOVQLT      R12, AX
	SUBQ         AX, R12
	SHRQ         $4, AX
	VBROADCASTSS (R14), Z14
	ADDQ         $4, R14

pair:
	CMPQ        AX, $2
	JLT         single
	VPMOVZXBD   (R8), Z4
	VPMOVZXBD   16(R8), Z5
	VCVTDQ2PS   Z4, Z4
	VCVTDQ2PS   Z5, Z5
	VMULPS      (R13), Z4, Z4
	VMULPS      64(R13), Z5, Z5
	VFMADD231PS Z14, Z4, Z0
	VFMADD231PS Z14, Z5, Z1
	ADDQ        $32, R8
	ADDQ        $128, R13
	SUBQ        $2, AX
	JMP         pair

single:
	TESTQ       AX, AX
	JZ          group
	VPMOVZXBD   (R8), Z4
	VCVTDQ2PS   Z4, Z4
	VMULPS      (R13), Z4, Z4
	VFMADD231PS Z14, Z4, Z2
	ADDQ        $16, R8
	ADDQ        $64, R13
	JMP         group

	// Groups of two chunks: two groups a step, each into its own totals.
g32:
	CMPQ         R12, $64
	JLT          tail32
	VPMOVZXBD    (R8), Z4
	VPMOVZXBD    16(R8), Z5
	VPMOVZXBD    32(R8), Z6
	VPMOVZXBD    48(R8), Z7
	VCVTDQ2PS    Z4, Z4
	VCVTDQ2PS    Z5, Z5
	VCVTDQ2PS    Z6, Z6
	VCVTDQ2PS    Z7, Z7
	VMULPS       (R13), Z4, Z4
	VMULPS       64(R13), Z5, Z5
	VMULPS       128(R13), Z6, Z6
	VMULPS       192(R13), Z7, Z7
	VBROADCASTSS (R14), Z14
	VBROADCASTSS 4(R14), Z15
	VFMADD231PS  Z14, Z4, Z0
	VFMADD231PS  Z14, Z5, Z1
	VFMADD231PS  Z15, Z6, Z2
	VFMADD231PS  Z15, Z7, Z3
	ADDQ         $64, R8
	ADDQ         $256, R13
	ADDQ         $8, R14
	SUBQ         $64, R12
	JMP          g32

tail32:
	// At most 48 codes are left: one whole group, then part of one.
	CMPQ         R12, $32
	JLT          last32
	VPMOVZXBD    (R8), Z4
	VPMOVZXBD    16(R8), Z5
	VCVTDQ2PS    Z4, Z4
	VCVTDQ2PS    Z5, Z5
	VMULPS       (R13), Z4, Z4
	VMULPS       64(R13), Z5, Z5
	VBROADCASTSS (R14), Z14
	VFMADD231PS  Z14, Z4, Z0
	VFMADD231PS  Z14, Z5, Z1
	ADDQ         $32, R8
	ADDQ         $128, R13
	ADDQ         $4, R14
	SUBQ         $32, R12

last32:
	TESTQ        R12, R12
	JZ           done
	VPMOVZXBD    (R8), Z4
	VCVTDQ2PS    Z4, Z4
	VMULPS       (R13), Z4, Z4
	VBROADCASTSS (R14), Z14
	VFMADD231PS  Z14, Z4, Z2

done:
	// Σ s·z·xsum over the first len(xsum) groups (a multiple of 8).
	VADDPS        Z1, Z0, Z0
	VADDPS        Z3, Z2, Z2
	VADDPS        Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	MOVQ          xsum_len+56(FP), R12
	SHRQ          $3, R12
	JZ            reduce
	MOVQ          xsum_base+48(FP), SI
	XORQ          AX, AX

corr:
	VMOVUPS      (SI)(AX*4), Y12
	VPMOVZXBD    (DX)(AX*1), Y13
	VCVTDQ2PS    Y13, Y13
	VMULPS       (R11)(AX*4), Y13, Y13
	VFNMADD231PS Y12, Y13, Y0
	ADDQ         $8, AX
	DECQ         R12
	JNZ          corr

reduce:
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VMOVSS       X0, (DI)
	ADDQ         $4, DI
	ADDQ         wstride+80(FP), R10
	MOVQ         ss+96(FP), AX
	LEAQ         (R11)(AX*4), R11
	ADDQ         zs+112(FP), DX
	DECQ         CX
	JMP          row

end:
	VZEROUPPER
	RET
