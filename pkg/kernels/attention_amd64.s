//go:build !purego

#include "textflag.h"

// Decode attention's two products on the key/value cache in place
// (attention.go). Hand-written; attention_test.go checks them against their
// pure-Go twins.

// func attnScores16AVX512(dst, q, k []float32, blocks, hd int)
//
// dst[j] = q·k_j for blocks×16 keys k_j of hd floats each (hd % 16 == 0),
// one query row q. Sixteen keys are scored together, each into its own
// accumulator (Z0-Z15), with q's 16 floats loaded once per step for all
// of them; a transpose-and-add tree then turns the sixteen accumulators
// into one vector of sixteen sums.
TEXT ·attnScores16AVX512(SB), NOSPLIT, $0-88
	MOVQ dst_base+0(FP), DI
	MOVQ q_base+24(FP), SI
	MOVQ k_base+48(FP), R8
	MOVQ blocks+72(FP), CX
	MOVQ hd+80(FP), R9
	SHLQ $2, R9             // a key's stride in bytes
	LEAQ (R9)(R9*2), R10    // three of them
	TESTQ CX, CX
	JZ   scoresDone

scoresBlock:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	MOVQ R8, AX             // keys 0-3 of the block
	LEAQ (R8)(R9*4), BX     // keys 4-7
	LEAQ (BX)(R9*4), R11    // keys 8-11
	LEAQ (R11)(R9*4), R12   // keys 12-15
	MOVQ SI, R13
	MOVQ hd+80(FP), DX
	SHRQ $4, DX

scoresStep:
	VMOVUPS (R13), Z16
	VFMADD231PS (AX), Z16, Z0
	VFMADD231PS (AX)(R9*1), Z16, Z1
	VFMADD231PS (AX)(R9*2), Z16, Z2
	VFMADD231PS (AX)(R10*1), Z16, Z3
	VFMADD231PS (BX), Z16, Z4
	VFMADD231PS (BX)(R9*1), Z16, Z5
	VFMADD231PS (BX)(R9*2), Z16, Z6
	VFMADD231PS (BX)(R10*1), Z16, Z7
	VFMADD231PS (R11), Z16, Z8
	VFMADD231PS (R11)(R9*1), Z16, Z9
	VFMADD231PS (R11)(R9*2), Z16, Z10
	VFMADD231PS (R11)(R10*1), Z16, Z11
	VFMADD231PS (R12), Z16, Z12
	VFMADD231PS (R12)(R9*1), Z16, Z13
	VFMADD231PS (R12)(R9*2), Z16, Z14
	VFMADD231PS (R12)(R10*1), Z16, Z15
	ADDQ $64, AX
	ADDQ $64, BX
	ADDQ $64, R11
	ADDQ $64, R12
	ADDQ $64, R13
	DECQ DX
	JNZ  scoresStep

	// Pairs of keys: per 128-bit lane, [a0+a2, b0+b2, a1+a3, b1+b3].
	VUNPCKLPS Z1, Z0, Z17
	VUNPCKHPS Z1, Z0, Z18
	VADDPS Z18, Z17, Z20
	VUNPCKLPS Z3, Z2, Z17
	VUNPCKHPS Z3, Z2, Z18
	VADDPS Z18, Z17, Z21
	VUNPCKLPS Z5, Z4, Z17
	VUNPCKHPS Z5, Z4, Z18
	VADDPS Z18, Z17, Z22
	VUNPCKLPS Z7, Z6, Z17
	VUNPCKHPS Z7, Z6, Z18
	VADDPS Z18, Z17, Z23
	VUNPCKLPS Z9, Z8, Z17
	VUNPCKHPS Z9, Z8, Z18
	VADDPS Z18, Z17, Z24
	VUNPCKLPS Z11, Z10, Z17
	VUNPCKHPS Z11, Z10, Z18
	VADDPS Z18, Z17, Z25
	VUNPCKLPS Z13, Z12, Z17
	VUNPCKHPS Z13, Z12, Z18
	VADDPS Z18, Z17, Z26
	VUNPCKLPS Z15, Z14, Z17
	VUNPCKHPS Z15, Z14, Z18
	VADDPS Z18, Z17, Z27
	// Quadruples: per 128-bit lane, one partial sum of each of four keys.
	VUNPCKLPD Z21, Z20, Z17
	VUNPCKHPD Z21, Z20, Z18
	VADDPS Z18, Z17, Z0
	VUNPCKLPD Z23, Z22, Z17
	VUNPCKHPD Z23, Z22, Z18
	VADDPS Z18, Z17, Z1
	VUNPCKLPD Z25, Z24, Z17
	VUNPCKHPD Z25, Z24, Z18
	VADDPS Z18, Z17, Z2
	VUNPCKLPD Z27, Z26, Z17
	VUNPCKHPD Z27, Z26, Z18
	VADDPS Z18, Z17, Z3
	// Across the 128-bit lanes: Z4 holds keys 0-7 in two halves of
	// partial sums, Z5 keys 8-15; then one vector, key j in lane j.
	VSHUFF32X4 $0x44, Z1, Z0, Z17
	VSHUFF32X4 $0xee, Z1, Z0, Z18
	VADDPS Z18, Z17, Z4
	VSHUFF32X4 $0x44, Z3, Z2, Z17
	VSHUFF32X4 $0xee, Z3, Z2, Z18
	VADDPS Z18, Z17, Z5
	VSHUFF32X4 $0x88, Z5, Z4, Z17
	VSHUFF32X4 $0xdd, Z5, Z4, Z18
	VADDPS Z18, Z17, Z6
	VMOVUPS Z6, (DI)
	ADDQ $64, DI
	MOVQ R9, DX
	SHLQ $4, DX
	ADDQ DX, R8
	DECQ CX
	JNZ  scoresBlock

