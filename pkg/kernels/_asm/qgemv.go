package main

import (
	"fmt"
	"math/bits"
	"strings"
	"text/template"
)

// qwidth describes one code width of the quantized kernels. The
// matrix-vector and dequantization kernels of every width share their
// loops, group bookkeeping and zero-point correction; all that differs is
// how a chunk of packed codes is read and widened, which unpack spells out
// once for both kernels.
type qwidth struct {
	Bits int
	Doc  string // the chunk layout, as the row macro's comment
	Data string // read-only tables unpack refers to
	// unpack widens one chunk whose bytes start at at(0) into int32 code
	// vectors: the instructions in program order, each codes step naming
	// the register that now holds the next eight codes in chunk order. The
	// registers free for it are Y12–Y14 (Y15 holds the code mask). Once
	// named by a codes step a register belongs to the kernel: the
	// dequantizer converts and stores it there and then, while the
	// matrix-vector kernel takes vectors in pairs, one per accumulator, so
	// unpack must not read it again, nor write it before the next codes
	// step.
	unpack func(at func(off int) string) []qstep
}

type qstep struct {
	op    string // an instruction, or "" for a codes step
	codes string
}

func op(format string, args ...any) qstep { return qstep{op: fmt.Sprintf(format, args...)} }
func codes(y string) qstep                { return qstep{codes: y} }

// fields takes n codes of shift bits each from every dword of Y12, lowest
// first, into Y13 and Y14 in turn. The highest needs no mask when nothing
// lies above it in the dword.
func fields(n, shift int, maskTop bool) []qstep {
	var out []qstep
	for i := range n {
		y := []string{"Y13", "Y14"}[i%2]
		if i == 0 {
			out = append(out, op("VPAND Y15, Y12, %s", y))
		} else {
			out = append(out, op("VPSRLD $%d, Y12, %s", i*shift, y))
			if i < n-1 || maskTop {
				out = append(out, op("VPAND Y15, %s, %s", y, y))
			}
		}
		out = append(out, codes(y))
	}
	return out
}

// The order is that of the hand-written kernels these replaced, so that the
// generated file kept their layout.
var qwidths = []qwidth{
	{
		Bits: 4,
		Doc: "16 four-bit codes (8 bytes) of one row; lane l of the widened\n" +
			"// bytes holds codes 2l (low nibble) and 2l+1 (high nibble).",
		unpack: func(at func(int) string) []qstep {
			return []qstep{
				op("VPMOVZXBD %s, Y12", at(0)),
				op("VPSRLD $4, Y12, Y13"),
				op("VPAND Y15, Y12, Y12"),
				codes("Y12"), codes("Y13"),
			}
		},
	},
	{
		Bits: 8,
		Doc:  "16 eight-bit codes of one row, in order.",
		unpack: func(at func(int) string) []qstep {
			return []qstep{
				op("VPMOVZXBD %s, Y12", at(0)),
				op("VPMOVZXBD %s, Y13", at(8)),
				codes("Y12"), codes("Y13"),
			}
		},
	},
	{
		Bits: 2,
		Doc: "32 two-bit codes (8 bytes) of one row; step j takes code j of\n" +
			"// each of the eight bytes.",
		unpack: func(at func(int) string) []qstep {
			return append([]qstep{op("VPMOVZXBD %s, Y12", at(0))}, fields(4, 2, false)...)
		},
	},
	{
		Bits: 3,
		Doc: "32 three-bit codes (four 24-bit blocks, 12 bytes) of one row.\n" +
			"// Exactly 12 bytes are read, so the last row never reads past its end.",
		Data: `
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
`,
		unpack: func(at func(int) string) []qstep {
			return append([]qstep{
				op("VMOVQ %s, X12", at(0)),
				op("VPINSRD $2, %s, X12, X12", at(8)),
				op("VPSHUFB q3shuf<>(SB), X12, X12"),
				op("VINSERTI128 $1, X12, Y12, Y12"),
				op("VPSRLVD q3shift<>(SB), Y12, Y12"),
			}, fields(4, 6, true)...)
		},
	},
}

// qkernel is what the templates read for one width.
type qkernel struct {
	qwidth
	Mask    int    // (1<<Bits)-1, or 0 where codes are whole bytes
	Shift   int    // log2 of the codes per chunk
	Bytes   int    // bytes per chunk
	XPBytes int    // bytes of activations per chunk
	Row     string // the #define of the matrix-vector kernel's row macro
	Chunk   string // the dequantizer's chunk loop body
}

