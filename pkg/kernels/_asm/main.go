// Command _asm writes the assembly of package kernels whose variants
// differ only in how their operands are loaded, so that each family is
// expanded from one description instead of being maintained once per
// variant:
//
//   - weights_amd64.s: the kernels that read weights in their stored type,
//     the matrix-vector product and the packing of weight panels for the
//     matrix product, one of each per type. The types differ only in how
//     eight, four or one weights are loaded and widened to float32.
//   - qgemv_amd64.s (qgemv.go): the AVX2 kernels of quantized weights, the
//     four-row matrix-vector product and the dequantizer, one of each per
//     code width. The widths differ only in how a chunk of codes is
//     unpacked.
//   - requantpanel512_amd64.s (requant.go): TTQ's AVX-512 re-quantization
//     of a packed weight panel, whose range and code passes repeat one
//     pattern per input of a group.
//
// Run it through go generate in pkg/kernels; it uses only the standard
// library, so it needs no module of its own.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// elem describes how one weight type is widened to float32.
type elem struct {
	Name  string // suffix of the Go function name
	Size  int    // bytes per element
	Scale int    // index scale in addressing modes (== Size)
	// load8 widens 8 elements at addr into the YMM register y.
	load8 func(addr, y string) []string
	// load4 gathers one element from each of the four row pointers at the
	// element index in AX into the low four lanes of the XMM register x.
	load4 func(x string) []string
	// load1 loads one element at (R8)(AX*Size) into the low lane of x,
	// using R9 as scratch.
	load1 func(x string) []string
	// load16 widens 16 elements at addr into the ZMM register z.
	load16 func(addr, z string) []string
}

var rows4 = []string{"R8", "R9", "R10", "R11"}

var elems = []elem{
	{
		Name: "F32", Size: 4, Scale: 4,
		load8: func(addr, y string) []string { return []string{"VMOVUPS " + addr + ", " + y} },
		load4: func(x string) []string {
			out := []string{fmt.Sprintf("VMOVSS (R8)(AX*4), %s", x)}
			for i, r := range rows4[1:] {
				out = append(out, fmt.Sprintf("VINSERTPS $0x%x0, (%s)(AX*4), %s, %s", i+1, r, x, x))
			}
			return out
		},
		load1:  func(x string) []string { return []string{"VMOVSS (R8)(AX*4), " + x} },
		load16: func(addr, z string) []string { return []string{"VMOVUPS " + addr + ", " + z} },
	},
	{
		// VCVTPH2PS is exact: every half value is a float32 value.
		Name: "F16", Size: 2, Scale: 2,
		load8: func(addr, y string) []string { return []string{"VCVTPH2PS " + addr + ", " + y} },
		load4: func(x string) []string {
			return append(pinsrw4(x), fmt.Sprintf("VCVTPH2PS %s, %s", x, x))
		},
		load1: func(x string) []string {
			return []string{"MOVWLZX (R8)(AX*2), R9", "VMOVD R9, " + x, fmt.Sprintf("VCVTPH2PS %s, %s", x, x)}
		},
		load16: func(addr, z string) []string { return []string{"VCVTPH2PS " + addr + ", " + z} },
	},
	{
		// A bfloat16 is the high half of a float32.
		Name: "BF16", Size: 2, Scale: 2,
		load8: func(addr, y string) []string {
			return []string{"VPMOVZXWD " + addr + ", " + y, fmt.Sprintf("VPSLLD $16, %s, %s", y, y)}
		},
		load4: func(x string) []string {
			return append(pinsrw4(x), fmt.Sprintf("VPMOVZXWD %s, %s", x, x), fmt.Sprintf("VPSLLD $16, %s, %s", x, x))
		},
		load1: func(x string) []string {
			return []string{"MOVWLZX (R8)(AX*2), R9", "SHLL $16, R9", "VMOVD R9, " + x}
		},
		load16: func(addr, z string) []string {
			return []string{"VPMOVZXWD " + addr + ", " + z, fmt.Sprintf("VPSLLD $16, %s, %s", z, z)}
		},
	},
}

