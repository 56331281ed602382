package model

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseConfig: any bytes give a config or an error, never a panic, and
// an accepted config is internally consistent (the shapes the loader
// derives from it are positive and divide as the attention needs).
func FuzzParseConfig(f *testing.F) {
	for _, name := range tinyModels {
		if b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "models", name, "config.json")); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"architectures":["LlamaForCausalLM"],` + llamaBase + `, "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 64}}`))
	f.Add([]byte(`{"architectures":["Qwen3ForCausalLM"],` + llamaBase + `, "head_dim": 32, "eos_token_id": [1, 2]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		if c.HiddenSize <= 0 || c.NumLayers <= 0 || c.NumHeads <= 0 || c.NumKVHeads <= 0 || c.HeadDim <= 0 || c.VocabSize <= 0 || c.IntermediateSize <= 0 {
			t.Fatalf("accepted non-positive shape: %+v", c)
		}
		if c.NumHeads%c.NumKVHeads != 0 || c.HeadDim%2 != 0 || !(c.RMSNormEps > 0) || !(c.Rope.Theta > 0) {
			t.Fatalf("accepted inconsistent config: %+v", c)
		}
		for _, f := range c.Rope.InvFreq(c.HeadDim) {
			if !(f > 0) {
				t.Fatalf("non-positive inverse frequency %g from %+v", f, c.Rope)
			}
		}
	})
}
