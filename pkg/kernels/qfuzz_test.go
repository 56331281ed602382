package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// FuzzQDot runs the quantized products on fuzzed widths, code widths,
// groups, grids and activation counts on every kernel path, holding each
// to the float64 product of the dequantized weights and the paths to each
// other. One output row of n is a quantized dot product; m < 8 exercises
// the matrix-vector kernels, larger m the dequantizing packed product.
func FuzzQDot(f *testing.F) {
	f.Add(uint8(4), int16(32), uint16(64), uint8(1), uint8(4), uint8(0), uint64(1))
	f.Add(uint8(3), int16(128), uint16(300), uint8(2), uint8(5), uint8(1), uint64(2))
	f.Add(uint8(2), int16(-1), uint16(172), uint8(1), uint8(3), uint8(2), uint64(3))
	f.Add(uint8(8), int16(16), uint16(33), uint8(9), uint8(7), uint8(3), uint64(4))
	f.Add(uint8(5), int16(20), uint16(100), uint8(3), uint8(2), uint8(1), uint64(5))
	f.Add(uint8(4), int16(384), uint16(1000), uint8(10), uint8(17), uint8(0), uint64(6))
	f.Fuzz(func(t *testing.T, bits8 uint8, group int16, k16 uint16, m8, n8, flags uint8, seed uint64) {
		bits := 2 + int(bits8%7)
		k, m, n := int(k16%1100), int(m8%12), int(n8%20)
		r := rand.New(rand.NewPCG(seed, uint64(k*m*n)))
		c := randQCase(r, bits, int(group), n, k, flags&1 != 0, flags&2 != 0)
		x := randVec(r, m*k)
		want, mag := refQMatMulT(x, m, c)
		var prev []float32
		for _, p := range kernelPaths() {
			dst, check := guarded(t, m*n, int(seed%3))
			withPath(p, func() { QMatMulT(dst, x, m, c.w) })
			check(p.name)
			for i, g := range dst {
				if math.Abs(float64(g)-want[i]) > sumTol(mag[i]) {
					t.Fatalf("%s int%d g%d m=%d n=%d k=%d: dst[%d] = %g, want %g", p.name, bits, group, m, n, k, i, g, want[i])
				}
				if prev != nil && math.Abs(float64(g-prev[i])) > 2*sumTol(mag[i]) {
					t.Fatalf("int%d g%d m=%d n=%d k=%d: dst[%d] differs between paths: %g vs %g", bits, group, m, n, k, i, prev[i], g)
				}
			}
			prev = dst
		}
	})
}
