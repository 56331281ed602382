package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
)

// naiveMatMulT is the float64 definition of dst = x·wᵀ, with the sum of
// the magnitudes of the products of each output for its error bound.
func naiveMatMulT(x []float32, m int, w []float32, n, k int) (out, mag []float64) {
	out, mag = make([]float64, m*n), make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			out[i*n+j], mag[i*n+j] = dot64(x[i*k:(i+1)*k], w[j*k:(j+1)*k])
		}
	}
	return out, mag
}

// The paired micro-kernel against the float64 product, on every path
// (the AVX-512 kernel, gemmTile twice elsewhere).
func TestGemmTilePairPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, kc := range []int{1, 3, 4, 5, 9, 256, 301} {
		for _, ldc := range []int{2 * nr, 2*nr + 3, 70} {
			for _, acc := range []bool{false, true} {
				off := r.IntN(3)
				a := randVec(r, kc*mr+off)[off:]
				b := randVec(r, 2*kc*nr+off)[off:]
				c0 := randVec(r, (mr-1)*ldc+2*nr)
				for _, p := range kernelPaths() {
					what := fmt.Sprintf("%s kc=%d ldc=%d acc=%v", p.name, kc, ldc, acc)
					c, check := guarded(t, len(c0), off)
					for i := range c {
						if i%ldc < 2*nr {
							c[i] = c0[i]
						}
					}
					withPath(p, func() { gemmTilePair(b, a, kc, c, ldc, acc) })
					check(what)
					for i := 0; i < mr; i++ {
						for j := ldc*i + 2*nr; j < min(ldc*(i+1), len(c)); j++ {
							if c[j] != guard {
								t.Fatalf("%s: wrote c[%d] between tile rows", what, j)
							}
						}
						for j := 0; j < 2*nr; j++ {
							panel, col := b[j/nr*kc*nr:], j%nr
							var want, mag float64
							for q := 0; q < kc; q++ {
								prod := float64(a[q*mr+i]) * float64(panel[q*nr+col])
								want += prod
								mag += math.Abs(prod)
							}
							if acc {
								want += float64(c0[i*ldc+j])
								mag += math.Abs(float64(c0[i*ldc+j]))
							}
							if got := c[i*ldc+j]; math.Abs(float64(got)-want) > sumTol(mag) {
								t.Fatalf("%s: c[%d][%d] = %g, want %g", what, i, j, got, want)
							}
						}
					}
				}
			}
		}
	}
}

func TestGemmTilePaths(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, kc := range []int{1, 2, 3, 4, 5, 7, 8, 9, 63, 256, 301} {
		for _, ldc := range []int{nr, nr + 1, 40} {
			for _, acc := range []bool{false, true} {
				for off := 0; off < 3; off++ {
					a := randVec(r, kc*mr+off)[off:]
					b := randVec(r, kc*nr+off)[off:]
					c0 := randVec(r, (mr-1)*ldc+nr)
					for _, p := range kernelPaths() {
						what := fmt.Sprintf("%s kc=%d ldc=%d acc=%v off=%d", p.name, kc, ldc, acc, off)
						c, check := guarded(t, len(c0), off)
						// Columns between tile rows are not the kernel's either.
						for i := range c {
							if i%ldc < nr {
								c[i] = c0[i]
							}
						}
						withPath(p, func() { gemmTile(a, b, kc, c, ldc, acc) })
						check(what)
						for i := 0; i < mr; i++ {
							for j := ldc*i + nr; j < min(ldc*(i+1), len(c)); j++ {
								if c[j] != guard {
									t.Fatalf("%s: wrote c[%d] between tile rows", what, j)
								}
							}
							for j := 0; j < nr; j++ {
								var want, mag float64
								for q := 0; q < kc; q++ {
									prod := float64(a[q*mr+i]) * float64(b[q*nr+j])
									want += prod
									mag += math.Abs(prod)
								}
								if acc {
									want += float64(c0[i*ldc+j])
									mag += math.Abs(float64(c0[i*ldc+j]))
								}
								if got := c[i*ldc+j]; math.Abs(float64(got)-want) > sumTol(mag) {
									t.Fatalf("%s: c[%d][%d] = %g, want %g", what, i, j, got, want)
								}
							}
						}
					}
				}
			}
		}
	}
}

func TestGemvPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, e := range []Elem{ElemF32, ElemF16, ElemBF16} {
		for _, rows := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 13} {
			for _, k := range []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 64, 80, 100, 192, 257} {
				x := randVec(r, k)
				wb, wv := encode(randVec(r, rows*k), e)
				for _, woff := range []int{0, 1, 2, 3} {
					buf := make([]byte, woff+len(wb))
					copy(buf[woff:], wb)
					wo := buf[woff:]
					for _, p := range kernelPaths() {
						what := fmt.Sprintf("%s %v rows=%d k=%d woff=%d", p.name, e, rows, k, woff)
						dst, check := guarded(t, rows, woff)
						withPath(p, func() { gemv(dst, x, wo, e) })
						check(what)
						for j := range dst {
							want, mag := dot64(x, wv[j*k:(j+1)*k])
							if math.Abs(float64(dst[j])-want) > sumTol(mag) {
								t.Fatalf("%s: dst[%d] = %g, want %g", what, j, dst[j], want)
							}
						}
					}
				}
			}
		}
	}
}

