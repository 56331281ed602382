package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// FuzzMatMulT runs MatMulT on fuzzed shapes, element types and offsets on
// every kernel path, holding each to the float64 product and the paths to
// each other.
func FuzzMatMulT(f *testing.F) {
	f.Add(uint8(1), uint16(7), uint16(3), uint8(0), uint8(0), uint64(1))
	f.Add(uint8(4), uint16(16), uint16(16), uint8(1), uint8(1), uint64(2))
	f.Add(uint8(7), uint16(33), uint16(257), uint8(2), uint8(3), uint64(3))
	f.Add(uint8(13), uint16(17), uint16(300), uint8(0), uint8(1), uint64(4))
	f.Add(uint8(6), uint16(272), uint16(9), uint8(1), uint8(2), uint64(5))
	f.Fuzz(func(t *testing.T, m8 uint8, n16, k16 uint16, e8, off8 uint8, seed uint64) {
		m, n, k := int(m8%40), int(n16%600), int(k16%600)
		e := []Elem{ElemF32, ElemF16, ElemBF16}[e8%3]
		off := int(off8 % 4)
		r := rand.New(rand.NewPCG(seed, uint64(m*n*k)))
		x := randVec(r, m*k)
		wb, wv := encode(randVec(r, n*k), e)
		buf := make([]byte, off+len(wb))
		copy(buf[off:], wb)
		w := Weights{Elem: e, Rows: n, Cols: k, Data: buf[off:]}
		want, mag := naiveMatMulT(x, m, wv, n, k)
		var prev []float32
		for _, p := range kernelPaths() {
			dst, check := guarded(t, m*n, off)
			withPath(p, func() { MatMulT(dst, x, m, w) })
			check(p.name)
			for i, g := range dst {
				if math.Abs(float64(g)-want[i]) > sumTol(mag[i]) {
					t.Fatalf("%s %v m=%d n=%d k=%d: dst[%d] = %g, want %g", p.name, e, m, n, k, i, g, want[i])
				}
				if prev != nil && math.Abs(float64(g-prev[i])) > 2*sumTol(mag[i]) {
					t.Fatalf("%v m=%d n=%d k=%d: dst[%d] differs between paths: %g vs %g", e, m, n, k, i, prev[i], g)
				}
			}
			prev = dst
		}
	})
}