func newQKernel(q qwidth) qkernel {
	// The matrix-vector kernel widens each pair of vectors to float32 and
	// multiplies it into the row's two accumulators, against the
	// activations of the pair's place in the chunk.
	var row, pair []string
	nvec := 0
	for _, s := range q.unpack(func(off int) string { return offset(off, "(row)(DX*1)") }) {
		if s.op != "" {
			row = append(row, s.op)
			continue
		}
		pair = append(pair, s.codes)
		if nvec++; len(pair) == 2 {
			row = append(row,
				fmt.Sprintf("VCVTDQ2PS %s, %s", pair[0], pair[0]),
				fmt.Sprintf("VCVTDQ2PS %s, %s", pair[1], pair[1]),
				fmt.Sprintf("VFMADD231PS %s, %s, accA", offset(32*(nvec-2), "(R13)"), pair[0]),
				fmt.Sprintf("VFMADD231PS %s, %s, accB", offset(32*(nvec-1), "(R13)"), pair[1]))
			pair = nil
		}
	}
	// Both accumulators take a vector from every pair, and QGROUP_START
	// counts chunks by a shift.
	ncodes := 8 * nvec
	if len(pair) != 0 || ncodes&(ncodes-1) != 0 || ncodes*q.Bits%8 != 0 {
		panic(fmt.Sprintf("%d-bit chunk of %d codes", q.Bits, ncodes))
	}
	k := qkernel{
		qwidth:  q,
		Shift:   bits.TrailingZeros(uint(ncodes)),
		Bytes:   ncodes * q.Bits / 8,
		XPBytes: 4 * ncodes,
	}
	if q.Bits < 8 {
		k.Mask = 1<<q.Bits - 1
	}
	k.Row = define(fmt.Sprintf("Q%dROW(row, accA, accB)", q.Bits), row)

	// The dequantizer stores each vector as soon as it is complete.
	var chunk []string
	nvec = 0
	for _, s := range q.unpack(func(off int) string { return offset(off, "(SI)") }) {
		if s.op != "" {
			chunk = append(chunk, s.op)
			continue
		}
		chunk = append(chunk, fmt.Sprintf("QDQ_STORE(%s, %d)", s.codes, 32*nvec))
		nvec++
	}
	chunk = append(chunk,
		fmt.Sprintf("ADDQ $%d, SI", k.Bytes),
		fmt.Sprintf("ADDQ $%d, DI", k.XPBytes),
		"DECQ AX",
		"JNZ chunk",
		"JMP group")
	k.Chunk = "\t" + strings.Join(align(chunk), "\n\t")
	return k
}

// offset renders the address off bytes past base.
func offset(off int, base string) string {
	if off == 0 {
		return base
	}
	return fmt.Sprintf("%d%s", off, base)
}

// align pads the mnemonics of lines to one width, as the hand-written
// kernels were laid out; macro invocations are left alone.
func align(lines []string) []string {
	w := 0
	for _, l := range lines {
		if m, _, ok := strings.Cut(l, " "); ok && !strings.Contains(m, "(") {
			w = max(w, len(m))
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if m, rest, ok := strings.Cut(l, " "); ok && !strings.Contains(m, "(") {
			l = fmt.Sprintf("%-*s %s", w, m, rest)
		}
		out[i] = l
	}
	return out
}

// define renders a multi-line assembler macro.
func define(head string, lines []string) string {
	lines = align(lines)
	w := 0
	for _, l := range lines[:len(lines)-1] {
		w = max(w, len(l)+1)
	}
	var b strings.Builder
	b.WriteString("#define " + head + " \\\n")
	for i, l := range lines {
		if i == len(lines)-1 {
			b.WriteString("\t" + l)
			break
		}
		fmt.Fprintf(&b, "\t%-*s \\\n", w, l+";")
	}
	return b.String()
}

const qheader = `// Code generated by go generate (pkg/kernels/_asm). DO NOT EDIT.

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
//
// The widths differ only in how a chunk is unpacked (the QnROW macros and
// the dequantizers' chunk loops); the rest is shared below.

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
`

// setMask broadcasts the code mask into Y15.
const setMask = `{{define "mask"}}{{if .Mask}}
	MOVL         ${{.Mask}}, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15{{end}}{{end}}`

var qgemv = template.Must(template.New("qgemv").Parse(setMask + `{{.Data}}
// Q{{.Bits}}ROW: {{.Doc}}
{{.Row}}

// func qgemvQuad{{.Bits}}AVX2(dst *float32, xp, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int)
TEXT ·qgemvQuad{{.Bits}}AVX2(SB), NOSPLIT, $0-112
	QPROLOGUE{{template "mask" .}}

group:
	QGROUP_START({{.Shift}}, correct)

chunk:
	Q{{.Bits}}ROW(R8, Y4, Y8)
	Q{{.Bits}}ROW(R9, Y5, Y9)
	Q{{.Bits}}ROW(R10, Y6, Y10)
	Q{{.Bits}}ROW(R11, Y7, Y11)
	ADDQ ${{.XPBytes}}, R13
	ADDQ ${{.Bytes}}, DX
	DECQ AX
	JNZ  chunk
	QGROUP_END
	JMP  group

correct:
	QEPILOGUE
`))

var qdequant = template.Must(template.New("qdequant").Parse(setMask + `
// func qdequant{{.Bits}}AVX2(dst []float32, src *byte, sc, off *float32, group int)
TEXT ·qdequant{{.Bits}}AVX2(SB), NOSPLIT, $0-56
	QDQ_PROLOGUE{{template "mask" .}}

group:
	QDQ_GROUP({{.Shift}}, done)

chunk:
{{.Chunk}}

done:
	VZEROUPPER
	RET
`))
