package gguf_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	parser "github.com/gpustack/gguf-parser-go"

	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/gguf"
	"github.com/ttqproject/ttq/pkg/quant/export"
)

// exportDemo writes the demo model as GGUF with Q4_0 matrices (so the file
// mixes F32 vectors, F16 fallbacks and Q4_0 blocks).
func exportDemo(t *testing.T) (string, *export.GGUFReport) {
	t.Helper()
	m, _, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tj, _ := demo.ReadFile("tokenizer.json")
	tc, _ := demo.ReadFile("tokenizer_config.json")
	v, err := export.VocabFromTokenizerJSON(tj, tc, m.Config.VocabSize)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "demo.gguf")
	rep, err := export.WriteGGUF(path, m, v, export.GGUFOptions{Type: export.TypeQ4_0, Name: "stories260K"})
	if err != nil {
		t.Fatal(err)
	}
	return path, rep
}

// TestReadExported reads what ttq export writes and checks it against the
// exporter's report and an independent reader (gguf-parser-go).
func TestReadExported(t *testing.T) {
	path, rep := exportDemo(t)
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 3 || f.Alignment != 32 || f.Size != rep.Bytes {
		t.Errorf("version %d, alignment %d, size %d (report %d)", f.Version, f.Alignment, f.Size, rep.Bytes)
	}
	var keys []string
	for _, kv := range f.Metadata {
		keys = append(keys, kv.Key)
	}
	if !slices.Equal(keys, rep.Keys) {
		t.Errorf("keys %v\nwant %v", keys, rep.Keys)
	}
	if len(f.Tensors) != len(rep.Tensors) {
		t.Fatalf("%d tensors, report %d", len(f.Tensors), len(rep.Tensors))
	}
	for i, ti := range f.Tensors {
		r := rep.Tensors[i]
		if ti.Name != r.Name || ti.Type.String() != r.Type || !slices.Equal(ti.Dims, r.Dims) || ti.Offset != r.Offset || ti.Size != r.Bytes {
			t.Errorf("tensor %d: %+v, report %+v", i, ti, r)
		}
	}
	if kv, ok := f.Lookup("tokenizer.ggml.tokens"); !ok || kv.Value.(gguf.ArrayValue).Len() != 512 {
		t.Errorf("tokens: %+v", kv)
	}

	p, err := parser.ParseGGUFFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.TensorDataStartOffset != f.DataOffset || len(p.Header.MetadataKV) != len(f.Metadata) {
		t.Fatalf("gguf-parser-go: data at %d, %d keys; ttq: %d, %d", p.TensorDataStartOffset, len(p.Header.MetadataKV), f.DataOffset, len(f.Metadata))
	}
	// gguf-parser-go trims spaces off the strings it reads.
	norm := func(v any) string {
		if s, ok := v.(string); ok {
			return strings.TrimFunc(s, unicode.IsSpace)
		}
		return fmt.Sprint(v)
	}
	for i, kv := range f.Metadata {
		pk := p.Header.MetadataKV[i]
		if pk.Key != kv.Key || uint32(pk.ValueType) != uint32(kv.Type) {
			t.Errorf("entry %d: gguf-parser-go %s %d, ttq %s %d", i, pk.Key, pk.ValueType, kv.Key, kv.Type)
			continue
		}
		a, isArray := kv.Value.(gguf.ArrayValue)
		if !isArray {
			if norm(pk.Value) != norm(kv.Value) {
				t.Errorf("%s: gguf-parser-go %v, ttq %v", kv.Key, pk.Value, kv.Value)
			}
			continue
		}
		pa := pk.ValueArray()
		if uint32(pa.Type) != uint32(a.Elem) || pa.Len != uint64(a.Len()) || len(pa.Array) != a.Len() {
			t.Errorf("%s: gguf-parser-go %d × %d, ttq %d × %s", kv.Key, pa.Len, pa.Type, a.Len(), a.Elem)
			continue
		}
		for j := range a.Len() {
			if norm(pa.Array[j]) != norm(a.Index(j)) {
				t.Errorf("%s[%d]: gguf-parser-go %v, ttq %v", kv.Key, j, pa.Array[j], a.Index(j))
				break
			}
		}
	}
	for i, pt := range p.TensorInfos {
		ti := f.Tensors[i]
		if pt.Name != ti.Name || uint32(pt.Type) != uint32(ti.Type) || pt.Offset != ti.Offset || !slices.Equal(pt.Dimensions, ti.Dims) {
			t.Errorf("tensor %d: gguf-parser-go %+v, ttq %+v", i, pt, ti)
		}
	}

	// The last tensor ends exactly at the end of the file's data.
	last := f.Tensors[len(f.Tensors)-1]
	if st, _ := os.Stat(path); f.DataOffset+int64(last.Offset+last.Size) > st.Size() {
		t.Errorf("last tensor ends past the file")
	}
}
