package main

import (
	"encoding/json"
	"testing"

	"github.com/ttqproject/ttq/pkg/model"
)

// TestPresetsLoad writes every preset cut to one layer, with the vocabulary
// shrunk so the test stays small, and loads it with ttq's own loader: the
// config says what the released model's says and the tensors are the ones
// the loader expects (tied embeddings, Qwen3's q/k norms).
func TestPresetsLoad(t *testing.T) {
	want := map[string]struct {
		hidden, inter, heads, kv, headDim, vocab int
		tied, qkNorm                             bool
		rope                                     string
		theta                                    float64
	}{
		"tinyllama-1.1b": {2048, 5632, 32, 4, 64, 32000, false, false, "default", 1e4},
		"llama-3.2-1b":   {2048, 8192, 32, 8, 64, 128256, true, false, "llama3", 5e5},
		"qwen3-0.6b":     {1024, 3072, 16, 8, 128, 151936, true, true, "default", 1e6},
		"llama-3-8b":     {4096, 14336, 32, 8, 128, 128256, false, false, "default", 5e5},
	}
	if len(want) != len(presets) {
		t.Fatalf("%d presets, %d checked", len(presets), len(want))
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			s := presets[name]
			b, err := json.Marshal(s.config("BF16"))
			if err != nil {
				t.Fatal(err)
			}
			c, err := model.ParseConfig(b)
			if err != nil {
				t.Fatal(err)
			}
			if c.HiddenSize != w.hidden || c.IntermediateSize != w.inter || c.NumHeads != w.heads || c.NumKVHeads != w.kv ||
				c.HeadDim != w.headDim || c.VocabSize != w.vocab || c.TieWordEmbeddings != w.tied || c.QKNorm != w.qkNorm ||
				c.Rope.Type != w.rope || c.Rope.Theta != w.theta {
				t.Fatalf("config %+v", c)
			}
			// A one-layer cut with a small vocabulary and narrow MLP, written and
			// loaded for real.
			s.layers, s.vocab, s.inter = 1, 512, 64
			if s.hidden > 2048 {
				s.hidden, s.heads, s.kvHeads = 1024, 8, 2
			}
			dir := t.TempDir()
			if err := run(dir, "", s, "BF16", 1); err != nil {
				t.Fatal(err)
			}
			m, err := model.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if got := m.Layers[0].Attn.QNorm != nil; got != w.qkNorm {
				t.Errorf("q_norm loaded: %v, want %v", got, w.qkNorm)
			}
			if m.Config.TieWordEmbeddings != w.tied || m.Config.NumLayers != 1 {
				t.Errorf("loaded config %+v", m.Config)
			}
			if _, err := m.Forward(m.NewState(4), []int{1, 5, 9, 3}, model.LastLogits); err != nil {
				t.Fatal(err)
			}
		})
	}
}
