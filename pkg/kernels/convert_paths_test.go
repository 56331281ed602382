package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/x448/float16"
)

// TestToFloat32Exhaustive decodes every 16-bit pattern on each path and
// compares with an independent decoder (x448/float16 for F16, the
// definition of bfloat16 as the high half of a float32 for BF16) bit for
// bit, NaNs included; an odd count and a byte offset exercise the tails and unaligned
// loads.
func TestToFloat32Exhaustive(t *testing.T) {
	const n = 1<<16 + 3
	for _, e := range []Elem{ElemF16, ElemBF16} {
		for _, off := range []int{0, 1} {
			buf := make([]byte, off+2*n)
			src := buf[off:]
			for i := 0; i < n; i++ {
				binary.LittleEndian.PutUint16(src[2*i:], uint16(i))
			}
			want := make([]float32, n)
			for i := range want {
				h := uint16(i)
				if e == ElemF16 {
					want[i] = float16.Frombits(h).Float32()
				} else {
					want[i] = math.Float32frombits(uint32(h) << 16)
				}
			}
			for _, p := range kernelPaths() {
				dst, check := guarded(t, n, off)
				withPath(p, func() { ToFloat32(dst, src, e) })
				check(fmt.Sprintf("%s %v", p.name, e))
				for i, g := range dst {
					w := want[i]
					if math.Float32bits(g) != math.Float32bits(w) {
						t.Fatalf("%s %v %#04x: got %g (%#08x), want %g", p.name, e, uint16(i), g, math.Float32bits(g), w)
					}
				}
			}
		}
	}
}

func TestToFloat32F32Unaligned(t *testing.T) {
	vals := []float32{1, -2.5, float32(math.Inf(-1)), math.SmallestNonzeroFloat32, 3e38}
	for off := 0; off < 4; off++ {
		buf := make([]byte, off+4*len(vals))
		FromFloat32(buf[off:], vals, ElemF32)
		got := make([]float32, len(vals))
		ToFloat32(got, buf[off:], ElemF32)
		for i := range vals {
			if got[i] != vals[i] {
				t.Fatalf("off=%d: [%d] = %g, want %g", off, i, got[i], vals[i])
			}
		}
	}
}

// TestHalfToFloat32MatchesFloat16 holds the generic decoder to x448/float16
// bit for bit, NaNs included.
func TestHalfToFloat32MatchesFloat16(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		got, want := math.Float32bits(halfToFloat32(h)), math.Float32bits(float16.Frombits(h).Float32())
		if got != want {
			t.Fatalf("%#04x: %#08x, want %#08x", h, got, want)
		}
	}
}