func pinsrw4(x string) []string {
	var out []string
	for i, r := range rows4 {
		out = append(out, fmt.Sprintf("VPINSRW $%d, (%s)(AX*2), %s, %s", i, r, x, x))
	}
	return out
}

// Load8 renders load8 for row pointer r at element offset AX+off.
func (e elem) Load8(r string, off int, y string) string {
	addr := fmt.Sprintf("(%s)(AX*%d)", r, e.Scale)
	if off != 0 {
		addr = fmt.Sprintf("%d%s", off*e.Size, addr)
	}
	return strings.Join(e.load8(addr, y), "\n\t")
}

// Load8At renders load8 for an arbitrary address.
func (e elem) Load8At(addr, y string) string { return strings.Join(e.load8(addr, y), "\n\t") }

// Load16 renders load16 for row pointer R8 at element offset AX+off.
func (e elem) Load16(off int, z string) string {
	addr := fmt.Sprintf("(R8)(AX*%d)", e.Scale)
	if off != 0 {
		addr = fmt.Sprintf("%d%s", off*e.Size, addr)
	}
	return strings.Join(e.load16(addr, z), "\n\t")
}

// Load16R renders load16 for row pointer r at element offset AX+off.
func (e elem) Load16R(r string, off int, z string) string {
	addr := fmt.Sprintf("(%s)(AX*%d)", r, e.Scale)
	if off != 0 {
		addr = fmt.Sprintf("%d%s", off*e.Size, addr)
	}
	return strings.Join(e.load16(addr, z), "\n\t")
}

func (e elem) Load4(x string) string { return strings.Join(e.load4(x), "\n\t") }
func (e elem) Load1(x string) string { return strings.Join(e.load1(x), "\n\t") }

const header = `// Code generated by go generate (pkg/kernels/_asm). DO NOT EDIT.

//go:build !purego

#include "textflag.h"

// Kernels that read weights in their stored type (F32, F16, BF16) and
// widen them to float32 in registers.
//
// Matrix-vector kernels: dst[j] = Σ_p x[p]·w[j][p], the decode-time
// (m = 1) product, which is bound by the bandwidth of streaming w. Rows go
// four at a time so each x vector loaded serves four rows; weights are
// widened to float32 in registers, so half-precision rows are read at half
// the bytes. Register use in the four-row loop: Y0…Y7 accumulators (two per
// row), Y8/Y9 x, Y10…Y13 widened weights, R8…R11 row pointers, AX the
// element index, BX the row stride in bytes, CX = k, R12 = k&^15,
// R13 = k&^7, DX rows left, SI x, DI dst. The AVX-512 variants take one
// row at a time instead (a single stream through memory, which the
// hardware prefetcher serves far better than four adjacent rows), and the
// half-precision ones four rows a quarter of the matrix apart (body512x4).
`

