package export

import (
	"fmt"
	"math"
	"strings"

	"github.com/x448/float16"

	"github.com/ttqproject/ttq/pkg/kernels"
)

// GGMLType is a tensor element type, numbered as ggml.h's enum ggml_type.
type GGMLType uint32

// The element types ttq writes. Q4_0 and Q8_0 are ggml's 32-element blocks
// (ggml-common.h): block_q4_0 {f16 d; u8 qs[16]} and block_q8_0
// {f16 d; i8 qs[32]}.
const (
	TypeF32  GGMLType = 0
	TypeF16  GGMLType = 1
	TypeQ4_0 GGMLType = 2
	TypeQ8_0 GGMLType = 8
)

// QK is the block length of Q4_0 and Q8_0.
const QK = 32

// ParseGGMLType accepts f32, f16, q8_0 and q4_0 (case-insensitive).
func ParseGGMLType(s string) (GGMLType, error) {
	switch strings.ToLower(s) {
	case "f32":
		return TypeF32, nil
	case "f16":
		return TypeF16, nil
	case "q8_0":
		return TypeQ8_0, nil
	case "q4_0":
		return TypeQ4_0, nil
	}
	return 0, fmt.Errorf("export: unknown GGUF tensor type %q (supported: f32, f16, q8_0, q4_0)", s)
}

func (t GGMLType) String() string {
	switch t {
	case TypeF32:
		return "F32"
	case TypeF16:
		return "F16"
	case TypeQ4_0:
		return "Q4_0"
	case TypeQ8_0:
		return "Q8_0"
	}
	return fmt.Sprintf("ggml_type(%d)", uint32(t))
}

// BlockSize is the number of elements one block holds.
func (t GGMLType) BlockSize() int {
	if t.Quantized() {
		return QK
	}
	return 1
}

// TypeSize is the size in bytes of one block.
func (t GGMLType) TypeSize() int {
	switch t {
	case TypeF32:
		return 4
	case TypeF16:
		return 2
	case TypeQ4_0:
		return 2 + QK/2
	case TypeQ8_0:
		return 2 + QK
	}
	panic("export: unknown ggml type " + t.String())
}

// Quantized reports whether t is a block-quantized type.
func (t GGMLType) Quantized() bool { return t == TypeQ4_0 || t == TypeQ8_0 }

// RowBytes is the size of a row of n elements; n must be a multiple of
// BlockSize.
func (t GGMLType) RowBytes(n int) int { return n / t.BlockSize() * t.TypeSize() }

// fileType is general.file_type (llama.h's enum llama_ftype) of a model
// whose matrices are mostly of type t.
func (t GGMLType) fileType() uint32 {
	switch t {
	case TypeF32:
		return 0 // ALL_F32
	case TypeF16:
		return 1 // MOSTLY_F16
	case TypeQ4_0:
		return 2 // MOSTLY_Q4_0
	case TypeQ8_0:
		return 7 // MOSTLY_Q8_0
	}
	panic("export: unknown ggml type " + t.String())
}

// EncodeRow writes src as one row of type t into dst (t.RowBytes(len(src))
// bytes). Quantized types follow ggml's reference quantizers
// (quantize_row_q8_0_ref, quantize_row_q4_0_ref), which llama.cpp uses to
// create model files, so ttq's blocks are the ones llama-quantize would
// write from the same float32 row.
func EncodeRow(dst []byte, src []float32, t GGMLType) error {
	if len(src)%t.BlockSize() != 0 {
		return fmt.Errorf("export: a %s row needs a multiple of %d elements, got %d", t, t.BlockSize(), len(src))
	}
	if len(dst) < t.RowBytes(len(src)) {
		panic("export: EncodeRow destination too short")
	}
	for i, v := range src {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("export: non-finite value %v at element %d", v, i)
		}
	}
	switch t {
	case TypeF32:
		kernels.FromFloat32(dst, src, kernels.ElemF32)
	case TypeF16:
		kernels.FromFloat32(dst, src, kernels.ElemF16)
	case TypeQ8_0:
		for b := 0; b < len(src)/QK; b++ {
			quantizeBlockQ8_0(dst[b*(2+QK):], src[b*QK:(b+1)*QK])
		}
	case TypeQ4_0:
		for b := 0; b < len(src)/QK; b++ {
			quantizeBlockQ4_0(dst[b*(2+QK/2):], src[b*QK:(b+1)*QK])
		}
	default:
		panic("export: unknown ggml type " + t.String())
	}
	return nil
}

