package gguf

import (
	"fmt"
	"math"
)

// ArrayHead is how many leading items of an array metadata value a
// description shows.
const ArrayHead = 5

// Description is what a GGUF file holds, as `ttq inspect --json` prints it
// (schema ttq.inspect.gguf/v1): the header, every metadata key with its
// value (arrays summarized by their first items) and the tensor table.
type Description struct {
	Schema     string      `json:"schema"`
	File       string      `json:"file"`
	Version    uint32      `json:"gguf_version"`
	Alignment  uint64      `json:"alignment"`
	DataOffset int64       `json:"data_offset"`
	Bytes      int64       `json:"bytes"`
	Elements   uint64      `json:"elements"`
	Metadata   []KVRow     `json:"metadata"`
	Tensors    []TensorRow `json:"tensors"`
}

// KVRow is one metadata key.
type KVRow struct {
	Key  string `json:"key"`
	Type string `json:"type"`
	// Value is the scalar, or for an array {elem, len, head: the first
	// items}; non-finite floats are strings ("NaN", "+Inf").
	Value any `json:"value"`
}

// ArraySummary stands for an array value: its element type, length and
// first items.
type ArraySummary struct {
	Elem string `json:"elem"`
	Len  int    `json:"len"`
	Head []any  `json:"head"`
}

// TensorRow is one tensor of the table.
type TensorRow struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Dims are ggml's ne, innermost first (an [out, in] matrix is [in, out]).
	Dims []uint64 `json:"dims"`
	// Offset is relative to data_offset, as the file stores it.
	Offset uint64 `json:"offset"`
	// Bytes is 0 for a ggml type ttq does not know.
	Bytes uint64 `json:"bytes"`
}

// Describe summarizes f, read from the file called name.
func Describe(f *File, name string) Description {
	d := Description{Schema: "ttq.inspect.gguf/v1", File: name, Version: f.Version, Alignment: f.Alignment,
		DataOffset: f.DataOffset, Bytes: f.Size, Metadata: []KVRow{}, Tensors: []TensorRow{}}
	for _, kv := range f.Metadata {
		d.Metadata = append(d.Metadata, KVRow{Key: kv.Key, Type: kv.Type.String(), Value: jsonValue(kv.Value)})
	}
	for _, t := range f.Tensors {
		d.Elements += t.Elements()
		d.Tensors = append(d.Tensors, TensorRow{Name: t.Name, Type: t.Type.String(), Dims: t.Dims, Offset: t.Offset, Bytes: t.Size})
	}
	return d
}

// jsonValue makes a metadata value encodable: arrays summarized, non-finite
// floats spelled out.
func jsonValue(v any) any {
	switch v := v.(type) {
	case float32:
		return jsonValue(float64(v))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprint(v)
		}
		return v
	case ArrayValue:
		s := ArraySummary{Elem: v.Elem.String(), Len: v.Len(), Head: []any{}}
		for i := range min(v.Len(), ArrayHead) {
			s.Head = append(s.Head, jsonValue(v.Index(i)))
		}
		return s
	}
	return v
}
