package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkRequantRow4G32 re-quantizes 2048 × 5120 bfloat16 matrices (about
// an MLP projection of the TinyLlama shape) row by row, as TTQ does once
// per request for every matrix: "memory" cycles through copies of 168 MB
// so that the weights come from memory (one 21 MB copy would stay in a
// 32 MB L3), "l2" repeats its first 32 rows (320 KB). ns/weight is the
// figure issue #9's 3 % of a prefill is made of.
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
	const copies = 8
	ws := make([]Weights, copies)
	for i := range ws {
		ws[i] = Weights{Elem: ElemBF16, Rows: rows, Cols: cols, Data: make([]byte, 2*rows*cols)}
		FromFloat32(ws[i].Data, src, ElemBF16)
	}
	d := make([]float32, cols)
	for i := range d {
		d[i] = float32(0.5 + rng.Float64())
	}
	dst := make([]byte, rows*cols/2)
	scales := make([]float32, rows*cols/32)
	zeros := make([]uint8, rows*cols/32)
	tmp := make([]float32, RequantScratch(cols))
	for _, c := range []struct {
		name         string
		rows, copies int
	}{{"memory", rows, copies}, {"l2", 32, 1}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(2 * c.rows * cols))
			for i := 0; i < b.N; i++ {
				w := ws[i%c.copies]
				for r := 0; r < c.rows; r++ {
					if !RequantRow4G32(dst[r*cols/2:], scales[r*cols/32:], zeros[r*cols/32:], w, r, d, true, tmp) {
						b.Fatal("fused kernel refused finite input")
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*c.rows*cols), "ns/weight")
		})
	}
}

// BenchmarkColumnSumSq is TTQ's statistic over a 512-token prompt of the
// TinyLlama shape's inputs (2048 and 5632 channels), on each vector path:
// the matrix is hot, as the prefill's activations are when it runs.
func BenchmarkColumnSumSq(b *testing.B) {
	const rows = 512
	for _, cols := range []int{2048, 5632} {
		x := make([]float32, rows*cols)
		rng := rand.New(rand.NewPCG(3, 4))
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		dst := make([]float64, cols)
		for _, p := range kernelPaths() {
			b.Run(fmt.Sprintf("%d/%s", cols, p.name), func(b *testing.B) {
				withPath(p, func() {
					b.SetBytes(int64(4 * rows * cols))
					for i := 0; i < b.N; i++ {
						ColumnSumSq(dst, x, rows)
					}
				})
			})
		}
	}
}

// BenchmarkRequantPanel is the panel kernel on the blocks of a 256×256
// packed weight block, as the dense prefill calls it while the block is
// in L2; compare BenchmarkRequantRow4G32/l2 per weight.
func BenchmarkRequantPanel(b *testing.B) {
	const rows, kc = 256, 256
	rng := rand.New(rand.NewPCG(5, 6))
	bp := make([]float32, rows*kc)
	for i := range bp {
		bp[i] = float32(rng.NormFloat64())
	}
	d := make([]float32, kc)
	for i := range d {
		d[i] = float32(0.5 + rng.Float64())
	}
	const k = 2048 // the matrix the block is part of
	codes, scales, zeros := make([]byte, rows*k/2), make([]float32, rows*k/32), make([]uint8, rows*k/32)
	tmp := make([]byte, requantPanelTmp)
	for _, p := range kernelPaths() {
		b.Run(p.name, func(b *testing.B) {
			withPath(p, func() {
				for i := 0; i < b.N; i++ {
					for q := 0; q < rows/nr; q++ {
						r := q * nr
						if !requantPanel(codes[r*k/2:], k/2, scales[r*k/32:], zeros[r*k/32:], k/32, bp[q*nr*kc:], d, nr, kc, true, tmp) {
							b.Fatal("refused finite weights")
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows*kc), "ns/weight")
			})
		})
	}
}
