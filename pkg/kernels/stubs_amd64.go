//go:build !purego

package kernels

import "unsafe"

//go:generate go run ./_asm -dir .

// The assembly kernels below each have a pure-Go twin with the same
// contract in a *_generic.go file; the twin is the reference the
// differential tests hold them to. Callers check lengths: the assembly
// trusts them.

// dotAVX2 returns Σ x[i]·y[i] for i < len(x); len(y) >= len(x).
// Twin: dotGeneric.
//
//go:noescape
func dotAVX2(x, y []float32) float32

// axpyAVX2 computes y[i] += a·x[i] for i < len(x); len(y) >= len(x).
// Twin: axpyGeneric.
//
//go:noescape
func axpyAVX2(a float32, x, y []float32)

// mulAVX2 computes dst[i] = x[i]·y[i] for i < len(dst); x and y hold at
// least len(dst). Twin: mulGeneric.
//
//go:noescape
func mulAVX2(dst, x, y []float32)

// axpyF64AVX2 is axpyAVX2 for float64. Twin: axpyF64Generic.
//
//go:noescape
func axpyF64AVX2(a float64, x, y []float64)

// gemm6x16AVX2 computes the 6×16 tile
//
//	t[i][j] = Σ_{p<kc} a[p*6+i] · b[p*16+j]
//
// from packed panels and stores c[i*ldc+j] = t[i][j], or adds t to c when
// acc is set. kc >= 1. Twin: gemm6x16Generic.
//
//go:noescape
func gemm6x16AVX2(a, b *float32, kc int, c *float32, ldc int, acc bool)

// gemvF32AVX2 computes dst[j] = Σ_p x[p] · w[j][p] for j < len(dst), with w
// holding len(dst) rows of len(x) little-endian float32 values, unaligned
// allowed. Twin: gemvGeneric(dst, x, w, ElemF32).
//
//go:noescape
func gemvF32AVX2(dst, x []float32, w []byte)

// gemvF16AVX2 is gemvF32AVX2 for IEEE half-precision weights.
// Twin: gemvGeneric(dst, x, w, ElemF16).
//
//go:noescape
func gemvF16AVX2(dst, x []float32, w []byte)

// gemvBF16AVX2 is gemvF32AVX2 for bfloat16 weights.
// Twin: gemvGeneric(dst, x, w, ElemBF16).
//
//go:noescape
func gemvBF16AVX2(dst, x []float32, w []byte)

// f16ToF32AVX2 widens len(dst) half-precision values from src.
// Twin: toFloat32Generic(dst, src, ElemF16).
//
//go:noescape
func f16ToF32AVX2(dst []float32, src []byte)

// bf16ToF32AVX2 widens len(dst) bfloat16 values from src.
// Twin: toFloat32Generic(dst, src, ElemBF16).
//
//go:noescape
func bf16ToF32AVX2(dst []float32, src []byte)

// packPanelF32AVX2 packs 16 weight rows of kc elements, row r starting at
// src + r*stride bytes, as dst[p*16+r]; kc is a multiple of 8.
// Twin: packPanelGeneric(dst, src, stride, 16, kc, ElemF32).
//
//go:noescape
func packPanelF32AVX2(dst *float32, src *byte, stride, kc int)

// packPanelF16AVX2 is packPanelF32AVX2 for half-precision weights.
//
//go:noescape
func packPanelF16AVX2(dst *float32, src *byte, stride, kc int)

// packPanelBF16AVX2 is packPanelF32AVX2 for bfloat16 weights.
//
//go:noescape
func packPanelBF16AVX2(dst *float32, src *byte, stride, kc int)

// expSumAVX2 writes exp(src[i]−shift) to dst for the first len(src)&^7
// elements and returns their sum (see expf32 for the polynomial).
//
//go:noescape
func expSumAVX2(dst, src []float32, shift float32) float32

// scaleMaxAVX2 multiplies the first len(x)&^7 elements (len(x) ≥ 8) by s
// in place and returns the largest product.
//
//go:noescape
func scaleMaxAVX2(x []float32, s float32) float32

// qgemvQuad4AVX2 computes four rows of the quantized matrix-vector product
// for 4-bit codes; see qgemvQuadGeneric, its twin, for the contract.
//
//go:noescape
func qgemvQuad4AVX2(dst *float32, xp, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int)

// qgemvRow4AVX512 returns one row of the 4-bit product over the wide chunk
// qChunk4x32: row 0 of qgemvQuadGeneric(qChunk4x32, 4, …) with wstride, ss
// and zs zero; group is a multiple of 32.
//
//go:noescape
func qgemvRow4AVX512(xp, xsum []float32, w *byte, s *float32, z *byte, group int) float32

