package kernels

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/x448/float16"
)

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// encode stores values in elem type and returns the bytes and the values as
// they were rounded, which is what the kernel must see.
func encode(v []float32, e Elem) ([]byte, []float32) {
	b := make([]byte, len(v)*e.Size())
	FromFloat32(b, v, e)
	back := make([]float32, len(v))
	ToFloat32(back, b, e)
	return b, back
}

func TestConversionsHandDerived(t *testing.T) {
	// Bit patterns from IEEE 754: 0x3C00 = 1.0 (F16), 0xC000 = -2, 0x7BFF =
	// 65504 (max half), 0x0001 = 2^-24 (smallest subnormal); BF16 0x3F80 = 1.0,
	// 0x4049 = 3.140625.
	f16 := []struct {
		bits uint16
		want float32
	}{{0x3C00, 1}, {0xC000, -2}, {0x7BFF, 65504}, {0x0001, float32(math.Ldexp(1, -24))}, {0x7C00, float32(math.Inf(1))}}
	for _, c := range f16 {
		got := make([]float32, 1)
		ToFloat32(got, []byte{byte(c.bits), byte(c.bits >> 8)}, ElemF16)
		if got[0] != c.want {
			t.Errorf("F16 %#04x = %g, want %g", c.bits, got[0], c.want)
		}
	}
	bf := []struct {
		bits uint16
		want float32
	}{{0x3F80, 1}, {0x4049, 3.140625}, {0xBF80, -1}}
	for _, c := range bf {
		got := make([]float32, 1)
		ToFloat32(got, []byte{byte(c.bits), byte(c.bits >> 8)}, ElemBF16)
		if got[0] != c.want {
			t.Errorf("BF16 %#04x = %g, want %g", c.bits, got[0], c.want)
		}
	}
	// Round to nearest even: 1 + 2^-8 lies exactly between two BF16 values
	// (1 and 1+2^-7) and must round to the even one, 1.0 (0x3F80); slightly
	// above it rounds up to 0x3F81.
	if got := BF16FromFloat32(1 + 1.0/256); got != 0x3F80 {
		t.Errorf("BF16(1+2^-8) = %#04x, want 0x3f80", got)
	}
	if got := BF16FromFloat32(1 + 1.0/256 + 1.0/4096); got != 0x3F81 {
		t.Errorf("BF16(1+2^-8+2^-12) = %#04x, want 0x3f81", got)
	}
	if got := float16.Fromfloat32(1.0 / 3).Bits(); got != 0x3555 {
		t.Errorf("F16(1/3) = %#04x, want 0x3555", got)
	}
}

func TestVectorKernelsAgainstFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, d := range []int{1, 7, 8, 64, 172} {
		x := randVec(r, 3*d)
		w := randVec(r, d)
		dst := make([]float32, 3*d)
		RMSNorm(dst, x, w, 1e-5)
		for row := 0; row < 3; row++ {
			var ss float64
			for _, v := range x[row*d : (row+1)*d] {
				ss += float64(v) * float64(v)
			}
			inv := 1 / math.Sqrt(ss/float64(d)+1e-5)
			for i := 0; i < d; i++ {
				want := float64(x[row*d+i]) * inv * float64(w[i])
				if math.Abs(float64(dst[row*d+i])-want) > 1e-5*(1+math.Abs(want)) {
					t.Fatalf("RMSNorm d=%d [%d][%d] = %g, want %g", d, row, i, dst[row*d+i], want)
				}
			}
		}
		p := randVec(r, d)
		q := append([]float32(nil), p...)
		const scale = 0.375
		SoftmaxInPlace(q, scale)
		var z float64
		for _, v := range p {
			z += math.Exp(scale * float64(v))
		}
		for i, v := range p {
			if want := math.Exp(scale*float64(v)) / z; math.Abs(float64(q[i])-want) > 1e-6 {
				t.Fatalf("softmax d=%d [%d] = %g, want %g", d, i, q[i], want)
			}
		}
		g, u := randVec(r, d), randVec(r, d)
		gs := append([]float32(nil), g...)
		SiLUMul(gs, u)
		for i := range g {
			want := float64(g[i]) / (1 + math.Exp(-float64(g[i]))) * float64(u[i])
			if math.Abs(float64(gs[i])-want) > 1e-6*(1+math.Abs(want)) {
				t.Fatalf("SiLUMul [%d] = %g, want %g", i, gs[i], want)
			}
		}
	}
}

