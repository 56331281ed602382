package gguf

import (
	"fmt"
	"reflect"
)

// ValueType is the type of a metadata value (gguf.md, enum gguf_type).
type ValueType uint32

// The metadata value types.
const (
	Uint8   ValueType = 0
	Int8    ValueType = 1
	Uint16  ValueType = 2
	Int16   ValueType = 3
	Uint32  ValueType = 4
	Int32   ValueType = 5
	Float32 ValueType = 6
	Bool    ValueType = 7
	String  ValueType = 8
	Array   ValueType = 9
	Uint64  ValueType = 10
	Int64   ValueType = 11
	Float64 ValueType = 12
)

var valueTypeNames = [...]string{"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"}

// goTypes are the Go types values decode to, by ValueType.
var goTypes = [...]reflect.Type{
	reflect.TypeFor[uint8](), reflect.TypeFor[int8](), reflect.TypeFor[uint16](), reflect.TypeFor[int16](),
	reflect.TypeFor[uint32](), reflect.TypeFor[int32](), reflect.TypeFor[float32](), reflect.TypeFor[bool](),
	reflect.TypeFor[string](), reflect.TypeFor[ArrayValue](), reflect.TypeFor[uint64](), reflect.TypeFor[int64](),
	reflect.TypeFor[float64](),
}

// scalarSize is the encoded size of a fixed-size value type; 0 for string
// and array.
var scalarSize = [...]int{1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8}

func (t ValueType) valid() bool { return int(t) < len(valueTypeNames) }

func (t ValueType) String() string {
	if t.valid() {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("gguf_type(%d)", uint32(t))
}

// TensorType is a tensor element type, numbered as ggml.h's enum
// ggml_type.
type TensorType uint32

// typeTraits is what the reader needs of a ggml type: its name, and the
// elements and bytes of one block (ggml.c type_traits; ggml-common.h block
// structs, QK_K = 256).
type typeTraits struct {
	name  string
	block uint64
	size  uint64
}

// tensorTypes covers ggml_type up to GGML_TYPE_COUNT (39) at llama.cpp
// b4747; the gaps are types ggml has removed (Q4_2, Q4_3, the Q4_0_x_y and
// IQ4_NL_x_y repacks), which a GGUF file may not use.
var tensorTypes = map[TensorType]typeTraits{
	0:  {"F32", 1, 4},
	1:  {"F16", 1, 2},
	2:  {"Q4_0", 32, 18},
	3:  {"Q4_1", 32, 20},
	6:  {"Q5_0", 32, 22},
	7:  {"Q5_1", 32, 24},
	8:  {"Q8_0", 32, 34},
	9:  {"Q8_1", 32, 36},
	10: {"Q2_K", 256, 84},
	11: {"Q3_K", 256, 110},
	12: {"Q4_K", 256, 144},
	13: {"Q5_K", 256, 176},
	14: {"Q6_K", 256, 210},
	15: {"Q8_K", 256, 292},
	16: {"IQ2_XXS", 256, 66},
	17: {"IQ2_XS", 256, 74},
	18: {"IQ3_XXS", 256, 98},
	19: {"IQ1_S", 256, 50},
	20: {"IQ4_NL", 32, 18},
	21: {"IQ3_S", 256, 110},
	22: {"IQ2_S", 256, 82},
	23: {"IQ4_XS", 256, 136},
	24: {"I8", 1, 1},
	25: {"I16", 1, 2},
	26: {"I32", 1, 4},
	27: {"I64", 1, 8},
	28: {"F64", 1, 8},
	29: {"IQ1_M", 256, 56},
	30: {"BF16", 1, 2},
	34: {"TQ1_0", 256, 54},
	35: {"TQ2_0", 256, 66},
}

func (t TensorType) String() string {
	if tr, ok := tensorTypes[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("ggml_type(%d)", uint32(t))
}

// BlockSize is the number of elements in one block of t (1 for plain
// types), 0 for a type ggml does not know.
func (t TensorType) BlockSize() uint64 { return tensorTypes[t].block }

// TypeSize is the size in bytes of one block of t, 0 for an unknown type.
func (t TensorType) TypeSize() uint64 { return tensorTypes[t].size }