// qgemvQuad8AVX2 is qgemvQuad4AVX2 for 8-bit codes.
//
//go:noescape
func qgemvQuad8AVX2(dst *float32, xp, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int)

// qgemvQuad2AVX2 is qgemvQuad4AVX2 for 2-bit codes.
//
//go:noescape
func qgemvQuad2AVX2(dst *float32, xp, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int)

// qgemvQuad3AVX2 is qgemvQuad4AVX2 for 3-bit codes.
//
//go:noescape
func qgemvQuad3AVX2(dst *float32, xp, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int)

// qdequant4AVX2 writes dst[c] = code(c)·sc[c/group] + off[c/group] for the
// len(dst) 4-bit codes at src, in chunk order; len(dst) and group are
// multiples of the chunk. Twin: qdequantGeneric.
//
//go:noescape
func qdequant4AVX2(dst []float32, src *byte, sc, off *float32, group int)

// qdequant8AVX2 is qdequant4AVX2 for 8-bit codes.
//
//go:noescape
func qdequant8AVX2(dst []float32, src *byte, sc, off *float32, group int)

// qdequant2AVX2 is qdequant4AVX2 for 2-bit codes.
//
//go:noescape
func qdequant2AVX2(dst []float32, src *byte, sc, off *float32, group int)

// qdequant3AVX2 is qdequant4AVX2 for 3-bit codes.
//
//go:noescape
func qdequant3AVX2(dst []float32, src *byte, sc, off *float32, group int)

// fmaLoopAVX2 runs iters rounds of twelve 8-lane chains acc = acc·a + b
// from acc = 0 and returns the sum of their lane 0 (12× one chain's value).
// Twin: fmaLoopGeneric.
//
//go:noescape
func fmaLoopAVX2(iters int, a, b float32) float32

// fmaLoopAVX512 is fmaLoopAVX2 with twelve 16-lane chains; it returns the
// same value. Twin: fmaLoopGeneric.
//
//go:noescape
func fmaLoopAVX512(iters int, a, b float32) float32

// sumAVX2 returns Σ x[i] over the first len(x)&^63 elements. Twin:
// sumGeneric.
//
//go:noescape
func sumAVX2(x []float32) float32

// qgemvQuad4I8AVX2 computes four rows of the int8-activation product for
// 4-bit codes whose group is a multiple of 64 (or the whole row); see
// qgemvQuad4I8Generic, its twin, for the contract.
//
//go:noescape
func qgemvQuad4I8AVX2(dst *float32, xq []int8, dx, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int)

// qgemvQuad4I8G32AVX2 is qgemvQuad4I8AVX2 for groups of 32.
//
//go:noescape
func qgemvQuad4I8G32AVX2(dst *float32, xq []int8, dx, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int)

// colStatAVX2 adds Σ_{r<rows} x[r*stride+c]² (|x| when abs) to dst[c] for
// c < len(dst), a multiple of 16, in float64. Twin: colStatGeneric.
//
//go:noescape
func colStatAVX2(dst []float64, x []float32, stride, rows int, abs bool)

// requantPanel4G32AVX512 re-quantizes the rows of a packed weight block
// to RequantRow4G32's format, kc a multiple of 128, 1 ≤ rows ≤ 16; tmp
// holds 2048 bytes. Generated (pkg/kernels/_asm/requant.go) into
// requantpanel512_amd64.s. Twin: requantPanelGeneric.
//
//go:noescape
func requantPanel4G32AVX512(panel, d *float32, kc int, codes *byte, rb int, scales *float32, zeros *byte, ng, rows int, f16 bool, tmp *byte) bool

// colStatAVX512 is colStatAVX2 for len(dst) a multiple of 128. Twin:
// colStatGeneric.
//
//go:noescape
func colStatAVX512(dst []float64, x []float32, stride, rows int, abs bool)

// scaleMinMaxAVX2 scales w by d in place (len(w) a multiple of 8) and
// returns its minimum, maximum and whether it holds a NaN. Twin:
// scaleMinMaxGeneric.
//
//go:noescape
func scaleMinMaxAVX2(w []float32, d *float32) (lo, hi float32, nan bool)

// minMaxAVX2 is scaleMinMaxAVX2 without the scaling.
//
//go:noescape
func minMaxAVX2(w []float32) (lo, hi float32, nan bool)

// quantizeAVX2 rounds len(codes) (a multiple of 8) weights from w to the
// grid (s, z, maxq). Twin: quantizeGeneric.
//
//go:noescape
func quantizeAVX2(codes []uint8, w *float32, s, z, maxq float32)

// pack4AVX2 packs 2·len(dst) (a multiple of 32) 4-bit codes in pairs.
// Twin: the scalar loop of PackCodes.
//
//go:noescape
func pack4AVX2(dst []byte, codes *uint8)