func TestParallelForCoversEachIndexOnce(t *testing.T) {
	for _, threads := range []int{1, 2, 5} {
		SetThreads(threads)
		for _, n := range []int{0, 1, 7, 100, 1001} {
			seen := make([]int32, n)
			ParallelFor(n, 3, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					seen[i]++ // ranges are disjoint, so no race
				}
			})
			for i, c := range seen {
				if c != 1 {
					t.Fatalf("threads=%d n=%d: index %d visited %d times", threads, n, i, c)
				}
			}
		}
	}
	SetThreads(0)
}

// Calls from several goroutines at once, and calls nested inside a range,
// still cover each index once: the ones that find the pool taken run on
// the caller alone.
func TestParallelForConcurrentAndNested(t *testing.T) {
	SetThreads(3)
	defer SetThreads(0)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rep := 0; rep < 50; rep++ {
				n := 37 + rep
				seen := make([]atomic.Int32, n*n)
				ParallelFor(n, 1, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						ParallelFor(n, 2, func(lo2, hi2 int) {
							for k := lo2; k < hi2; k++ {
								seen[i*n+k].Add(1)
							}
						})
					}
				})
				for i := range seen {
					if c := seen[i].Load(); c != 1 {
						t.Errorf("n=%d: index %d visited %d times", n, i, c)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

// A Parallel covers each index once with its arguments, alone, from several
// goroutines at once and nested in its own ranges, at 1, 2 and 5 threads.
func TestParallelCoversEachIndexOnce(t *testing.T) {
	defer SetThreads(0)
	type args struct {
		seen   []atomic.Int32
		offset int
	}
	p := NewParallel(func(a *args, lo, hi int) {
		for i := lo; i < hi; i++ {
			a.seen[a.offset+i].Add(1)
		}
	})
	for _, threads := range []int{1, 2, 5} {
		SetThreads(threads)
		var wg sync.WaitGroup
		for g := 0; g < 3; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, n := range []int{0, 1, 7, 100, 1001} {
					seen := make([]atomic.Int32, 2*n)
					p.For(n, 3, args{seen, 0})
					// Nested: each outer range runs the second half.
					ParallelFor(2, 1, func(lo, hi int) {
						if lo == 0 {
							p.For(n, 5, args{seen, n})
						}
					})
					for i := range seen {
						if c := seen[i].Load(); c != 1 {
							t.Errorf("threads=%d n=%d: index %d visited %d times", threads, n, i, c)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
	}
}

// Once warm, a Parallel's call allocates nothing, on the caller alone or
// split between the pool's workers (#9: a decode step makes about a
// hundred). The fewest of three rounds: a round can meet the runtime's own
// one-time allocations.
func TestParallelAllocatesNothing(t *testing.T) {
	if raceBuild {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	defer SetThreads(0)
	dst := make([]float32, 4096)
	p := NewParallel(func(a *[]float32, lo, hi int) {
		for i := lo; i < hi; i++ {
			(*a)[i] += float32(i)
		}
	})
	for _, threads := range []int{1, 2} {
		SetThreads(threads)
		p.For(len(dst), 64, dst)
		fewest := uint64(math.MaxUint64)
		for range 3 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range 100 {
				p.For(len(dst), 64, dst)
			}
			runtime.ReadMemStats(&after)
			fewest = min(fewest, after.Mallocs-before.Mallocs)
		}
		if fewest != 0 {
			t.Errorf("%d threads: %d allocations in 100 calls, want 0", threads, fewest)
		}
	}
}

// A short call's cost at two threads, where the pool's spinning workers
// save the wake-up of a sleeping goroutine.
func BenchmarkParallelForShort(b *testing.B) {
	SetThreads(2)
	defer SetThreads(0)
	var sink [2][8]float64
	for b.Loop() {
		ParallelFor(2, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				for k := range 2000 {
					sink[i][k&7] += float64(k)
				}
			}
		})
	}
}
