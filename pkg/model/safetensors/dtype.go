package safetensors

import "github.com/ttqproject/ttq/pkg/kernels"

// DType is a safetensors element type as spelled in the header. Any string
// found in a file is kept, so files holding types this package cannot size
// (for example sub-byte F4) still open; only requesting such a tensor fails.
type DType string

// The dtypes of the safetensors specification that have a whole-byte size.
const (
	BOOL    DType = "BOOL"
	U8      DType = "U8"
	I8      DType = "I8"
	F8E4M3  DType = "F8_E4M3"
	F8E5M2  DType = "F8_E5M2"
	F8E8M0  DType = "F8_E8M0"
	I16     DType = "I16"
	U16     DType = "U16"
	F16     DType = "F16"
	BF16    DType = "BF16"
	I32     DType = "I32"
	U32     DType = "U32"
	F32     DType = "F32"
	F64     DType = "F64"
	I64     DType = "I64"
	U64     DType = "U64"
	C64     DType = "C64"
	Unknown DType = ""
)

// Size returns the number of bytes of one element, or 0 when the dtype is
// unknown to this package or smaller than a byte (F4, F6_*), in which case no
// byte-size validation is possible.
func (d DType) Size() int {
	switch d {
	case BOOL, U8, I8, F8E4M3, F8E5M2, F8E8M0:
		return 1
	case I16, U16, F16, BF16:
		return 2
	case I32, U32, F32:
		return 4
	case F64, I64, U64, C64:
		return 8
	}
	return 0
}

// Known reports whether the dtype has a known whole-byte element size.
func (d DType) Known() bool { return d.Size() > 0 }

// Elem maps the floating-point dtypes that kernels can convert to float32.
func (d DType) Elem() (kernels.Elem, bool) {
	switch d {
	case F32:
		return kernels.ElemF32, true
	case F16:
		return kernels.ElemF16, true
	case BF16:
		return kernels.ElemBF16, true
	}
	return 0, false
}

// DTypeOf is the inverse of DType.Elem.
func DTypeOf(e kernels.Elem) DType {
	switch e {
	case kernels.ElemF32:
		return F32
	case kernels.ElemF16:
		return F16
	case kernels.ElemBF16:
		return BF16
	}
	return Unknown
}

func (d DType) String() string { return string(d) }