// qgemvRowsI8AVX512 computes len(dst) rows of the int8-activation product
// for 4-bit codes with AVX-512 VNNI, one row after another: row r is row 0
// of qgemvQuad4I8Generic at w[r*wstride:], s[r*ss:], z[r*zs:]; group is 32
// or a multiple of 64. With eight the codes are 8-bit, row r is
// qgemvRow8I8Generic's, and the CPU must have AVX-512 VBMI too.
//
//go:noescape
func qgemvRowsI8AVX512(dst []float32, xq []int8, dx, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int, eight bool)

// qgemvPairsI8AVX512 computes qgemvRowsI8AVX512's rows for 4-bit codes in
// groups of 32 or 128, len(xq) a multiple of 256 and len(dst) even, two at
// a time: row r and row r + len(dst)/2, with the same results bit for bit;
// with eight, 8-bit codes in groups of 32 and len(xq) a multiple of 128.
// s points at float32 scales, or with half (8-bit codes only) at their
// IEEE half-precision bits, ss elements apart.
//
//go:noescape
func qgemvPairsI8AVX512(dst []float32, xq []int8, dx, xsum []float32, w *byte, wstride int, s unsafe.Pointer, ss int, z *byte, zs, group int, eight, half bool)

// gemm6x32AVX512 runs the 6×16 micro-kernel on two adjacent weight panels
// at once: gemm6x16AVX2 on (b, c) and on (b + nr·kc, c + nr).
//
//go:noescape
func gemm6x32AVX512(a, b *float32, kc int, c *float32, ldc int, acc bool)

// gemvF32AVX512, gemvF16AVX512 and gemvBF16AVX512 are the matrix-vector
// kernels of gemvF32AVX2 & co. one row at a time with AVX-512; len(x) is a
// multiple of 16. Twin: gemvGeneric.
//
//go:noescape
func gemvF32AVX512(dst, x []float32, w []byte)

//go:noescape
func gemvF16AVX512(dst, x []float32, w []byte)

//go:noescape
func gemvBF16AVX512(dst, x []float32, w []byte)

// gemv4F16AVX512 and gemv4BF16AVX512 are gemvF16AVX512 and gemvBF16AVX512
// four rows at a time, rows r + j·len(dst)/4 for j < 4 (len(dst) a
// multiple of four), with the same results bit for bit.
//
//go:noescape
func gemv4F16AVX512(dst, x []float32, w []byte)

//go:noescape
func gemv4BF16AVX512(dst, x []float32, w []byte)

// qgemvRows8AVX512 computes len(dst) rows of the 8-bit product one after
// another: row r is row 0 of qgemvQuadGeneric(qChunks[8], 8, …) at
// w[r*wstride:], s[r*ss:], z[r*zs:]; group is a multiple of 16.
//
//go:noescape
func qgemvRows8AVX512(dst, xp, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int)

// quantizeActsAVX512 is the block loop of quantizeActs with AVX-512 for
// len(x) a multiple of 64: the same codes, dx and, per block b of 32,
// bsum[b] = d·Σq, which the caller adds into its groups. Twin:
// quantizeActsGeneric.
//
//go:noescape
func quantizeActsAVX512(xq []int8, dx, bsum, x []float32)

// requant4G32AVX512 re-quantizes one row to 4-bit minmax codes in groups
// of 32 (k a multiple of 512), fused: what quantizeRowScaled and SetRow of
// package quant compute, bit for bit; false for a row with a non-finite
// w·d. See requant512_amd64.s. Twin: RequantRow4G32's generic path.
//
//go:noescape
func requant4G32AVX512(dst *byte, scales *float32, zeros *byte, w *byte, bf16 bool, d *float32, k int, f16 bool, tmp *float32) bool

// attnScores16AVX512 scores one query row against blocks×16 keys of hd
// floats (hd % 16 == 0): dst[j] = q·k_j.
//
//go:noescape
func attnScores16AVX512(dst, q, k []float32, blocks, hd int)

// attnValues8AVX512 weights n value rows of hd floats (hd % 32 == 0) for
// eight rows of weights ldp apart: out[r·hd + d] = Σ_j p[r·ldp + j]·v[j·hd + d].
//
//go:noescape
func attnValues8AVX512(out, p []float32, ldp int, v []float32, n, hd int)

// attnScores8AVX2 and attnValues4AVX2 are the AVX2 versions: eight keys a
// block (hd % 8 == 0) and four rows of weights (hd % 16 == 0).
//
//go:noescape
func attnScores8AVX2(dst, q, k []float32, blocks, hd int)

//go:noescape
func attnValues4AVX2(out, p []float32, ldp int, v []float32, n, hd int)