// matMulShapes mixes the matrix-vector regime (m < gemmMinRows) and the
// packed one, ragged in every dimension and across the k and n blocks.
var matMulShapes = [][3]int{
	{1, 1, 1}, {1, 7, 3}, {2, 5, 17}, {3, 17, 5}, {3, 4, 0}, {4, 16, 16}, {5, 33, 64},
	{6, 16, 1}, {7, 17, 257}, {13, 40, 300}, {64, 172, 64}, {70, 19, 129}, {2, 300, 1},
	{130, 5, 8}, {12, 600, 33}, {9, 4, 0}, {0, 5, 5}, {5, 0, 5},
}

func TestMatMulTPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	defer SetThreads(0)
	for _, e := range []Elem{ElemF32, ElemF16, ElemBF16} {
		for _, threads := range []int{1, 2, 3} {
			SetThreads(threads)
			for _, s := range matMulShapes {
				m, n, k := s[0], s[1], s[2]
				xoff := r.IntN(8)
				x := randVec(r, m*k+xoff)[xoff:]
				x0 := slices.Clone(x)
				wb, wv := encode(randVec(r, n*k), e)
				// An odd byte offset keeps F32 weights from being
				// used in place, so the decoding path runs too.
				woff := 0
				if n%2 == 1 {
					woff = 1
				}
				buf := make([]byte, woff+len(wb))
				copy(buf[woff:], wb)
				w := Weights{Elem: e, Rows: n, Cols: k, Data: buf[woff:]}
				want, mag := naiveMatMulT(x, m, wv, n, k)
				for _, p := range kernelPaths() {
					what := fmt.Sprintf("%s %v threads=%d m=%d n=%d k=%d", p.name, e, threads, m, n, k)
					dst, check := guarded(t, m*n, xoff)
					withPath(p, func() { MatMulT(dst, x, m, w) })
					check(what)
					for i, g := range dst {
						if math.Abs(float64(g)-want[i]) > sumTol(mag[i]) {
							t.Fatalf("%s: dst[%d] = %g, want %g", what, i, g, want[i])
						}
					}
					if !slices.Equal(x, x0) {
						t.Fatalf("%s: x modified", what)
					}
				}
			}
		}
	}
}

// TestMatMulTLarge crosses several k and n blocks with both threads busy,
// and compares the two paths with each other as well as with float64.
func TestMatMulTLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	m, n, k := 23, 530, 700
	x := randVec(r, m*k)
	wb, wv := encode(randVec(r, n*k), ElemBF16)
	w := Weights{Elem: ElemBF16, Rows: n, Cols: k, Data: wb}
	want, mag := naiveMatMulT(x, m, wv, n, k)
	got := map[string][]float32{}
	for _, p := range kernelPaths() {
		dst := make([]float32, m*n)
		withPath(p, func() { MatMulT(dst, x, m, w) })
		for i := range dst {
			if math.Abs(float64(dst[i])-want[i]) > sumTol(mag[i]) {
				t.Fatalf("%s: dst[%d] = %g, want %g", p.name, i, dst[i], want[i])
			}
		}
		got[p.name] = dst
	}
	if a, g := got["avx2"], got["generic"]; a != nil {
		for i := range a {
			if math.Abs(float64(a[i]-g[i])) > 2*sumTol(mag[i]) {
				t.Fatalf("dst[%d]: avx2 %g vs generic %g", i, a[i], g[i])
			}
		}
	}
}

func TestMatMulTPanicsOnShortSlices(t *testing.T) {
	w := NewWeightsF32(2, 3, make([]float32, 6))
	for _, c := range []struct {
		name   string
		dst, x []float32
		m      int
	}{
		{"short x", make([]float32, 4), make([]float32, 5), 2},
		{"short dst", make([]float32, 3), make([]float32, 6), 2},
		{"negative m", make([]float32, 4), make([]float32, 6), -1},
	} {
		func() {
			defer func() {
				if msg, _ := recover().(string); len(msg) < 8 || msg[:8] != "kernels:" {
					t.Errorf("%s: recovered %q, want a kernels: panic", c.name, msg)
				}
			}()
			MatMulT(c.dst, c.x, c.m, w)
		}()
	}
}

func TestPackPanelPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for _, e := range []Elem{ElemF32, ElemF16, ElemBF16} {
		es := e.Size()
		for _, rows := range []int{0, 1, 5, 15, 16} {
			for _, kc := range []int{0, 1, 7, 8, 9, 16, 17, 40, 64, 259} {
				stride := (kc + r.IntN(5)) * es
				off := r.IntN(4)
				vals := randVec(r, max(0, (rows-1)*stride/es+kc+1))
				wb, wv := encode(vals, e)
				buf := make([]byte, off+len(wb))
				copy(buf[off:], wb)
				for _, p := range kernelPaths() {
					what := fmt.Sprintf("%s %v rows=%d kc=%d stride=%d off=%d", p.name, e, rows, kc, stride, off)
					dst, check := guarded(t, kc*nr, off)
					withPath(p, func() { packPanel(dst, buf[off:], stride, rows, kc, e) })
					check(what)
					for q := 0; q < kc; q++ {
						for i := 0; i < nr; i++ {
							want := float32(0)
							if i < rows {
								want = wv[i*stride/es+q]
							}
							if got := dst[q*nr+i]; got != want {
								t.Fatalf("%s: dst[%d*nr+%d] = %g, want %g", what, q, i, got, want)
							}
						}
					}
				}
			}
		}
	}
}

