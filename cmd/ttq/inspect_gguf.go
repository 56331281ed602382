package main

import (
	"fmt"
	"strings"

	"github.com/ttqproject/ttq/pkg/model/gguf"
)

type array = gguf.ArrayValue

func runInspectGGUF(io *streams, opts inspectOptions) error {
	f, err := gguf.Open(opts.Model)
	if err != nil {
		return err
	}
	res := gguf.Describe(f, opts.Model)
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
		items := make([]string, 0, gguf.ArrayHead+1)
		for i := range min(v.Len(), gguf.ArrayHead) {
			items = append(items, textValue(v.Index(i)))
		}
		if v.Len() > gguf.ArrayHead {
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
