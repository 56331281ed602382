package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/ttqproject/ttq/pkg/model/gguf"
)

// arrayHead is how many leading items of an array metadata value inspect
// shows.
const arrayHead = 5

type ggufInspectResult struct {
	Schema     string          `json:"schema"`
	File       string          `json:"file"`
	Version    uint32          `json:"gguf_version"`
	Alignment  uint64          `json:"alignment"`
	DataOffset int64           `json:"data_offset"`
	Bytes      int64           `json:"bytes"`
	Elements   uint64          `json:"elements"`
	Metadata   []ggufKVRow     `json:"metadata"`
	Tensors    []ggufTensorRow `json:"tensors"`
}

type array = gguf.ArrayValue

type ggufKVRow struct {
	Key  string `json:"key"`
	Type string `json:"type"`
	// Value is the scalar, or for an array {elem, len, head: the first
	// items}; non-finite floats are strings ("NaN", "+Inf").
	Value any `json:"value"`
}

type arraySummary struct {
	Elem string `json:"elem"`
	Len  int    `json:"len"`
	Head []any  `json:"head"`
}

type ggufTensorRow struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Dims are ggml's ne, innermost first (an [out, in] matrix is [in, out]).
	Dims []uint64 `json:"dims"`
	// Offset is relative to data_offset, as the file stores it.
	Offset uint64 `json:"offset"`
	// Bytes is 0 for a ggml type ttq does not know.
	Bytes uint64 `json:"bytes"`
}

func runInspectGGUF(io *streams, opts inspectOptions) error {
	f, err := gguf.Open(opts.Model)
	if err != nil {
		return err
	}
	res := ggufInspectResult{Schema: "ttq.inspect.gguf/v1", File: opts.Model, Version: f.Version, Alignment: f.Alignment,
		DataOffset: f.DataOffset, Bytes: f.Size, Metadata: []ggufKVRow{}, Tensors: []ggufTensorRow{}}
	for _, kv := range f.Metadata {
		res.Metadata = append(res.Metadata, ggufKVRow{Key: kv.Key, Type: kv.Type.String(), Value: jsonValue(kv.Value)})
	}
	for _, t := range f.Tensors {
		res.Elements += t.Elements()
		res.Tensors = append(res.Tensors, ggufTensorRow{Name: t.Name, Type: t.Type.String(), Dims: t.Dims, Offset: t.Offset, Bytes: t.Size})
	}
	if opts.JSON {
		return writeJSON(io.Out, res)
	}
	w := io.Out
	fmt.Fprintf(w, "file:          %s\n", res.File)
	fmt.Fprintf(w, "format:        GGUF v%d, alignment %d, tensor data at byte %d\n", res.Version, res.Alignment, res.DataOffset)
	fmt.Fprintf(w, "size:          %s, %d tensors of %s elements, %d metadata keys\n\n", humanBytes(res.Bytes), len(res.Tensors), humanCount(int64(res.Elements)), len(res.Metadata))
	rows := make([][]string, 0, len(f.Metadata))
	for _, kv := range f.Metadata {
		typ := kv.Type.String()
		if a, ok := kv.Value.(array); ok {
			typ = fmt.Sprintf("%s[%d]", a.Elem, a.Len())
		}
		rows = append(rows, []string{kv.Key, typ, textValue(kv.Value)})
	}
	if err := renderTable(w, []string{"key", "type", "value"}, rows); err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows = rows[:0]
	for _, t := range f.Tensors {
		size := "?" // a ggml type newer than ttq
		if t.Type.BlockSize() > 0 {
			size = humanBytes(int64(t.Size))
		}
		rows = append(rows, []string{t.Name, t.Type.String(), shapeString(t.Dims), fmt.Sprint(t.Offset), size})
	}
	return renderTable(w, []string{"tensor", "type", "dims (ne)", "offset", "bytes"}, rows)
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
	case array:
		s := arraySummary{Elem: v.Elem.String(), Len: v.Len(), Head: []any{}}
		for i := range min(v.Len(), arrayHead) {
			s.Head = append(s.Head, jsonValue(v.Index(i)))
		}
		return s
	}
	return v
}

// textValue is a metadata value for the table: strings quoted and cut to a
// line, arrays as their first items and length.
func textValue(v any) string {
	switch v := v.(type) {
	case string:
		if len(v) > 80 {
			return fmt.Sprintf("%q… (%d bytes)", v[:60], len(v))
		}
		return fmt.Sprintf("%q", v)
	case array:
		items := make([]string, 0, arrayHead+1)
		for i := range min(v.Len(), arrayHead) {
			items = append(items, textValue(v.Index(i)))
		}
		if v.Len() > arrayHead {
			items = append(items, fmt.Sprintf("… (%d)", v.Len()))
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// shapeString writes dimensions as [a, b, c].
func shapeString[T int64 | uint64](dims []T) string {
	s := make([]string, len(dims))
	for i, d := range dims {
		s[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(s, ", ") + "]"
}
