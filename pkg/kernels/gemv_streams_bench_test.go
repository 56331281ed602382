package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkGemvHalfStreams sets the AVX-512 half-precision GEMV's two
// loops side by side on cold BF16 weights: one row at a time (a single
// stream through memory) and four rows a quarter of the matrix apart (four
// streams, what gemv runs). The weights, the 1.1B shape's 5632×2048
// gate/up matrix, are cycled through copies of at least 256 MiB so that
// each product reads them from memory. Run with -cpu 1 -count 5 and
// compare the GB/s of the two (#9).
func BenchmarkGemvHalfStreams(b *testing.B) {
	if !useAVX512 {
		b.Skip("no AVX-512")
	}
	const n, k = 5632, 2048
	r := rand.New(rand.NewPCG(71, 72))
	one, _ := encode(randVec(r, n*k), ElemBF16)
	copies := make([][]byte, (256<<20)/len(one)+1)
	for i := range copies {
		copies[i] = append([]byte(nil), one...)
	}
	x := randVec(r, k)
	dst := make([]float32, n)
	for _, c := range []struct {
		name string
		fn   func(dst, x []float32, w []byte)
	}{{"rows=1", gemvBF16AVX512}, {"rows=4", gemv4BF16AVX512}} {
		b.Run(fmt.Sprintf("%s/n=%d,k=%d", c.name, n, k), func(b *testing.B) {
			b.SetBytes(int64(len(one)))
			i := 0
			for b.Loop() {
				c.fn(dst, x, copies[i%len(copies)])
				i++
			}
		})
	}
}