scoresDone:
	VZEROUPPER
	RET

// func attnValues8AVX512(out, p []float32, ldp int, v []float32, n, hd int)
//
// out[r][d] = Σ_j p[r·ldp + j]·v_j[d] for eight rows r, n value rows v_j of
// hd floats (hd % 32 == 0), out's rows hd apart. The output is made 32
// columns at a time: each row's two accumulators (Z0-Z15) take one value
// row's 32 floats, loaded once for all eight rows, times the row's weight
// broadcast from memory.
TEXT ·attnValues8AVX512(SB), NOSPLIT, $0-96
	MOVQ out_base+0(FP), DI
	MOVQ p_base+24(FP), SI
	MOVQ ldp+48(FP), R9
	SHLQ $2, R9             // a weight row's stride in bytes
	LEAQ (R9)(R9*2), R10
	MOVQ v_base+56(FP), R8
	MOVQ hd+88(FP), DX
	SHLQ $2, DX             // a value row's (and an output row's) stride
	MOVQ hd+88(FP), R13
	SHRQ $5, R13            // 32-column strips

valuesStrip:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	MOVQ SI, AX             // weight rows 0-3
	LEAQ (SI)(R9*4), BX     // rows 4-7
	MOVQ R8, R11
	MOVQ n+80(FP), R12
	TESTQ R12, R12
	JZ   valuesStore

valuesStep:
	VMOVUPS (R11), Z16
	VMOVUPS 64(R11), Z17
	VBROADCASTSS (AX), Z18
	VFMADD231PS Z18, Z16, Z0
	VFMADD231PS Z18, Z17, Z1
	VBROADCASTSS (AX)(R9*1), Z18
	VFMADD231PS Z18, Z16, Z2
	VFMADD231PS Z18, Z17, Z3
	VBROADCASTSS (AX)(R9*2), Z18
	VFMADD231PS Z18, Z16, Z4
	VFMADD231PS Z18, Z17, Z5
	VBROADCASTSS (AX)(R10*1), Z18
	VFMADD231PS Z18, Z16, Z6
	VFMADD231PS Z18, Z17, Z7
	VBROADCASTSS (BX), Z18
	VFMADD231PS Z18, Z16, Z8
	VFMADD231PS Z18, Z17, Z9
	VBROADCASTSS (BX)(R9*1), Z18
	VFMADD231PS Z18, Z16, Z10
	VFMADD231PS Z18, Z17, Z11
	VBROADCASTSS (BX)(R9*2), Z18
	VFMADD231PS Z18, Z16, Z12
	VFMADD231PS Z18, Z17, Z13
	VBROADCASTSS (BX)(R10*1), Z18
	VFMADD231PS Z18, Z16, Z14
	VFMADD231PS Z18, Z17, Z15
	ADDQ $4, AX
	ADDQ $4, BX
	ADDQ DX, R11
	DECQ R12
	JNZ  valuesStep

valuesStore:
	MOVQ DI, R12
	VMOVUPS Z0, (R12)
	VMOVUPS Z1, 64(R12)
	ADDQ DX, R12
	VMOVUPS Z2, (R12)
	VMOVUPS Z3, 64(R12)
	ADDQ DX, R12
	VMOVUPS Z4, (R12)
	VMOVUPS Z5, 64(R12)
	ADDQ DX, R12
	VMOVUPS Z6, (R12)
	VMOVUPS Z7, 64(R12)
	ADDQ DX, R12
	VMOVUPS Z8, (R12)
	VMOVUPS Z9, 64(R12)
	ADDQ DX, R12
	VMOVUPS Z10, (R12)
	VMOVUPS Z11, 64(R12)
	ADDQ DX, R12
	VMOVUPS Z12, (R12)
	VMOVUPS Z13, 64(R12)
	ADDQ DX, R12
	VMOVUPS Z14, (R12)
	VMOVUPS Z15, 64(R12)
	ADDQ $128, DI
	ADDQ $128, R8
	DECQ R13
	JNZ  valuesStrip

	VZEROUPPER
	RET

