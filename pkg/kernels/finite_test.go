package kernels

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/x448/float16"
)

func TestFirstNonFinite(t *testing.T) {
	enc := map[Elem]func(v float32) []byte{
		ElemF32: func(v float32) []byte { return binary.LittleEndian.AppendUint32(nil, math.Float32bits(v)) },
		ElemF16: func(v float32) []byte { return binary.LittleEndian.AppendUint16(nil, float16.Fromfloat32(v).Bits()) },
		ElemBF16: func(v float32) []byte {
			return binary.LittleEndian.AppendUint16(nil, uint16(math.Float32bits(v)>>16))
		},
	}
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	// Large finite values (the largest f16, bf16 and f32 exponents short of
	// all ones) must not be mistaken for Inf.
	finite := []float32{0, -0.5, 1, 65504, -65504, 3e38, 1e-40, -2}
	for e, f := range enc {
		for _, n := range []int{0, 1, 3, 4, 15, 16, 17, 33, 100, 1 << 19} {
			var buf []byte
			for i := 0; i < n; i++ {
				v := finite[i%len(finite)]
				if e == ElemF16 && math.Abs(float64(v)) > 65504 {
					v = 1
				}
				buf = append(buf, f(v)...)
			}
			if got := FirstNonFinite(buf, e); got != -1 {
				t.Fatalf("%s n=%d all finite: got %d", e, n, got)
			}
			for _, at := range []int{0, n / 2, n - 1} {
				if at < 0 || n == 0 {
					continue
				}
				for _, b := range bad {
					c := append([]byte(nil), buf...)
					copy(c[at*e.Size():], f(b))
					if at+1 < n { // a later bad value must not win
						copy(c[(n-1)*e.Size():], f(b))
					}
					if got := FirstNonFinite(c, e); got != at {
						t.Fatalf("%s n=%d bad %v at %d: got %d", e, n, b, at, got)
					}
				}
			}
		}
	}
	x := []float32{1, 2, float32(math.NaN())}
	if got := FirstNonFiniteF32(x); got != 2 {
		t.Fatalf("FirstNonFiniteF32 = %d", got)
	}
	if got := FirstNonFiniteF32(x[:2]); got != -1 {
		t.Fatalf("FirstNonFiniteF32 finite = %d", got)
	}
}
