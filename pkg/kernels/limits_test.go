package kernels

import (
	"math"
	"testing"
	"time"
)

func TestFMALoopPaths(t *testing.T) {
	// acc ← acc/2 + 1 from 0 gives 2 − 2^(1−n) after n rounds; twelve
	// chains sum to 24 − 3·2^(3−n), exact in float32 for n ≤ 22.
	for _, n := range []int{0, 1, 2, 5, 20} {
		want := float32(24 - 3*math.Ldexp(1, 3-n))
		if n == 0 {
			want = 0
		}
		for _, p := range kernelPaths() {
			var got float32
			withPath(p, func() {
				switch {
				case useAVX512:
					got = fmaLoopAVX512(n, 0.5, 1)
				case useAVX2:
					got = fmaLoopAVX2(n, 0.5, 1)
				default:
					got = fmaLoopGeneric(n, 0.5, 1)
				}
			})
			if got != want {
				t.Errorf("%s: %d rounds = %g, want %g", p.name, n, got, want)
			}
		}
	}
}

func TestSumPaths(t *testing.T) {
	for _, n := range []int{0, 63, 64, 128, 64 * 5} {
		x := make([]float32, n+7)
		for i := range x {
			x[i] = float32(i%13) - 6
		}
		var want float32
		for _, v := range x[:n&^63] {
			want += v // small integers: every order is exact
		}
		if got := sumGeneric(x[:n&^63]); got != want {
			t.Errorf("generic n=%d: %g, want %g", n, got, want)
		}
		if hasAVX2 {
			if got := sumAVX2(x[:n]); got != want {
				t.Errorf("avx2 n=%d: %g, want %g", n, got, want)
			}
		}
	}
}

func TestLimitsMeasure(t *testing.T) {
	for _, p := range kernelPaths() {
		withPath(p, func() {
			for _, threads := range []int{1, 2} {
				if f := PeakFMA(threads, time.Millisecond); !(f > 0) || math.IsInf(f, 0) {
					t.Errorf("%s: PeakFMA(%d) = %g", p.name, threads, f)
				}
				if bw := ReadBandwidth(threads, 1<<20, time.Millisecond); !(bw > 0) || math.IsInf(bw, 0) {
					t.Errorf("%s: ReadBandwidth(%d) = %g", p.name, threads, bw)
				}
			}
		})
	}
}
