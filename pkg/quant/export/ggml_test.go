package export

import (
	"bytes"
	"math"
	"testing"
)

// Blocks worked out by hand from quantize_row_q8_0_ref and
// quantize_row_q4_0_ref (ggml-quants.c), chosen so that rounding ties and
// the Q4_0 clamp decide codes.
func TestQ8_0HandBlock(t *testing.T) {
	x := make([]float32, 32)
	// amax = 127 ⇒ d = 1 (f16 0x3c00), id = 1, q = roundf(x): ties go
	// away from zero (2.5 → 3, −2.5 → −3, 0.5 → 1), unlike RoundToEven.
	copy(x, []float32{127, 2.5, -2.5, 0.5, -0.5, 1.49, -126.6, 3.5})
	want := make([]byte, 34)
	copy(want, []byte{0x00, 0x3c, 127, 3, 0xfd, 1, 0xff, 1, 0x81, 4})
	got := make([]byte, 34)
	if err := EncodeRow(got, x, TypeQ8_0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Q8_0 block\n got % x\nwant % x", got, want)
	}
	dec := make([]float32, 32)
	if err := DecodeRow(dec, want, TypeQ8_0); err != nil {
		t.Fatal(err)
	}
	for i, w := range []float32{127, 3, -3, 1, -1, 1, -127, 4} {
		if dec[i] != w {
			t.Errorf("decoded[%d] = %v, want %v", i, dec[i], w)
		}
	}
}

func TestQ4_0HandBlock(t *testing.T) {
	x := make([]float32, 32)
	// The largest magnitude is −8 ⇒ d = −8/−8 = 1 (0x3c00), id = 1,
	// q = min(15, trunc(x + 8.5)): 7.4 → 15, 7.6 → 16 → 15, −8 → 0,
	// 0.5 → 9, −0.5 → 8, 2.49 → 10; zeros → 8. Element j sits in the
	// low nibble of byte j, element j+16 in the high nibble.
	copy(x, []float32{-8, 7.4, 7.6, 0.5})
	copy(x[16:], []float32{-0.5, 2.49, 0, -7.6})
	want := make([]byte, 18)
	want[0], want[1] = 0x00, 0x3c
	codes := [32]byte{0, 15, 15, 9}
	for j := 4; j < 16; j++ {
		codes[j] = 8
	}
	copy(codes[16:], []byte{8, 10, 8, 0})
	for j := 20; j < 32; j++ {
		codes[j] = 8
	}
	for j := 0; j < 16; j++ {
		want[2+j] = codes[j] | codes[j+16]<<4
	}
	got := make([]byte, 18)
	if err := EncodeRow(got, x, TypeQ4_0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Q4_0 block\n got % x\nwant % x", got, want)
	}
	// A positive extreme gives a negative scale: max = 8 ⇒ d = −1
	// (0xbc00), codes 8 − x; dequantized back exactly for integers.
	y := make([]float32, 32)
	copy(y, []float32{8, -3, 1})
	if err := EncodeRow(got, y, TypeQ4_0); err != nil {
		t.Fatal(err)
	}
	if got[0] != 0x00 || got[1] != 0xbc || got[2] != 0x80|0 || got[3] != 0x80|11 || got[4] != 0x80|7 {
		t.Errorf("Q4_0 positive-max block % x", got[:5])
	}
	dec := make([]float32, 32)
	if err := DecodeRow(dec, got, TypeQ4_0); err != nil {
		t.Fatal(err)
	}
	for i, w := range y {
		if dec[i] != w {
			t.Errorf("decoded[%d] = %v, want %v", i, dec[i], w)
		}
	}
	// An all-zero block: d = −0 (f16 0x8000 as ggml computes 0/−8), codes 8.
	if err := EncodeRow(got, make([]float32, 32), TypeQ4_0); err != nil {
		t.Fatal(err)
	}
	if got[0] != 0x00 || got[1] != 0x80 || got[2] != 0x88 {
		t.Errorf("zero block % x", got[:3])
	}
}

// Round-trip error on ggml's test signal (tests/test-quantize-fns.cpp:
// 0.1 + 2·cos(i + offset)) stays within the bounds ggml asserts for the
// reference quantizers.
func TestQuantizeRMSE(t *testing.T) {
	const n = 4096
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(0.1 + 2*math.Cos(float64(i)+0.5))
	}
	for _, tc := range []struct {
		typ GGMLType
		max float64
	}{{TypeQ8_0, 0.002}, {TypeQ4_0, 0.002}, {TypeF16, 2e-5}} {
		buf := make([]byte, tc.typ.RowBytes(n))
		if err := EncodeRow(buf, x, tc.typ); err != nil {
			t.Fatal(err)
		}
		y := make([]float32, n)
		if err := DecodeRow(y, buf, tc.typ); err != nil {
			t.Fatal(err)
		}
		var se float64
		for i := range x {
			d := float64(x[i] - y[i])
			se += d * d
		}
		// ggml compares the RMSE normalised like array_rmse / n.
		if e := math.Sqrt(se) / n; e > tc.max {
			t.Errorf("%s: total error %.3g > %.3g", tc.typ, e, tc.max)
		}
	}
}

func TestEncodeRowErrors(t *testing.T) {
	buf := make([]byte, 64)
	if err := EncodeRow(buf, make([]float32, 31), TypeQ8_0); err == nil {
		t.Error("31 elements as Q8_0: no error")
	}
	x := make([]float32, 32)
	x[3] = float32(math.NaN())
	if err := EncodeRow(buf, x, TypeQ4_0); err == nil {
		t.Error("NaN: no error")
	}
	if err := DecodeRow(make([]float32, 32), buf[:10], TypeQ8_0); err == nil {
		t.Error("short source: no error")
	}
	for _, s := range []string{"F32", "f16", "Q8_0", "q4_0"} {
		if _, err := ParseGGMLType(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseGGMLType("q4_k"); err == nil {
		t.Error("q4_k accepted")
	}
}