// func attnScores8AVX2(dst, q, k []float32, blocks, hd int)
//
// attnScores16AVX512 on AVX2: eight keys a block (hd % 8 == 0), eight
// accumulators (Y0-Y7), the same kind of transpose-and-add tree.
TEXT ·attnScores8AVX2(SB), NOSPLIT, $0-88
	MOVQ dst_base+0(FP), DI
	MOVQ q_base+24(FP), SI
	MOVQ k_base+48(FP), R8
	MOVQ blocks+72(FP), CX
	MOVQ hd+80(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	TESTQ CX, CX
	JZ   scores8Done

scores8Block:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ R8, AX
	LEAQ (R8)(R9*4), BX
	MOVQ SI, R13
	MOVQ hd+80(FP), DX
	SHRQ $3, DX

scores8Step:
	VMOVUPS (R13), Y8
	VFMADD231PS (AX), Y8, Y0
	VFMADD231PS (AX)(R9*1), Y8, Y1
	VFMADD231PS (AX)(R9*2), Y8, Y2
	VFMADD231PS (AX)(R10*1), Y8, Y3
	VFMADD231PS (BX), Y8, Y4
	VFMADD231PS (BX)(R9*1), Y8, Y5
	VFMADD231PS (BX)(R9*2), Y8, Y6
	VFMADD231PS (BX)(R10*1), Y8, Y7
	ADDQ $32, AX
	ADDQ $32, BX
	ADDQ $32, R13
	DECQ DX
	JNZ  scores8Step

	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VADDPS Y9, Y8, Y10
	VUNPCKLPS Y3, Y2, Y8
	VUNPCKHPS Y3, Y2, Y9
	VADDPS Y9, Y8, Y11
	VUNPCKLPS Y5, Y4, Y8
	VUNPCKHPS Y5, Y4, Y9
	VADDPS Y9, Y8, Y12
	VUNPCKLPS Y7, Y6, Y8
	VUNPCKHPS Y7, Y6, Y9
	VADDPS Y9, Y8, Y13
	VUNPCKLPD Y11, Y10, Y8
	VUNPCKHPD Y11, Y10, Y9
	VADDPS Y9, Y8, Y0
	VUNPCKLPD Y13, Y12, Y8
	VUNPCKHPD Y13, Y12, Y9
	VADDPS Y9, Y8, Y1
	VPERM2F128 $0x20, Y1, Y0, Y8
	VPERM2F128 $0x31, Y1, Y0, Y9
	VADDPS Y9, Y8, Y2
	VMOVUPS Y2, (DI)
	ADDQ $32, DI
	MOVQ R9, DX
	SHLQ $3, DX
	ADDQ DX, R8
	DECQ CX
	JNZ  scores8Block

scores8Done:
	VZEROUPPER
	RET

// func attnValues4AVX2(out, p []float32, ldp int, v []float32, n, hd int)
//
// attnValues8AVX512 on AVX2: four rows of weights, 16 output columns at a
// time (hd % 16 == 0), two accumulators a row (Y0-Y7).
TEXT ·attnValues4AVX2(SB), NOSPLIT, $0-96
	MOVQ out_base+0(FP), DI
	MOVQ p_base+24(FP), SI
	MOVQ ldp+48(FP), R9
	SHLQ $2, R9
	LEAQ (R9)(R9*2), R10
	MOVQ v_base+56(FP), R8
	MOVQ hd+88(FP), DX
	SHLQ $2, DX
	MOVQ hd+88(FP), R13
	SHRQ $4, R13

values4Strip:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ SI, AX
	MOVQ R8, R11
	MOVQ n+80(FP), R12
	TESTQ R12, R12
	JZ   values4Store

values4Step:
	VMOVUPS (R11), Y8
	VMOVUPS 32(R11), Y9
	VBROADCASTSS (AX), Y10
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y10, Y9, Y1
	VBROADCASTSS (AX)(R9*1), Y10
	VFMADD231PS Y10, Y8, Y2
	VFMADD231PS Y10, Y9, Y3
	VBROADCASTSS (AX)(R9*2), Y10
	VFMADD231PS Y10, Y8, Y4
	VFMADD231PS Y10, Y9, Y5
	VBROADCASTSS (AX)(R10*1), Y10
	VFMADD231PS Y10, Y8, Y6
	VFMADD231PS Y10, Y9, Y7
	ADDQ $4, AX
	ADDQ DX, R11
	DECQ R12
	JNZ  values4Step

values4Store:
	MOVQ DI, R12
	VMOVUPS Y0, (R12)
	VMOVUPS Y1, 32(R12)
	ADDQ DX, R12
	VMOVUPS Y2, (R12)
	VMOVUPS Y3, 32(R12)
	ADDQ DX, R12
	VMOVUPS Y4, (R12)
	VMOVUPS Y5, 32(R12)
	ADDQ DX, R12
	VMOVUPS Y6, (R12)
	VMOVUPS Y7, 32(R12)
	ADDQ $64, DI
	ADDQ $64, R8
	DECQ R13
	JNZ  values4Strip

	VZEROUPPER
	RET
