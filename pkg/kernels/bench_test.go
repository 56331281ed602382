package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchPaths runs fn as the sub-benchmarks generic/… and avx2/… so that
// benchstat lines them up. Run single-threaded figures with -cpu 1.
func benchPaths(b *testing.B, name string, fn func(b *testing.B)) {
	for _, p := range kernelPaths() {
		b.Run(p.name+"/"+name, func(b *testing.B) { withPath(p, func() { fn(b) }) })
	}
}

// reportFlops reports GFLOP/s over wall time and, because the machines
// this runs on are often shared, GFLOP per second of CPU time the process
// consumed since start (from cpuSeconds), which other load disturbs less.
func reportFlops(b *testing.B, flopsPerOp float64, start float64) {
	flops := flopsPerOp * float64(b.N) / 1e9
	b.ReportMetric(flops/b.Elapsed().Seconds(), "GFLOP/s")
	if cpu := cpuSeconds() - start; start >= 0 && cpu > 0 {
		b.ReportMetric(flops/cpu, "GFLOP/cpu-s")
	}
}

func BenchmarkMatMulT(b *testing.B) {
	shapes := [][3]int{
		{1, 1024, 1024}, {1, 4096, 4096},
		{64, 1024, 1024}, {64, 4096, 4096},
		{512, 1024, 1024}, {512, 4096, 4096},
	}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		for _, e := range []Elem{ElemF32, ElemF16, ElemBF16} {
			benchPaths(b, fmt.Sprintf("%v/m=%d,n=%d,k=%d", e, m, n, k), func(b *testing.B) {
				r := rand.New(rand.NewPCG(5, 6))
				x := randVec(r, m*k)
				wb, _ := encode(randVec(r, n*k), e)
				w := Weights{Elem: e, Rows: n, Cols: k, Data: wb}
				dst := make([]float32, m*n)
				// Bytes are those of the weights, which bound m = 1.
				b.SetBytes(int64(len(wb)))
				start := cpuSeconds()
				for b.Loop() {
					MatMulT(dst, x, m, w)
				}
				reportFlops(b, 2*float64(m*n*k), start)
			})
		}
	}
}

func BenchmarkDot(b *testing.B) {
	for _, n := range []int{8, 64, 128, 4096} {
		benchPaths(b, fmt.Sprintf("n=%d", n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			x, y := randVec(r, n), randVec(r, n)
			b.SetBytes(int64(8 * n))
			var s float32
			start := cpuSeconds()
			for b.Loop() {
				s += Dot(x, y)
			}
			reportFlops(b, 2*float64(n), start)
			_ = s
		})
	}
}

func BenchmarkAxpy(b *testing.B) {
	for _, n := range []int{8, 64, 128, 4096} {
		benchPaths(b, fmt.Sprintf("n=%d", n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			x, y := randVec(r, n), randVec(r, n)
			b.SetBytes(int64(12 * n))
			start := cpuSeconds()
			for b.Loop() {
				Axpy(1e-3, x, y)
			}
			reportFlops(b, 2*float64(n), start)
		})
	}
}

func BenchmarkQMatMulT(b *testing.B) {
	shapes := [][3]int{{1, 4096, 4096}, {1, 11008, 4096}, {8, 4096, 4096}, {512, 4096, 4096}}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		for _, bits := range []int{2, 3, 4, 8} {
			benchPaths(b, fmt.Sprintf("int%d-g128/m=%d,n=%d,k=%d", bits, m, n, k), func(b *testing.B) {
				r := rand.New(rand.NewPCG(5, 6))
				x := randVec(r, m*k)
				w := randQCase(r, bits, 128, n, k, false, false).w
				dst := make([]float32, m*n)
				b.SetBytes(int64(w.Bytes()))
				start := cpuSeconds()
				for b.Loop() {
					QMatMulT(dst, x, m, w)
				}
				reportFlops(b, 2*float64(m*n*k), start)
			})
		}
	}
}

// BenchmarkQGemvInt8 compares the two decode paths of 4-bit weights,
// float32 activations (act=f32) and int8 activations (act=i8), side by
// side in one run.
func BenchmarkQGemvInt8(b *testing.B) {
	shapes := [][3]int{{1, 4096, 4096}, {1, 11008, 4096}, {4, 4096, 4096}}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		for _, group := range []int{32, 128} {
			for _, i8 := range []bool{false, true} {
				act := map[bool]string{false: "f32", true: "i8"}[i8]
				benchPaths(b, fmt.Sprintf("int4-g%d/act=%s/m=%d,n=%d,k=%d", group, act, m, n, k), func(b *testing.B) {
					r := rand.New(rand.NewPCG(5, 6))
					x := randVec(r, m*k)
					w := randQCase(r, 4, group, n, k, false, false).w
					dst := make([]float32, m*n)
					b.SetBytes(int64(w.Bytes()))
					old := SetInt8Activations(i8)
					defer SetInt8Activations(old)
					start := cpuSeconds()
					for b.Loop() {
						QMatMulT(dst, x, m, w)
					}
					reportFlops(b, 2*float64(m*n*k), start)
				})
			}
		}
	}
}