var body = template.Must(template.New("gemv").Parse(`
// func gemv{{.Name}}AVX2(dst, x []float32, w []byte)
TEXT ·gemv{{.Name}}AVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), DX
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ w_base+48(FP), R8
	MOVQ CX, BX
	SHLQ ${{.Shift}}, BX
	MOVQ CX, R12
	ANDQ $-16, R12
	MOVQ CX, R13
	ANDQ $-8, R13

rows4:
	CMPQ DX, $4
	JL   rows1
	LEAQ (R8)(BX*1), R9
	LEAQ (R9)(BX*1), R10
	LEAQ (R10)(BX*1), R11
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ AX, AX

r4by16:
	CMPQ AX, R12
	JGE  r4by8
	// Software prefetch half a KiB ahead on each row: four concurrent
	// streams defeat the hardware prefetcher enough to cost a third of
	// the single-core bandwidth.
	PREFETCHT0 512(R8)(AX*{{.Scale}})
	PREFETCHT0 512(R9)(AX*{{.Scale}})
	PREFETCHT0 512(R10)(AX*{{.Scale}})
	PREFETCHT0 512(R11)(AX*{{.Scale}})
	VMOVUPS (SI)(AX*4), Y8
	VMOVUPS 32(SI)(AX*4), Y9
	{{.Load8 "R8" 0 "Y10"}}
	{{.Load8 "R8" 8 "Y11"}}
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y11, Y9, Y1
	{{.Load8 "R9" 0 "Y12"}}
	{{.Load8 "R9" 8 "Y13"}}
	VFMADD231PS Y12, Y8, Y2
	VFMADD231PS Y13, Y9, Y3
	{{.Load8 "R10" 0 "Y10"}}
	{{.Load8 "R10" 8 "Y11"}}
	VFMADD231PS Y10, Y8, Y4
	VFMADD231PS Y11, Y9, Y5
	{{.Load8 "R11" 0 "Y12"}}
	{{.Load8 "R11" 8 "Y13"}}
	VFMADD231PS Y12, Y8, Y6
	VFMADD231PS Y13, Y9, Y7
	ADDQ $16, AX
	JMP  r4by16

r4by8:
	CMPQ AX, R13
	JGE  r4reduce
	VMOVUPS (SI)(AX*4), Y8
	{{.Load8 "R8" 0 "Y10"}}
	{{.Load8 "R9" 0 "Y11"}}
	{{.Load8 "R10" 0 "Y12"}}
	{{.Load8 "R11" 0 "Y13"}}
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y11, Y8, Y2
	VFMADD231PS Y12, Y8, Y4
	VFMADD231PS Y13, Y8, Y6
	ADDQ $8, AX

r4reduce:
	// Four row sums into the low four lanes of X8, in row order.
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y5, Y4, Y4
	VADDPS       Y7, Y6, Y6
	VHADDPS      Y2, Y0, Y8
	VHADDPS      Y6, Y4, Y9
	VHADDPS      Y9, Y8, Y8
	VEXTRACTF128 $1, Y8, X9
	VADDPS       X9, X8, X8

r4tail:
	CMPQ AX, CX
	JGE  r4store
	VBROADCASTSS (SI)(AX*4), X9
	{{.Load4 "X10"}}
	VFMADD231PS X10, X9, X8
	INCQ AX
	JMP  r4tail

r4store:
	VMOVUPS X8, (DI)
	ADDQ    $16, DI
	LEAQ    (R11)(BX*1), R8
	SUBQ    $4, DX
	JMP     rows4

rows1:
	TESTQ DX, DX
	JZ    done
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	XORQ AX, AX

r1by16:
	CMPQ AX, R12
	JGE  r1by8
	PREFETCHT0 512(R8)(AX*{{.Scale}})
	{{.Load8 "R8" 0 "Y10"}}
	{{.Load8 "R8" 8 "Y11"}}
	VFMADD231PS (SI)(AX*4), Y10, Y0
	VFMADD231PS 32(SI)(AX*4), Y11, Y1
	ADDQ $16, AX
	JMP  r1by16

r1by8:
	CMPQ AX, R13
	JGE  r1reduce
	{{.Load8 "R8" 0 "Y10"}}
	VFMADD231PS (SI)(AX*4), Y10, Y0
	ADDQ $8, AX

r1reduce:
	VADDPS       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0

r1tail:
	CMPQ AX, CX
	JGE  r1store
	{{.Load1 "X10"}}
	VFMADD231SS (SI)(AX*4), X10, X0
	INCQ AX
	JMP  r1tail

r1store:
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	ADDQ   BX, R8
	DECQ   DX
	JMP    rows1

done:
	VZEROUPPER
	RET
`))