// Every float operation below is written with an explicit float32
// conversion so that Go may not fuse a multiply and an add: ggml's
// reference is compiled without contraction, and a fused result can round
// a code differently.

func quantizeBlockQ8_0(dst []byte, x []float32) {
	var amax float32
	for _, v := range x {
		amax = max(amax, float32(math.Abs(float64(v))))
	}
	d := float32(amax / 127)
	var id float32
	if d != 0 {
		id = float32(1 / d)
	}
	putF16(dst, d)
	for j, v := range x {
		x0 := float32(v * id)
		// roundf: half away from zero.
		dst[2+j] = byte(int8(math.Round(float64(x0))))
	}
}

func quantizeBlockQ4_0(dst []byte, x []float32) {
	var amax, mx float32
	for _, v := range x {
		if a := float32(math.Abs(float64(v))); amax < a {
			amax, mx = a, v
		}
	}
	d := float32(mx / -8)
	var id float32
	if d != 0 {
		id = float32(1 / d)
	}
	putF16(dst, d)
	for j := 0; j < QK/2; j++ {
		x0 := float32(x[j] * id)
		x1 := float32(x[QK/2+j] * id)
		// (int8_t)(x + 8.5f) truncates toward zero; the argument is
		// ≥ 0.5 because |x·id| ≤ 8.
		xi0 := min(15, int8(float32(x0+8.5)))
		xi1 := min(15, int8(float32(x1+8.5)))
		dst[2+j] = byte(xi0) | byte(xi1)<<4
	}
}

func putF16(dst []byte, v float32) {
	b := float16.Fromfloat32(v).Bits()
	dst[0], dst[1] = byte(b), byte(b>>8)
}

func getF16(src []byte) float32 {
	return float16.Frombits(uint16(src[0]) | uint16(src[1])<<8).Float32()
}

// DecodeRow is the inverse of EncodeRow: it reads len(dst) elements of type
// t from src (dequantize_row_q8_0: x = d·q; dequantize_row_q4_0:
// x = d·(q − 8), element j in the low nibble of byte j and element j+16 in
// its high nibble).
func DecodeRow(dst []float32, src []byte, t GGMLType) error {
	n := len(dst)
	if n%t.BlockSize() != 0 {
		return fmt.Errorf("export: a %s row needs a multiple of %d elements, got %d", t, t.BlockSize(), n)
	}
	if len(src) < t.RowBytes(n) {
		return fmt.Errorf("export: %d bytes hold less than a %s row of %d elements (%d bytes)", len(src), t, n, t.RowBytes(n))
	}
	switch t {
	case TypeF32:
		kernels.ToFloat32(dst, src, kernels.ElemF32)
	case TypeF16:
		kernels.ToFloat32(dst, src, kernels.ElemF16)
	case TypeQ8_0:
		for b := 0; b < n/QK; b++ {
			blk := src[b*(2+QK):]
			d := getF16(blk)
			for j := 0; j < QK; j++ {
				dst[b*QK+j] = float32(int8(blk[2+j])) * d
			}
		}
	case TypeQ4_0:
		for b := 0; b < n/QK; b++ {
			blk := src[b*(2+QK/2):]
			d := getF16(blk)
			for j := 0; j < QK/2; j++ {
				dst[b*QK+j] = float32(int(blk[2+j]&0x0f)-8) * d
				dst[b*QK+QK/2+j] = float32(int(blk[2+j]>>4)-8) * d
			}
		}
	default:
		return fmt.Errorf("export: cannot decode ggml type %s", t)
	}
	return nil
}
