package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/gguf"
	"github.com/ttqproject/ttq/pkg/model/hub/hubtest"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
	"github.com/ttqproject/ttq/pkg/quant"
)

// shardedDemoFiles is the demo bundle with its checkpoint split into two
// shards and a model.safetensors.index.json, as save_pretrained writes
// larger models.
func shardedDemoFiles(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, name := range []string{"config.json", "tokenizer.json", "tokenizer_config.json"} {
		b, err := demo.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	b, err := demo.ReadFile(safetensors.SingleFileName)
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.FromBytes("demo", b)
	if err != nil {
		t.Fatal(err)
	}
	names := f.Names()
	weightMap := map[string]string{}
	tmp := t.TempDir()
	for i, part := range [][]string{names[:len(names)/2], names[len(names)/2:]} {
		shard := fmt.Sprintf("model-%05d-of-00002.safetensors", i+1)
		var tensors []safetensors.Tensor
		for _, name := range part {
			tn, err := f.Tensor(name)
			if err != nil {
				t.Fatal(err)
			}
			tensors = append(tensors, tn)
			weightMap[name] = shard
		}
		path := filepath.Join(tmp, shard)
		if err := safetensors.WriteFile(path, tensors, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		if files[shard], err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
	}
	files[safetensors.IndexFileName], _ = json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
	return files
}

// TestHubCacheModel loads a model from a Hugging Face hub cache layout
// (symlinked blobs, a sharded checkpoint) by its org/name.
func TestHubCacheModel(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "hub")
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_HOME", filepath.Dir(cache))
	commit := hubtest.Add(t, cache, "ttq-test/stories260K", "main", shardedDemoFiles(t))
	snap := filepath.Join(cache, "models--ttq-test--stories260K", "snapshots", commit)

	code, out, errOut := runTTQ(t, "inspect", "ttq-test/stories260K", "--json")
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, errOut)
	}
	var r quant.Description
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Model != snap || len(r.Files) != 2 || r.Params != 260032 || len(r.Tensors) != 2+5*9 {
		t.Fatalf("inspect: model %s, %d files, %d params, %d tensors", r.Model, len(r.Files), r.Params, len(r.Tensors))
	}

	// The same weights evaluate to the demo's perplexity.
	want := evalJSON(t, "--max-windows", "1", "--ctx", "64")
	got := evalJSON(t, "--model", "ttq-test/stories260K@main", "--max-windows", "1", "--ctx", "64")
	if got.Model != snap || got.Perplexity.PPL != want.Perplexity.PPL {
		t.Fatalf("eval: model %s ppl %v, want %s ppl %v", got.Model, got.Perplexity.PPL, snap, want.Perplexity.PPL)
	}

	// An export names the model after the repository, not the snapshot hash.
	ggufPath := filepath.Join(t.TempDir(), "m.gguf")
	if code, _, errOut := runTTQ(t, "export", "ttq-test/stories260K", "--format", "gguf", "-o", ggufPath); code != 0 {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	g, err := gguf.Open(ggufPath)
	if err != nil {
		t.Fatal(err)
	}
	if kv, _ := g.Lookup("general.name"); kv.Value != "stories260K" {
		t.Errorf("general.name %v, want stories260K", kv.Value)
	}

	for _, c := range []struct {
		arg  string
		want string
	}{
		{"ttq-test/other", "model ttq-test/other: no directory ttq-test/other, and no models--ttq-test--other in " + cache + " (set HF_HUB_CACHE or HF_HOME)"},
		{"ttq-test/stories260K@v2", `no revision "v2" in ` + filepath.Join(cache, "models--ttq-test--stories260K", "refs") + " (refs present: main)"},
	} {
		code, _, errOut := runTTQ(t, "inspect", c.arg)
		if code != exitError || !strings.Contains(errOut, c.want) {
			t.Errorf("inspect %s: exit %d, %q; want %q", c.arg, code, errOut, c.want)
		}
	}
}