// body512 is the AVX-512 matrix-vector kernel: one row at a time, so the
// weights are a single stream through memory (four rows at once, as the
// AVX2 kernel reads them, are four streams, which the hardware prefetcher
// serves at a fraction of the single-stream bandwidth), 64 elements a step
// into four accumulators. k is a multiple of 16 (the caller checks).
var body512 = template.Must(template.New("gemv512").Parse(`
// func gemv{{.Name}}AVX512(dst, x []float32, w []byte)
TEXT ·gemv{{.Name}}AVX512(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), DX
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	MOVQ w_base+48(FP), R8
	MOVQ CX, R12
	ANDQ $-64, R12

row:
	TESTQ  DX, DX
	JZ     done
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	XORQ   AX, AX

by64:
	CMPQ AX, R12
	JGE  by16
	{{.Load16 0 "Z4"}}
	{{.Load16 16 "Z5"}}
	{{.Load16 32 "Z6"}}
	{{.Load16 48 "Z7"}}
	VFMADD231PS (SI)(AX*4), Z4, Z0
	VFMADD231PS 64(SI)(AX*4), Z5, Z1
	VFMADD231PS 128(SI)(AX*4), Z6, Z2
	VFMADD231PS 192(SI)(AX*4), Z7, Z3
	ADDQ $64, AX
	JMP  by64

by16:
	CMPQ AX, CX
	JGE  reduce
	{{.Load16 0 "Z4"}}
	VFMADD231PS (SI)(AX*4), Z4, Z0
	ADDQ $16, AX
	JMP  by16

reduce:
	VADDPS        Z1, Z0, Z0
	VADDPS        Z3, Z2, Z2
	VADDPS        Z2, Z0, Z0
` + hsumZ0 + `	ADDQ          $4, DI
	LEAQ          (R8)(CX*{{.Scale}}), R8
	DECQ          DX
	JMP           row

done:
	VZEROUPPER
	RET
`))

// hsumZ0 stores the sum of Z0's sixteen lanes at (DI), in the order both
// AVX-512 row kernels sum a row (Z1 and X1 scratch).
const hsumZ0 = `	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VHADDPS       X0, X0, X0
	VHADDPS       X0, X0, X0
	VMOVSS        X0, (DI)
`

// body512x4 is body512 four rows at a time, rows r, r+q, r+2q and r+3q
// for q = len(dst)/4 (len(dst) a multiple of four), for the half-precision
// types: the activations, float32 and so twice the weights' bytes, are
// loaded once for all four rows, the rows are four independent chains and
// four streams through memory a quarter of the matrix apart (unlike four
// adjacent rows, the layout the comment above rules out), and each row is
// summed in body512's order, bit for bit its result.
//
// BenchmarkGemvHalfStreams reproduces the choice on cold 5632×2048 BF16
// weights at one thread: one row at a time 36.4–37.1 GB/s, four rows
// 43.0–44.3 (four runs each; a second time 27.1–27.6 against 36.6–41.3,
// #9). The decode of the 1.1B shape, where 94 %
// of the time is spent here, was measured with an uncommitted harness (one
// process, kernels alternating every 12 tokens, medians of 8 rounds),
// tokens/s: one row 12.4, two streams 13.8, two with software prefetch
// 1 KiB ahead 13.0, four 14.8; in a second, slower run two 11.6, three
// 10.9, four 12.5, six 11.1; and 27.7 for four against 23.8 for two at two
// threads.
//
// Z0–Z3, Z16–Z19, Z20–Z23, Z24–Z27 the four rows' totals; Z8–Z11 the
// activations; Z4–Z7 and Z12–Z15 widened weights; R8, R10, R11, R13 the
// rows' weights, R9 their distance; BX = q.
var body512x4 = template.Must(template.New("gemv512x4").Parse(`
// func gemv4{{.Name}}AVX512(dst, x []float32, w []byte)
TEXT ·gemv4{{.Name}}AVX512(SB), NOSPLIT, $0-72
	MOVQ  dst_base+0(FP), DI
	MOVQ  dst_len+8(FP), DX
	SHRQ  $2, DX
	MOVQ  DX, BX
	MOVQ  x_base+24(FP), SI
	MOVQ  x_len+32(FP), CX
	MOVQ  w_base+48(FP), R8
	MOVQ  CX, R9
	IMULQ DX, R9
	SHLQ  ${{.Shift}}, R9
	MOVQ  CX, R12
	ANDQ  $-64, R12

row:
	TESTQ  DX, DX
	JZ     done
	LEAQ   (R8)(R9*1), R10
	LEAQ   (R10)(R9*1), R11
	LEAQ   (R11)(R9*1), R13
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	VPXORD Z27, Z27, Z27
	XORQ   AX, AX

by64:
	CMPQ    AX, R12
	JGE     by16
	VMOVUPS (SI)(AX*4), Z8
	VMOVUPS 64(SI)(AX*4), Z9
	VMOVUPS 128(SI)(AX*4), Z10
	VMOVUPS 192(SI)(AX*4), Z11
{{- range $row := .Streams}}
	{{$.Load16R $row.Ptr 0 $row.T0}}
	{{$.Load16R $row.Ptr 16 $row.T1}}
	{{$.Load16R $row.Ptr 32 $row.T2}}
	{{$.Load16R $row.Ptr 48 $row.T3}}
	VFMADD231PS Z8, {{$row.T0}}, {{$row.A0}}
	VFMADD231PS Z9, {{$row.T1}}, {{$row.A1}}
	VFMADD231PS Z10, {{$row.T2}}, {{$row.A2}}
	VFMADD231PS Z11, {{$row.T3}}, {{$row.A3}}
{{- end}}
	ADDQ $64, AX
	JMP  by64

by16:
	CMPQ    AX, CX
	JGE     reduce
	VMOVUPS (SI)(AX*4), Z8
{{- range $row := .Streams}}
	{{$.Load16R $row.Ptr 0 $row.T0}}
	VFMADD231PS Z8, {{$row.T0}}, {{$row.A0}}
{{- end}}
	ADDQ $16, AX
	JMP  by16

reduce:
	VADDPS        Z1, Z0, Z0
	VADDPS        Z3, Z2, Z2
	VADDPS        Z2, Z0, Z0
` + hsumZ0 + `	MOVQ          DI, R14
{{- range $row := slice .Streams 1}}
	VADDPS        {{$row.A1}}, {{$row.A0}}, {{$row.A0}}
	VADDPS        {{$row.A3}}, {{$row.A2}}, {{$row.A2}}
	VADDPS        {{$row.A2}}, {{$row.A0}}, {{$row.A0}}
	VEXTRACTF64X4 $1, {{$row.A0}}, {{$row.Y1}}
	VADDPS        {{$row.Y1}}, {{$row.Y0}}, {{$row.Y0}}
	VMOVAPS       {{$row.Y0}}, Y2
	VEXTRACTF128  $1, Y2, X3
	VADDPS        X3, X2, X2
	VHADDPS       X2, X2, X2
	VHADDPS       X2, X2, X2
	LEAQ          (R14)(BX*4), R14
	VMOVSS        X2, (R14)
{{- end}}
	ADDQ          $4, DI
	LEAQ          (R8)(CX*{{.Scale}}), R8
	DECQ          DX
	JMP           row

done:
	VZEROUPPER
	RET
`))