// TestMatMulPaths holds MatMul (x·w, w row-major with a row stride) to
// the float64 definition on both sides of gemmMinRows, with windows of a
// wider matrix and block-crossing shapes.
func TestMatMulPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	defer SetThreads(0)
	shapes := [][3]int{{1, 1, 1}, {1, 64, 37}, {3, 16, 200}, {7, 17, 5}, {8, 64, 300}, {13, 33, 257}, {70, 128, 513}, {6, 0, 4}, {9, 5, 0}}
	for _, threads := range []int{1, 2} {
		SetThreads(threads)
		for _, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			for _, extra := range []int{0, 3} {
				ldw := n + extra
				x := randVec(r, m*k)
				w := randVec(r, max(0, k*ldw))
				// The reference reads w transposed, its window only.
				wt := make([]float32, n*k)
				for p := 0; p < k; p++ {
					for j := 0; j < n; j++ {
						wt[j*k+p] = w[p*ldw+j]
					}
				}
				want, mag := naiveMatMulT(x, m, wt, n, k)
				for _, p := range kernelPaths() {
					what := fmt.Sprintf("%s threads=%d m=%d n=%d k=%d ldw=%d", p.name, threads, m, n, k, ldw)
					dst, check := guarded(t, m*n, 1)
					withPath(p, func() { MatMul(dst, x, m, w, k, n, ldw) })
					check(what)
					for i, g := range dst {
						if math.Abs(float64(g)-want[i]) > sumTol(mag[i]) {
							t.Fatalf("%s: dst[%d] = %g, want %g", what, i, g, want[i])
						}
					}
				}
			}
		}
	}
}

// matMulT with a visitor and no re-quantization (MatMulTRequant's path
// where its kernel does not run) computes MatMulT's product and hands over
// every weight row once, on both the row-wise and the packed paths.
func TestMatMulTVisitorCoversEachRowOnce(t *testing.T) {
	for _, sh := range []struct{ m, n, k int }{{0, 5, 300}, {1, 37, 300}, {5, 64, 512}, {8, 300, 300}, {64, 600, 1100}} {
		x := make([]float32, sh.m*sh.k)
		wf := make([]float32, sh.n*sh.k)
		for i := range x {
			x[i] = float32(i%17) - 8
		}
		for i := range wf {
			wf[i] = float32(i%13) - 6
		}
		w := NewWeightsF32(sh.n, sh.k, wf)
		want, got := make([]float32, sh.m*sh.n), make([]float32, sh.m*sh.n)
		MatMulT(want, x, sh.m, w)
		seen := make([]atomic.Int32, sh.n)
		var bad atomic.Int32
		matMulT(got, x, sh.m, w, nil, func(j0, j1 int) {
			if j0 < 0 || j1 > sh.n || j0 >= j1 {
				bad.Add(1)
				return
			}
			for j := j0; j < j1; j++ {
				seen[j].Add(1)
			}
		})
		if bad.Load() != 0 {
			t.Fatalf("%+v: %d blocks out of shape", sh, bad.Load())
		}
		for j := range seen {
			if v := seen[j].Load(); v != 1 {
				t.Fatalf("%+v: row %d visited %d times", sh, j, v)
			}
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%+v: product %d = %g, MatMulT %g", sh, i, got[i], want[i])
			}
		}
	}
}

// The half-precision GEMV's four-rows-at-a-time kernels give each row
// exactly the one-row kernel's result (which the path tests hold to the
// generic twin): the same sums in the same order, so a difference is a
// wrong pointer or register.
func TestGemv4HalfMatchesOneRow(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(61, 62))
	for _, e := range []Elem{ElemF16, ElemBF16} {
		for _, k := range []int{16, 48, 64, 80, 2048, 2064} {
			for _, rows := range []int{4, 8, 20} {
				x := randVec(r, k)
				w, _ := encode(randVec(r, rows*k), e)
				want := make([]float32, rows)
				switch e {
				case ElemF16:
					gemvF16AVX512(want, x, w)
				case ElemBF16:
					gemvBF16AVX512(want, x, w)
				}
				got, check := guarded(t, rows, r.IntN(3))
				switch e {
				case ElemF16:
					gemv4F16AVX512(got, x, w)
				case ElemBF16:
					gemv4BF16AVX512(got, x, w)
				}
				check("gemv4")
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%v k=%d rows=%d: row %d is %g, the one-row kernel's %g", e, k, rows, i, got[i], want[i])
					}
				}
			}
		}
	}
}
