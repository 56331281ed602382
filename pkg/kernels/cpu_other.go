//go:build !amd64 || purego

package kernels

import "unsafe"

// Without the assembly the dispatch variables stay false and the stubs
// below are never reached; they exist so that the dispatching code
// compiles identically on every platform.
var (
	hasAVX2    = false
	useAVX2    = false
	hasAVX512  = false
	useAVX512  = false
	hasVNNI512 = false
	hasVBMI512 = false
)

const errNoAsm = "kernels: assembly kernel called in a build without assembly"

func dotAVX2(x, y []float32) float32                                      { panic(errNoAsm) }
func axpyAVX2(a float32, x, y []float32)                                  { panic(errNoAsm) }
func axpyF64AVX2(a float64, x, y []float64)                               { panic(errNoAsm) }
func mulAVX2(dst, x, y []float32)                                         { panic(errNoAsm) }
func gemm6x16AVX2(a, b *float32, kc int, c *float32, ldc int, acc bool)   { panic(errNoAsm) }
func gemm6x32AVX512(a, b *float32, kc int, c *float32, ldc int, acc bool) { panic(errNoAsm) }
func gemvF32AVX2(dst, x []float32, w []byte)                              { panic(errNoAsm) }
func gemvF16AVX2(dst, x []float32, w []byte)                              { panic(errNoAsm) }
func gemvBF16AVX2(dst, x []float32, w []byte)                             { panic(errNoAsm) }
func f16ToF32AVX2(dst []float32, src []byte)                              { panic(errNoAsm) }
func bf16ToF32AVX2(dst []float32, src []byte)                             { panic(errNoAsm) }
func packPanelF32AVX2(dst *float32, src *byte, stride, kc int)            { panic(errNoAsm) }
func packPanelF16AVX2(dst *float32, src *byte, stride, kc int)            { panic(errNoAsm) }
func packPanelBF16AVX2(dst *float32, src *byte, stride, kc int)           { panic(errNoAsm) }
func expSumAVX2(dst, src []float32, shift float32) float32                { panic(errNoAsm) }
func scaleMaxAVX2(x []float32, s float32) float32                         { panic(errNoAsm) }
func qgemvRowsI8AVX512(dst []float32, xq []int8, dx, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int, eight bool) {
	panic(errNoAsm)
}

func qgemvPairsI8AVX512(dst []float32, xq []int8, dx, xsum []float32, w *byte, wstride int, s unsafe.Pointer, ss int, z *byte, zs, group int, eight, half bool) {
	panic(errNoAsm)
}

func qgemvQuad4AVX2(dst *float32, xp, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int) {
	panic(errNoAsm)
}
func qgemvQuad8AVX2(dst *float32, xp, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int) {
	panic(errNoAsm)
}
func qgemvQuad2AVX2(dst *float32, xp, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int) {
	panic(errNoAsm)
}
func qgemvQuad3AVX2(dst *float32, xp, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int) {
	panic(errNoAsm)
}
func qdequant4AVX2(dst []float32, src *byte, sc, off *float32, group int) { panic(errNoAsm) }
func qdequant8AVX2(dst []float32, src *byte, sc, off *float32, group int) { panic(errNoAsm) }
func qdequant2AVX2(dst []float32, src *byte, sc, off *float32, group int) { panic(errNoAsm) }
func qdequant3AVX2(dst []float32, src *byte, sc, off *float32, group int) { panic(errNoAsm) }
func fmaLoopAVX2(iters int, a, b float32) float32                         { panic(errNoAsm) }
func fmaLoopAVX512(iters int, a, b float32) float32                       { panic(errNoAsm) }
func sumAVX2(x []float32) float32                                         { panic(errNoAsm) }
func qgemvQuad4I8AVX2(dst *float32, xq []int8, dx, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int) {
	panic(errNoAsm)
}
func qgemvQuad4I8G32AVX2(dst *float32, xq []int8, dx, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int) {
	panic(errNoAsm)
}
func colStatAVX2(dst []float64, x []float32, stride, rows int, abs bool) { panic(errNoAsm) }
func requantPanel4G32AVX512(panel, d *float32, kc int, codes *byte, rb int, scales *float32, zeros *byte, ng, rows int, f16 bool, tmp *byte) bool {
	panic(errNoAsm)
}
func colStatAVX512(dst []float64, x []float32, stride, rows int, abs bool) {
	panic(errNoAsm)
}
func scaleMinMaxAVX2(w []float32, d *float32) (lo, hi float32, nan bool) { panic(errNoAsm) }
func minMaxAVX2(w []float32) (lo, hi float32, nan bool)                  { panic(errNoAsm) }
func quantizeAVX2(codes []uint8, w *float32, s, z, maxq float32)         { panic(errNoAsm) }
func pack4AVX2(dst []byte, codes *uint8)                                 { panic(errNoAsm) }
func qgemvRow4AVX512(xp, xsum []float32, w *byte, s *float32, z *byte, group int) float32 {
	panic(errNoAsm)
}

func gemvF32AVX512(dst, x []float32, w []byte)   { panic(errNoAsm) }
func gemvF16AVX512(dst, x []float32, w []byte)   { panic(errNoAsm) }
func gemvBF16AVX512(dst, x []float32, w []byte)  { panic(errNoAsm) }
func gemv4F16AVX512(dst, x []float32, w []byte)  { panic(errNoAsm) }
func gemv4BF16AVX512(dst, x []float32, w []byte) { panic(errNoAsm) }

func qgemvRows8AVX512(dst, xp, xsum []float32, w *byte, wstride int, s *float32, ss int, z *byte, zs, group int) {
	panic(errNoAsm)
}

func quantizeActsAVX512(xq []int8, dx, bsum, x []float32) { panic(errNoAsm) }

func requant4G32AVX512(dst *byte, scales *float32, zeros *byte, w *byte, bf16 bool, d *float32, k int, f16 bool, tmp *float32) bool {
	panic(errNoAsm)
}

func attnScores16AVX512(dst, q, k []float32, blocks, hd int)              { panic(errNoAsm) }
func attnValues8AVX512(out, p []float32, ldp int, v []float32, n, hd int) { panic(errNoAsm) }
func attnScores8AVX2(dst, q, k []float32, blocks, hd int)                 { panic(errNoAsm) }
func attnValues4AVX2(out, p []float32, ldp int, v []float32, n, hd int)   { panic(errNoAsm) }