// streamRegs names one row's registers in body512x4: its weight pointer,
// accumulators (and the two halves of the first as Y registers for the
// reduction) and widened-weight temporaries.
type streamRegs struct {
	Ptr            string
	A0, A1, A2, A3 string
	Y0, Y1         string
	T0, T1, T2, T3 string
}

func fourStreams() []streamRegs {
	var rs []streamRegs
	for _, r := range []struct {
		ptr  string
		acc  int
		temp int
	}{{"R8", 0, 4}, {"R10", 16, 12}, {"R11", 20, 4}, {"R13", 24, 12}} {
		z := func(n int) string { return fmt.Sprintf("Z%d", n) }
		rs = append(rs, streamRegs{
			Ptr: r.ptr,
			A0:  z(r.acc), A1: z(r.acc + 1), A2: z(r.acc + 2), A3: z(r.acc + 3),
			Y0: fmt.Sprintf("Y%d", r.acc), Y1: fmt.Sprintf("Y%d", r.acc+1),
			T0: z(r.temp), T1: z(r.temp + 1), T2: z(r.temp + 2), T3: z(r.temp + 3),
		})
	}
	return rs
}

var pack = template.Must(template.New("pack").Parse(`
// func packPanel{{.Name}}AVX2(dst *float32, src *byte, stride, kc int)
//
// Packs 16 rows of kc elements (kc a multiple of 8; row r at src +
// r*stride bytes) as dst[p*16+r], eight rows by eight columns at a time
// through an 8×8 transpose in registers: Y0…Y7 rows, Y8…Y15 pairs, then
// quadruples in Y0…Y7 and finished columns in Y8…Y15. Rows 3 and 6 get
// their own pointers (R9, R10) because addressing modes scale by 1, 2, 4
// or 8 only.
TEXT ·packPanel{{.Name}}AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ stride+16(FP), BX
	MOVQ kc+24(FP), CX
	SHRQ $3, CX
	JZ   done
	MOVQ $2, DX

half:
	MOVQ SI, R8
	LEAQ (R8)(BX*2), R9
	ADDQ BX, R9
	LEAQ (R9)(BX*2), R10
	ADDQ BX, R10
	MOVQ DI, R11
	MOVQ CX, AX

cols:
	{{.Load8At "(R8)" "Y0"}}
	{{.Load8At "(R8)(BX*1)" "Y1"}}
	{{.Load8At "(R8)(BX*2)" "Y2"}}
	{{.Load8At "(R9)" "Y3"}}
	{{.Load8At "(R8)(BX*4)" "Y4"}}
	{{.Load8At "(R9)(BX*2)" "Y5"}}
	{{.Load8At "(R10)" "Y6"}}
	{{.Load8At "(R10)(BX*1)" "Y7"}}
	VUNPCKLPS  Y1, Y0, Y8
	VUNPCKHPS  Y1, Y0, Y9
	VUNPCKLPS  Y3, Y2, Y10
	VUNPCKHPS  Y3, Y2, Y11
	VUNPCKLPS  Y5, Y4, Y12
	VUNPCKHPS  Y5, Y4, Y13
	VUNPCKLPS  Y7, Y6, Y14
	VUNPCKHPS  Y7, Y6, Y15
	VSHUFPS    $0x44, Y10, Y8, Y0
	VSHUFPS    $0xEE, Y10, Y8, Y1
	VSHUFPS    $0x44, Y11, Y9, Y2
	VSHUFPS    $0xEE, Y11, Y9, Y3
	VSHUFPS    $0x44, Y14, Y12, Y4
	VSHUFPS    $0xEE, Y14, Y12, Y5
	VSHUFPS    $0x44, Y15, Y13, Y6
	VSHUFPS    $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	VMOVUPS    Y8, (R11)
	VMOVUPS    Y9, 64(R11)
	VMOVUPS    Y10, 128(R11)
	VMOVUPS    Y11, 192(R11)
	VMOVUPS    Y12, 256(R11)
	VMOVUPS    Y13, 320(R11)
	VMOVUPS    Y14, 384(R11)
	VMOVUPS    Y15, 448(R11)
	ADDQ       ${{.Step}}, R8
	ADDQ       ${{.Step}}, R9
	ADDQ       ${{.Step}}, R10
	ADDQ       $512, R11
	DECQ       AX
	JNZ        cols

	// Rows 8…15 fill the upper half of each 16-float group.
	LEAQ (SI)(BX*8), SI
	ADDQ $32, DI
	DECQ DX
	JNZ  half

done:
	VZEROUPPER
	RET
`))

