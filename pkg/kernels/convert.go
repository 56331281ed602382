package kernels

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/x448/float16"
)

// Elem is the element type of a weight matrix as it is stored (in a
// checkpoint or a memory mapping). Kernels convert to float32 where the data
// is used, so a half-precision model never exists in float32 as a whole.
type Elem uint8

const (
	ElemF32 Elem = iota + 1
	ElemF16
	ElemBF16
)

// Size returns the number of bytes of one element.
func (e Elem) Size() int {
	switch e {
	case ElemF32:
		return 4
	case ElemF16, ElemBF16:
		return 2
	}
	return 0
}

func (e Elem) String() string {
	switch e {
	case ElemF32:
		return "F32"
	case ElemF16:
		return "F16"
	case ElemBF16:
		return "BF16"
	}
	return fmt.Sprintf("Elem(%d)", uint8(e))
}

// ToFloat32 decodes len(dst) little-endian elements of type e from src into
// dst. src must hold at least len(dst)*e.Size() bytes.
func ToFloat32(dst []float32, src []byte, e Elem) {
	n := len(dst)
	if len(src) < n*e.Size() {
		panic("kernels: ToFloat32 source too short")
	}
	switch e {
	case ElemF32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case ElemF16:
		for i := range dst {
			dst[i] = float16.Frombits(binary.LittleEndian.Uint16(src[2*i:])).Float32()
		}
	case ElemBF16:
		// bfloat16 is the high half of a float32.
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
		}
	default:
		panic("kernels: ToFloat32 unknown element type")
	}
}

// FromFloat32 encodes src into dst as little-endian elements of type e,
// rounding to nearest even for the half-precision types.
func FromFloat32(dst []byte, src []float32, e Elem) {
	if len(dst) < len(src)*e.Size() {
		panic("kernels: FromFloat32 destination too short")
	}
	switch e {
	case ElemF32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case ElemF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], float16.Fromfloat32(v).Bits())
		}
	case ElemBF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], BF16FromFloat32(v))
		}
	default:
		panic("kernels: FromFloat32 unknown element type")
	}
}

// BF16FromFloat32 rounds v to bfloat16 (round to nearest, ties to even),
// keeping NaN a NaN.
func BF16FromFloat32(v float32) uint16 {
	b := math.Float32bits(v)
	if v != v {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}
