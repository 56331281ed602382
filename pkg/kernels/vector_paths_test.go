package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// vectorLengths covers every length up to three 32-wide blocks plus one,
// and the block boundaries above.
func vectorLengths() []int {
	var ns []int
	for n := 0; n <= 3*32+1; n++ {
		ns = append(ns, n)
	}
	return append(ns, 127, 128, 129, 255, 256, 257, 1000)
}

func TestDotPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range vectorLengths() {
		for off := 0; off < 8; off++ {
			x := randVec(r, n+off)[off:]
			y := randVec(r, n+3+off)[off:] // longer y: only len(x) counts
			x0, y0 := slices.Clone(x), slices.Clone(y)
			want, mag := dot64(x, y[:n])
			got := map[string]float32{}
			for _, p := range kernelPaths() {
				withPath(p, func() { got[p.name] = Dot(x, y) })
				if d := math.Abs(float64(got[p.name]) - want); d > sumTol(mag) {
					t.Fatalf("%s n=%d off=%d: Dot = %g, want %g (mag %g)", p.name, n, off, got[p.name], want, mag)
				}
			}
			if len(got) == 2 && math.Abs(float64(got["avx2"]-got["generic"])) > 2*sumTol(mag) {
				t.Fatalf("n=%d off=%d: avx2 %g vs generic %g", n, off, got["avx2"], got["generic"])
			}
			if !slices.Equal(x, x0) || !slices.Equal(y, y0) {
				t.Fatalf("n=%d: Dot modified its inputs", n)
			}
		}
	}
}

// Mul is one float32 product per element, the IEEE result, on every path.
func TestMulPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range vectorLengths() {
		for off := 0; off < 8; off++ {
			x := randVec(r, n+off)[off:]
			y := randVec(r, n)
			for _, p := range kernelPaths() {
				dst, check := guarded(t, n, off)
				withPath(p, func() { Mul(dst, x, y) })
				check(fmt.Sprintf("%s Mul n=%d off=%d", p.name, n, off))
				for i := range dst {
					if want := float32(float64(x[i]) * float64(y[i])); math.Float32bits(dst[i]) != math.Float32bits(want) {
						t.Fatalf("%s n=%d off=%d: dst[%d] = %g, want %g", p.name, n, off, i, dst[i], want)
					}
				}
			}
		}
	}
}

func TestAxpyPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, n := range vectorLengths() {
		for off := 0; off < 8; off++ {
			x := randVec(r, n+off)[off:]
			y0 := randVec(r, n)
			a := float32(r.NormFloat64())
			for _, p := range kernelPaths() {
				y, check := guarded(t, n, off)
				copy(y, y0)
				withPath(p, func() { Axpy(a, x, y) })
				check(fmt.Sprintf("%s Axpy n=%d off=%d", p.name, n, off))
				for i := range y {
					ax := float64(a) * float64(x[i])
					want := float64(y0[i]) + ax
					// One multiply and one add, each rounded at most once.
					tol := 1.2e-7 * (math.Abs(ax) + math.Abs(want))
					if d := math.Abs(float64(y[i]) - want); d > tol {
						t.Fatalf("%s n=%d off=%d: y[%d] = %g, want %g", p.name, n, off, i, y[i], want)
					}
				}
			}
		}
	}
}

func TestAxpyF64Paths(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range vectorLengths() {
		for off := 0; off < 4; off++ {
			x := make([]float64, n+off)[off:]
			y0 := make([]float64, n+1)
			for i := range x {
				x[i] = r.NormFloat64()
			}
			for i := range y0 {
				y0[i] = r.NormFloat64()
			}
			a := r.NormFloat64()
			for _, p := range kernelPaths() {
				y := append([]float64(nil), y0...)
				withPath(p, func() { AxpyF64(a, x, y[:n]) })
				if y[n] != y0[n] {
					t.Fatalf("%s n=%d: AxpyF64 wrote past len(x)", p.name, n)
				}
				for i := range n {
					ax := a * x[i]
					want := y0[i] + ax
					// Fused or not, at most two roundings.
					tol := 2.3e-16 * (math.Abs(ax) + math.Abs(want))
					if d := math.Abs(y[i] - want); d > tol {
						t.Fatalf("%s n=%d off=%d: y[%d] = %g, want %g", p.name, n, off, i, y[i], want)
					}
				}
			}
		}
	}
}

func TestAxpyLongerY(t *testing.T) {
	for _, p := range kernelPaths() {
		x := []float32{1, 2, 3}
		y := []float32{10, 20, 30, 40, 50}
		withPath(p, func() { Axpy(2, x, y) })
		if want := []float32{12, 24, 36, 40, 50}; !slices.Equal(y, want) {
			t.Errorf("%s: Axpy(2, %v, …) = %v, want %v", p.name, x, y, want)
		}
	}
}

// TestScaleMaxMatchesTwin holds scaleMax on every path to its pure-Go twin
// bit for bit (the products are the same IEEE multiplications), on lengths
// around the vector width and the four-vector step, and SoftmaxInPlace to
// the scalar passes it replaced: scale, running maximum, expSum, 1/sum.
func TestScaleMaxMatchesTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 17))
	for _, p := range kernelPaths() {
		withPath(p, func() {
			for n := 0; n <= 75; n++ {
				x := randVec(rng, n)
				got, want := slices.Clone(x), slices.Clone(x)
				mx := scaleMax(got, 0.125)
				wmx := scaleMaxGo(want, 0.125, float32(math.Inf(-1)))
				if mx != wmx || !slices.Equal(got, want) {
					t.Fatalf("%s n=%d: scaleMax max %g, twin %g; products equal: %v", p.name, n, mx, wmx, slices.Equal(got, want))
				}
				if n == 0 {
					continue
				}
				soft, old := slices.Clone(x), slices.Clone(x)
				SoftmaxInPlace(soft, 0.3)
				m := float32(math.Inf(-1))
				for i := range old {
					old[i] *= 0.3
					if old[i] > m {
						m = old[i]
					}
				}
				inv := 1 / expSum(old, old, m)
				for i := range old {
					old[i] *= inv
				}
				if !slices.Equal(soft, old) {
					t.Fatalf("%s n=%d: SoftmaxInPlace differs from the scalar passes", p.name, n)
				}
			}
		})
	}
}
