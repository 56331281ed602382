package gguf

import (
	"encoding/binary"
	"math"
)

// encodeHeader writes f's header as the GGUF spec lays it out, independently
// of the decoder: a test oracle and the fuzz target's round trip.
func encodeHeader(f *File) []byte {
	le := binary.LittleEndian
	b := []byte(Magic)
	b = le.AppendUint32(b, f.Version)
	b = le.AppendUint64(b, uint64(len(f.Tensors)))
	b = le.AppendUint64(b, uint64(len(f.Metadata)))
	str := func(s string) {
		b = le.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	var value func(v any)
	value = func(v any) {
		switch v := v.(type) {
		case uint8:
			b = append(b, v)
		case int8:
			b = append(b, byte(v))
		case uint16:
			b = le.AppendUint16(b, v)
		case int16:
			b = le.AppendUint16(b, uint16(v))
		case uint32:
			b = le.AppendUint32(b, v)
		case int32:
			b = le.AppendUint32(b, uint32(v))
		case float32:
			b = le.AppendUint32(b, math.Float32bits(v))
		case bool:
			if v {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		case string:
			str(v)
		case uint64:
			b = le.AppendUint64(b, v)
		case int64:
			b = le.AppendUint64(b, uint64(v))
		case float64:
			b = le.AppendUint64(b, math.Float64bits(v))
		case ArrayValue:
			b = le.AppendUint32(b, uint32(v.Elem))
			b = le.AppendUint64(b, uint64(v.Len()))
			for i := 0; i < v.Len(); i++ {
				value(v.Index(i))
			}
		default:
			panic("encodeHeader: value of type " + ValueType(99).String())
		}
	}
	for _, kv := range f.Metadata {
		str(kv.Key)
		b = le.AppendUint32(b, uint32(kv.Type))
		value(kv.Value)
	}
	for _, t := range f.Tensors {
		str(t.Name)
		b = le.AppendUint32(b, uint32(len(t.Dims)))
		for _, d := range t.Dims {
			b = le.AppendUint64(b, d)
		}
		b = le.AppendUint32(b, uint32(t.Type))
		b = le.AppendUint64(b, t.Offset)
	}
	return b
}

// encodeFile is the header, padding to alignment, and a data section of
// dataLen bytes (byte i of the section is i mod 251).
func encodeFile(f *File, dataLen int) []byte {
	b := encodeHeader(f)
	a := f.Alignment
	if a == 0 {
		a = DefaultAlignment
	}
	for uint64(len(b))%a != 0 {
		b = append(b, 0)
	}
	for i := 0; i < dataLen; i++ {
		b = append(b, byte(i%251))
	}
	return b
}
