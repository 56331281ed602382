package gguf_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ttqproject/ttq/internal/shareddata"
	"github.com/ttqproject/ttq/pkg/model/gguf"
)

// llamaTypeName is how llama.cpp's model loader names a metadata type.
var llamaTypeName = map[gguf.ValueType]string{
	gguf.Uint8: "u8", gguf.Int8: "i8", gguf.Uint16: "u16", gguf.Int16: "i16", gguf.Uint32: "u32", gguf.Int32: "i32",
	gguf.Float32: "f32", gguf.Bool: "bool", gguf.String: "str", gguf.Uint64: "u64", gguf.Int64: "i64", gguf.Float64: "f64",
}

// TestAgainstLlamaCpp loads the exported demo file with llama.cpp's own
// reader (llama-cli of ../shared/tools/llama.cpp-b4747, skipped when
// absent: no test may need it) and compares the keys, their types and the
// tensor count per type that its loader prints with what this package reads.
func TestAgainstLlamaCpp(t *testing.T) {
	data, _ := shareddata.Locate()
	cli := filepath.Join(data, "..", "tools", "llama.cpp-b4747", "bin", "llama-cli")
	if _, err := os.Stat(cli); err != nil {
		t.Skipf("llama.cpp not found (%v)", err)
	}
	path, _ := exportDemo(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, cli, "-m", path, "-p", "x", "-n", "1", "-no-cnv", "-t", "1", "--temp", "0").CombinedOutput()
	if err != nil {
		t.Fatalf("llama-cli: %v\n%s", err, out)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	kvLine := regexp.MustCompile(`(?m)- kv +(\d+): +(\S+) (\S+) `)
	got := kvLine.FindAllSubmatch(out, -1)
	if len(got) != len(f.Metadata) {
		t.Fatalf("llama.cpp lists %d keys, ttq reads %d:\n%s", len(got), len(f.Metadata), out)
	}
	for _, m := range got {
		i, _ := strconv.Atoi(string(m[1]))
		kv := f.Metadata[i]
		typ := llamaTypeName[kv.Type]
		if a, ok := kv.Value.(gguf.ArrayValue); ok {
			typ = fmt.Sprintf("arr[%s,%d]", llamaTypeName[a.Elem], a.Len())
		}
		if string(m[2]) != kv.Key || string(m[3]) != typ {
			t.Errorf("kv %d: llama.cpp %s %s, ttq %s %s", i, m[2], m[3], kv.Key, typ)
		}
	}
	count := map[string]int{}
	for _, ti := range f.Tensors {
		count[ti.Type.String()]++
	}
	typeLine := regexp.MustCompile(`(?m)- type +(\S+): +(\d+) tensors`)
	seen := 0
	for _, m := range typeLine.FindAllSubmatch(out, -1) {
		n, _ := strconv.Atoi(string(m[2]))
		seen += n
		if name := string(m[1]); count[strings.ToUpper(name)] != n {
			t.Errorf("llama.cpp: %d %s tensors, ttq %d", n, name, count[strings.ToUpper(name)])
		}
	}
	if seen != len(f.Tensors) {
		t.Errorf("llama.cpp counts %d tensors, ttq reads %d", seen, len(f.Tensors))
	}
}
