package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpf32AgainstMath compares expf32 with math.Exp (float64) over the
// whole float32 range that softmax can meet, including the subnormal
// results near the bottom and the overflow edge.
func TestExpf32AgainstMath(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	xs := []float32{0, -0, 1, -1, 0.5, 88.7, -87.3, -100, -103.9, 88.72283, 89, -104, float32(math.Inf(-1)), float32(math.Inf(1))}
	for i := 0; i < 200000; i++ {
		xs = append(xs, float32(r.Float64()*200-104))
	}
	for _, x := range xs {
		got := float64(expf32(x))
		want := math.Exp(float64(x))
		if want > math.MaxFloat32 {
			if !math.IsInf(got, 1) {
				t.Fatalf("expf32(%g) = %g, want +Inf", x, got)
			}
			continue
		}
		// 3 ulp relative for normal results; subnormals have an absolute
		// resolution of 2^-149.
		tol := math.Max(3*math.Abs(want)*math.Pow(2, -23), math.Pow(2, -149))
		if math.Abs(got-want) > tol {
			t.Fatalf("expf32(%g) = %g, want %g (error %g > %g)", x, got, want, math.Abs(got-want), tol)
		}
	}
	if nan := expf32(float32(math.NaN())); nan == nan {
		t.Fatal("expf32(NaN) is not NaN")
	}
}

func BenchmarkExp(b *testing.B) {
	xs := make([]float32, 1024)
	for i := range xs {
		xs[i] = float32(i%200) * -0.1
	}
	b.Run("expf32", func(b *testing.B) {
		var s float32
		for i := 0; i < b.N; i++ {
			for _, x := range xs {
				s += expf32(x)
			}
		}
		_ = s
	})
	b.Run("math.Exp", func(b *testing.B) {
		var s float32
		for i := 0; i < b.N; i++ {
			for _, x := range xs {
				s += float32(math.Exp(float64(x)))
			}
		}
		_ = s
	})
}

// TestExpSumPaths runs the softmax exponential on both paths against
// float64 over lengths around the vector width and offsets, with guards.
func TestExpSumPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, accel := range []bool{false, true} {
		if accel && !hasAVX2 {
			continue
		}
		prev := SetAccelerated(accel)
		for n := 0; n <= 41; n++ {
			for off := 0; off < 3; off++ {
				src := make([]float32, n+off)
				for i := range src {
					src[i] = float32(r.NormFloat64() * 20)
				}
				src = src[off:]
				shift := float32(3)
				dst := make([]float32, n+4)
				for i := range dst {
					dst[i] = guard
				}
				if n > 2 {
					src[n-1] = -200 // clamped from below: e^-87 instead of 0
				}
				got := expSum(dst[:n], src, shift)
				var want float64
				for i, x := range src {
					e := math.Exp(float64(x - shift))
					want += e
					if math.Abs(float64(dst[i])-e) > 3*e*math.Pow(2, -23)+1e-37 && !(x-shift < -87 && dst[i] < 2e-38) {
						t.Fatalf("accel=%t n=%d: exp(%g) = %g, want %g", accel, n, x-shift, dst[i], e)
					}
				}
				if math.Abs(float64(got)-want) > 1e-6*want+1e-37 {
					t.Fatalf("accel=%t n=%d: sum %g, want %g", accel, n, got, want)
				}
				for i := n; i < len(dst); i++ {
					if dst[i] != guard {
						t.Fatalf("accel=%t n=%d: guard %d overwritten", accel, n, i-n)
					}
				}
			}
		}
		SetAccelerated(prev)
	}
}

// TestSiLUMulExtremes checks the activation where e^−g overflows or
// underflows, on both paths.
func TestSiLUMulExtremes(t *testing.T) {
	for _, accel := range []bool{false, true} {
		if accel && !hasAVX2 {
			continue
		}
		prev := SetAccelerated(accel)
		g := []float32{-200, -90, -50, -1, 0, 1, 50, 90, 200, 3}
		up := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 2}
		x := append([]float32(nil), g...)
		SiLUMul(x, up)
		for i, v := range g {
			want := float64(v) / (1 + math.Exp(-float64(v))) * float64(up[i])
			if math.Abs(float64(x[i])-want) > 1e-6*(1+math.Abs(want)) || math.IsNaN(float64(x[i])) {
				t.Errorf("accel=%t silu(%g)·%g = %g, want %g", accel, v, up[i], x[i], want)
			}
		}
		SetAccelerated(prev)
	}
}