func main() {
	dir := flag.String("dir", ".", "directory to write the generated files into")
	flag.Parse()
	for name, gen := range map[string]func(*bytes.Buffer) error{
		"weights_amd64.s":         weights,
		"qgemv_amd64.s":           quantized,
		"requantpanel512_amd64.s": requantPanel,
	} {
		var buf bytes.Buffer
		if err := gen(&buf); err != nil {
			log.Fatalf("%s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(*dir, name), buf.Bytes(), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func weights(buf *bytes.Buffer) error {
	buf.WriteString(header)
	for _, e := range elems {
		data := struct {
			elem
			Shift   int // log2(Size)
			Step    int // bytes of eight elements
			Streams []streamRegs
		}{e, map[int]int{4: 2, 2: 1}[e.Size], 8 * e.Size, fourStreams()}
		ts := []*template.Template{body, body512, pack}
		if e.Size == 2 {
			ts = []*template.Template{body, body512, body512x4, pack}
		}
		for _, t := range ts {
			if err := t.Execute(buf, data); err != nil {
				return err
			}
		}
	}
	return nil
}

func quantized(buf *bytes.Buffer) error {
	buf.WriteString(qheader)
	ks := make([]qkernel, len(qwidths))
	for i, q := range qwidths {
		ks[i] = newQKernel(q)
	}
	for _, t := range []*template.Template{qgemv, qdequant} {
		for _, k := range ks {
			if err := t.Execute(buf, k); err != nil {
				return err
			}
		}
	}
	return nil
}
