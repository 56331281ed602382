package kernels

import (
	"math"
	"testing"
)

// A kernel path is one setting of the dispatch variable. Tests run every
// kernel on each path this build and CPU offer, in the manner of
// zeebo/xxh3's withAVX2/withGeneric.
type kernelPath struct {
	name         string
	avx2, avx512 bool
}

func kernelPaths() []kernelPath {
	ps := []kernelPath{{"generic", false, false}}
	if hasAVX2 {
		ps = append(ps, kernelPath{"avx2", true, false})
	}
	if hasAVX512 {
		ps = append(ps, kernelPath{"avx2+avx512", true, true})
	}
	return ps
}

// withPath runs fn with the dispatch variables set for p.
func withPath(p kernelPath, fn func()) {
	old, old512 := useAVX2, useAVX512
	useAVX2, useAVX512 = p.avx2, p.avx512
	defer func() { useAVX2, useAVX512 = old, old512 }()
	fn()
}

// sumTol is the error allowed for a float32 sum of products whose
// magnitudes add up to mag (STYLE §2.5): accumulation order and fused
// multiply-adds may differ between paths, but not by more than this.
func sumTol(mag float64) float64 { return 1e-5*mag + 1e-6 }

const guard = float32(-12345.678)

// guarded returns a slice of n elements starting at offset off of a buffer
// whose other elements hold the guard value, and a check that they still do.
func guarded(t *testing.T, n, off int) ([]float32, func(what string)) {
	t.Helper()
	const pad = 9
	buf := make([]float32, off+n+pad)
	for i := range buf {
		buf[i] = guard
	}
	return buf[off : off+n : off+n], func(what string) {
		t.Helper()
		for i, v := range buf {
			if (i < off || i >= off+n) && v != guard {
				t.Fatalf("%s: guard at %d of buffer (output is [%d, %d)) overwritten with %g", what, i, off, off+n, v)
			}
		}
	}
}

func TestDispatchFlags(t *testing.T) {
	t.Setenv("TTQ_NOASM", "1")
	if !noASMFromEnv() {
		t.Error("TTQ_NOASM=1 does not force the generic kernels")
	}
	t.Setenv("TTQ_NOASM", "0")
	if noASMFromEnv() {
		t.Error("TTQ_NOASM=0 forces the generic kernels")
	}
	t.Setenv("TTQ_NOASM", "")
	if noASMFromEnv() {
		t.Error("empty TTQ_NOASM forces the generic kernels")
	}
	for _, p := range kernelPaths() {
		withPath(p, func() {
			if got := Accelerated(); got != p.name {
				t.Errorf("Accelerated() = %q with useAVX2=%v, useAVX512=%v", got, p.avx2, p.avx512)
			}
		})
	}
	defer func(a, b bool) { useAVX2, useAVX512 = a, b }(useAVX2, useAVX512)
	if SetAccelerated(false) || Accelerated() != "generic" || useAVX512 {
		t.Error("SetAccelerated(false) left the assembly on")
	}
	t.Setenv("TTQ_NOAVX512", "")
	if on := SetAccelerated(true); on != hasAVX2 || (Accelerated() != "generic") != hasAVX2 || useAVX512 != hasAVX512 {
		t.Errorf("SetAccelerated(true) = %v, %q on a CPU/build with hasAVX2 = %v, hasAVX512 = %v", on, Accelerated(), hasAVX2, hasAVX512)
	}
	t.Setenv("TTQ_NOAVX512", "1")
	if SetAccelerated(true); useAVX512 {
		t.Error("TTQ_NOAVX512=1 leaves the AVX-512 kernels on")
	}
}

func dot64(x, y []float32) (sum, mag float64) {
	for i := range x {
		p := float64(x[i]) * float64(y[i])
		sum += p
		mag += math.Abs(p)
	}
	return sum, mag
}
