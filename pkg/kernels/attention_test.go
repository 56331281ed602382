package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// refScores and refValues are the products in float64, with the sum of
// magnitudes each output's tolerance scales with.
func refScores(q []float32, rows int, k []float32, n, hd int) (want, mag []float64) {
	want, mag = make([]float64, rows*n), make([]float64, rows*n)
	for r := 0; r < rows; r++ {
		for j := 0; j < n; j++ {
			for d := 0; d < hd; d++ {
				p := float64(q[r*hd+d]) * float64(k[j*hd+d])
				want[r*n+j] += p
				mag[r*n+j] += math.Abs(p)
			}
		}
	}
	return want, mag
}

func refValues(p []float32, rows int, v []float32, n, hd int) (want, mag []float64) {
	want, mag = make([]float64, rows*hd), make([]float64, rows*hd)
	for r := 0; r < rows; r++ {
		for j := 0; j < n; j++ {
			for d := 0; d < hd; d++ {
				x := float64(p[r*n+j]) * float64(v[j*hd+d])
				want[r*hd+d] += x
				mag[r*hd+d] += math.Abs(x)
			}
		}
	}
	return want, mag
}

func checkClose(t *testing.T, what string, got []float32, want, mag []float64) {
	t.Helper()
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= sumTol(mag[i])) {
			t.Fatalf("%s: [%d] = %g, want %g (|Δ| %.3g > %.3g)", what, i, got[i], want[i], d, sumTol(mag[i]))
		}
	}
}

// TestAttnKernelsMatchTwins holds each assembly attention kernel the CPU
// runs, and the pure-Go twins, to a float64 reference, on head sizes of
// one, two and four AVX-512 strips and key counts that leave no, one and
// many blocks, with guards around every output.
func TestAttnKernelsMatchTwins(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	type scoreImpl struct {
		name  string
		block int
		fn    attnScoreFunc
	}
	type valueImpl struct {
		name string
		rows int
		fn   attnValueFunc
	}
	scores := []scoreImpl{{"go", 16, func(dst, q, k []float32, blocks, hd int) { attnScoresGo(dst, q, k, 16*blocks, hd) }}}
	values := []valueImpl{{"go", 8, func(out, p []float32, ldp int, v []float32, n, hd int) { attnValuesGo(out, p, ldp, 8, v, n, hd) }}}
	if hasAVX2 {
		scores = append(scores, scoreImpl{"avx2", 8, attnScores8AVX2})
		values = append(values, valueImpl{"avx2", 4, attnValues4AVX2})
	}
	if hasAVX512 {
		scores = append(scores, scoreImpl{"avx512", 16, attnScores16AVX512})
		values = append(values, valueImpl{"avx512", 8, attnValues8AVX512})
	}
	for _, hd := range []int{32, 64, 128} {
		for _, blocks := range []int{0, 1, 3} {
			for _, im := range scores {
				keys := blocks * im.block
				q, k := randVec(rng, hd), randVec(rng, keys*hd)
				want, mag := refScores(q, 1, k, keys, hd)
				dst, check := guarded(t, keys, 3)
				im.fn(dst, q, k, blocks, hd)
				check("scores " + im.name)
				checkClose(t, fmt.Sprintf("%s scores hd %d blocks %d", im.name, hd, blocks), dst, want, mag)
			}
		}
		for _, n := range []int{0, 1, 5, 37} {
			for _, im := range values {
				// Weight rows ldp = n + 2 apart, as a window of a wider row.
				ldp := n + 2
				p, v := randVec(rng, im.rows*ldp), randVec(rng, n*hd)
				packed := make([]float32, im.rows*n)
				for r := 0; r < im.rows; r++ {
					copy(packed[r*n:(r+1)*n], p[r*ldp:r*ldp+n])
				}
				want, mag := refValues(packed, im.rows, v, n, hd)
				out, check := guarded(t, im.rows*hd, 5)
				im.fn(out, p, ldp, v, n, hd)
				check("values " + im.name)
				checkClose(t, fmt.Sprintf("%s values hd %d n %d", im.name, hd, n), out, want, mag)
			}
		}
	}
}

// TestAttnProductsMatchMatMul checks AttnScores and AttnValues, on every
// kernel path, against the float64 reference for the row counts a decode
// step has (the query heads of one key/value head: 1, 7, 8, 9, 16, 17) and
// cache lengths with and without a partial block of keys, head sizes the
// kernels take and one (24) that only AVX2's scoring takes.
func TestAttnProductsMatchMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for _, p := range kernelPaths() {
		withPath(p, func() {
			for _, hd := range []int{24, 64, 128} {
				for _, rows := range []int{1, 7, 8, 9, 16, 17} {
					for _, n := range []int{1, 15, 16, 33, 100} {
						q, k := randVec(rng, rows*hd), randVec(rng, n*hd)
						sc, check := guarded(t, rows*n, 1)
						AttnScores(sc, q, rows, k, n, hd)
						check("AttnScores")
						want, mag := refScores(q, rows, k, n, hd)
						checkClose(t, fmt.Sprintf("%s AttnScores hd %d rows %d n %d", p.name, hd, rows, n), sc, want, mag)

						w := randVec(rng, rows*n)
						out, check := guarded(t, rows*hd, 2)
						AttnValues(out, w, rows, k, n, hd)
						check("AttnValues")
						want, mag = refValues(w, rows, k, n, hd)
						checkClose(t, fmt.Sprintf("%s AttnValues hd %d rows %d n %d", p.name, hd, rows, n), out, want, mag)
					}
				}
			}
		})
	}
}

// BenchmarkAttnDecode times one decode step's attention products for one
// key/value head of the TinyLlama shape (8 query heads of 64 over a
// 1,024-position cache), through the general products (which pack the
// cache into panels from 8 rows on) and through AttnScores/AttnValues.
func BenchmarkAttnDecode(b *testing.B) {
	const rows, n, hd = 8, 1024, 64
	rng := rand.New(rand.NewPCG(1, 2))
	q, k, v := randVec(rng, rows*hd), randVec(rng, n*hd), randVec(rng, n*hd)
	sc, out := make([]float32, rows*n), make([]float32, rows*hd)
	for _, c := range []struct {
		name           string
		scores, values func()
	}{
		{"general", func() { MatMulT(sc, q, rows, NewWeightsF32(n, hd, k)) }, func() { MatMul(out, sc, rows, v, n, hd, hd) }},
		{"in-place", func() { AttnScores(sc, q, rows, k, n, hd) }, func() { AttnValues(out, sc, rows, v, n, hd) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.scores()
				c.values()
			}
			b.ReportMetric(float64(2*n*hd*4)*float64(b.N)/b.Elapsed().Seconds()/1e9, "cache-GB/s")
		})
	}
}
