//go:build !purego

#include "textflag.h"

// func f16ToF32AVX2(dst []float32, src []byte)
// VCVTPH2PS widens exactly (subnormals included); it quiets signalling
// NaNs, which stay NaNs.
TEXT ·f16ToF32AVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ src_base+24(FP), SI
	XORQ AX, AX
	MOVQ CX, BX
	ANDQ $-16, BX

loop16:
	CMPQ      AX, BX
	JGE       tail
	VCVTPH2PS (SI)(AX*2), Y0
	VCVTPH2PS 16(SI)(AX*2), Y1
	VMOVUPS   Y0, (DI)(AX*4)
	VMOVUPS   Y1, 32(DI)(AX*4)
	ADDQ      $16, AX
	JMP       loop16

tail:
	CMPQ      AX, CX
	JGE       done
	MOVWLZX   (SI)(AX*2), DX
	VMOVD     DX, X0
	VCVTPH2PS X0, X0
	VMOVSS    X0, (DI)(AX*4)
	INCQ      AX
	JMP       tail

done:
	VZEROUPPER
	RET

// func bf16ToF32AVX2(dst []float32, src []byte)
TEXT ·bf16ToF32AVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ src_base+24(FP), SI
	XORQ AX, AX
	MOVQ CX, BX
	ANDQ $-16, BX

loop16:
	CMPQ      AX, BX
	JGE       tail
	VPMOVZXWD (SI)(AX*2), Y0
	VPMOVZXWD 16(SI)(AX*2), Y1
	VPSLLD    $16, Y0, Y0
	VPSLLD    $16, Y1, Y1
	VMOVDQU   Y0, (DI)(AX*4)
	VMOVDQU   Y1, 32(DI)(AX*4)
	ADDQ      $16, AX
	JMP       loop16

tail:
	CMPQ    AX, CX
	JGE     done
	MOVWLZX (SI)(AX*2), DX
	SHLL    $16, DX
	MOVL    DX, (DI)(AX*4)
	INCQ    AX
	JMP     tail

done:
	VZEROUPPER
	RET
