package kernels

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkRequantRow4G32 re-quantizes a 2048 × 5632 bfloat16 matrix (an
// MLP down projection of the TinyLlama shape, 23 MB: larger than the
// caches) row by row, as TTQ does once per request for every matrix;
// ns/weight is the figure issue #9's 3 % of a prefill is made of.
func BenchmarkRequantRow4G32(b *testing.B) {
	if !useAVX512 {
		b.Skip("no AVX-512: the fused kernel does not run")
	}
	const rows, cols = 2048, 5632 &^ 511
	rng := rand.New(rand.NewPCG(1, 2))
	src := make([]float32, rows*cols)
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	w := Weights{Elem: ElemBF16, Rows: rows, Cols: cols, Data: make([]byte, 2*rows*cols)}
	FromFloat32(w.Data, src, ElemBF16)
	d := make([]float32, cols)
	for i := range d {
		d[i] = float32(0.5 + rng.Float64())
	}
	dst := make([]byte, rows*cols/2)
	scales := make([]float32, rows*cols/32)
	zeros := make([]uint8, rows*cols/32)
	tmp := make([]float32, RequantScratch(cols))
	b.SetBytes(int64(len(w.Data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < rows; r++ {
			if !RequantRow4G32(dst[r*cols/2:], scales[r*cols/32:], zeros[r*cols/32:], w, r, d, true, tmp) {
				b.Fatal("fused kernel refused finite input")
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows*cols), "ns/weight")
}
