package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

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
// dst. src must hold at least len(dst)*e.Size() bytes. Half-precision
// values widen exactly; half NaNs come out as quiet NaNs with the payload
// kept, bfloat16 NaNs unchanged.
func ToFloat32(dst []float32, src []byte, e Elem) {
	n := len(dst)
	if e.Size() == 0 {
		panic("kernels: ToFloat32 unknown element type")
	}
	if len(src) < n*e.Size() {
		panic("kernels: ToFloat32 source too short")
	}
	switch {
	case e == ElemF16 && useAVX2:
		f16ToF32AVX2(dst, src)
	case e == ElemBF16 && useAVX2:
		bf16ToF32AVX2(dst, src)
	default:
		toFloat32Generic(dst, src, e)
	}
}

// toFloat32Generic is the pure-Go twin of ToFloat32's assembly paths.
func toFloat32Generic(dst []float32, src []byte, e Elem) {
	// Walking src in fixed-size windows lets the compiler drop the bounds
	// checks from the loops, which are a good part of their cost.
	switch e {
	case ElemF32:
		if littleEndian && len(dst) > 0 {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst)), src[:4*len(dst)])
			return
		}
		for i := range dst {
			b := src[4*i : 4*i+4 : 4*i+4]
			dst[i] = math.Float32frombits(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
		}
	case ElemF16:
		for i := range dst {
			b := src[2*i : 2*i+2 : 2*i+2]
			h := uint32(b[0]) | uint32(b[1])<<8
			if em := h & 0x7fff; em-0x0400 < 0x7800 {
				// Normal numbers, inline: rebias the exponent.
				dst[i] = math.Float32frombits((h&0x8000)<<16 | (em<<13 + (127-15)<<23))
			} else {
				dst[i] = halfToFloat32(uint16(h))
			}
		}
	case ElemBF16:
		// bfloat16 is the high half of a float32.
		for i := range dst {
			b := src[2*i : 2*i+2 : 2*i+2]
			dst[i] = math.Float32frombits(uint32(b[0])<<16 | uint32(b[1])<<24)
		}
	}
}

// halfToFloat32 widens an IEEE half-precision value exactly; a NaN keeps
// its payload and comes out quiet, as with VCVTPH2PS and x448/float16. It
// is float16.Float16.Float32 with one predictable branch for normal
// numbers, which matters in the decoding loops.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	em := uint32(h & 0x7fff) // exponent and mantissa
	switch {
	case em == 0x7c00: // infinity
		return math.Float32frombits(sign | 0x7f800000)
	case em > 0x7c00: // NaN
		return math.Float32frombits(sign | 0x7fc00000 | (em&0x3ff)<<13)
	case em >= 0x0400: // normal: rebias the exponent from 15 to 127
		return math.Float32frombits(sign | (em<<13 + (127-15)<<23))
	}
	// Zero or subnormal: em·2⁻²⁴, exact in float32.
	f := float32(em) * (1.0 / (1 << 24))
	if sign != 0 {
		f = -f
	}
	return f
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
