package main

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ttqproject/ttq/pkg/compare"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

// patchTensor overwrites element i of a tensor in dir/model.safetensors
// with the little-endian bytes v (2 for F16, 4 for F32).
func patchTensor(t *testing.T, dir, name string, i int, v []byte) {
	t.Helper()
	path := filepath.Join(dir, safetensors.SingleFileName)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.FromBytes(path, raw)
	if err != nil {
		t.Fatal(err)
	}
	info, ok := f.Info(name)
	if !ok {
		t.Fatalf("%s has no tensor %s", path, name)
	}
	copy(raw[f.DataOffset()+info.Begin+int64(i*len(v)):], v)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

func f32Bytes(v float32) []byte { return binary.LittleEndian.AppendUint32(nil, math.Float32bits(v)) }

// nanScaleDir is the demo quantized with rtn, then one f16 scale
// overwritten with a NaN (0x7e00): the case of issue #11.
func nanScaleDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "q4")
	if code, _, errOut := runTTQ(t, "quantize", "--method", "rtn", "-o", dir); code != 0 {
		t.Fatalf("quantize: %s", errOut)
	}
	patchTensor(t, dir, "model.layers.0.mlp.down_proj.scales", 0, []byte{0x00, 0x7e})
	return dir
}

// hugeNormDir is the demo with a finite final-norm weight so large that the
// logits overflow: the NaN is computed, not loaded.
func hugeNormDir(t *testing.T) string {
	t.Helper()
	dir := demoDir(t)
	patchTensor(t, dir, "model.norm.weight", 3, f32Bytes(3e38))
	return dir
}

// TestNonFiniteStopsCommands: NaN weights and computed NaN/Inf logits stop
// every command with exit 1, one stderr line saying where, no JSON
// document and nothing in the compare cache.
func TestNonFiniteStopsCommands(t *testing.T) {
	nan, huge := nanScaleDir(t), hugeNormDir(t)
	cache := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"eval", nan}, "tensor model.layers.0.mlp.down_proj.scales: element [0, 0] is NaN"},
		{[]string{"eval", "--json", nan}, "down_proj.scales: element [0, 0] is NaN"},
		{[]string{"generate", "--prompt", "Hello", nan}, "down_proj.scales: element [0, 0] is NaN"},
		{[]string{"inspect", nan}, "down_proj.scales: element [0, 0] is NaN"},
		{[]string{"eval", "--json", "--max-windows", "2", huge}, "non-finite logit"},
		{[]string{"eval", "--json", "--dataset", "piqa", "--max-windows", "2", huge}, "non-finite logit"},
		{[]string{"generate", "--json", "--prompt", "Hello", huge}, "non-finite logit"},
		{[]string{"compare", "--json", "--cache", cache, "--methods", "rtn", "--max-windows", "1", "--max-items", "2", "--model", huge}, "non-finite logit"},
	}
	for _, tc := range cases {
		code, out, errOut := runTTQ(t, tc.args...)
		lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
		if code != 1 || len(lines) != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("ttq %s: exit %d, stderr %q; want exit 1 and one line containing %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
		if jsonFlag(tc.args) && out != "" {
			t.Errorf("ttq %s: failed but printed %q", strings.Join(tc.args, " "), out)
		}
	}
	if n := (compare.Cache{Dir: cache}).Entries(); n != 0 {
		t.Errorf("the failed comparison left %d cache entries", n)
	}
}

func jsonFlag(args []string) bool {
	for _, a := range args {
		if a == "--json" {
			return true
		}
	}
	return false
}

// A successful --json run prints exactly one valid document.
func TestJSONIsOneDocument(t *testing.T) {
	for _, args := range [][]string{
		{"eval", "--json", "--max-windows", "1"},
		{"generate", "--json", "--max-tokens", "3"},
		{"inspect", "--json"},
	} {
		code, out, errOut := runTTQ(t, args...)
		if code != 0 {
			t.Fatalf("ttq %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		dec := json.NewDecoder(strings.NewReader(out))
		var v any
		if err := dec.Decode(&v); err != nil || dec.More() {
			t.Errorf("ttq %s: stdout is not one JSON document (%v): %q", strings.Join(args, " "), err, out)
		}
	}
}
