// Command synthmodel writes a synthetic Llama checkpoint of any size with
// random weights, for memory and speed measurements on models larger than
// the tiny real ones (see the README's performance section). It borrows the
// demo model's tokenizer, so the vocabulary is 512 tokens.
//
//	go run ./scripts/synthmodel -o /tmp/synth-1g -dtype BF16
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

func main() {
	out := flag.String("o", "", "output directory")
	hidden := flag.Int("hidden", 2048, "hidden size")
	inter := flag.Int("inter", 5632, "intermediate size")
	layers := flag.Int("layers", 10, "layers")
	heads := flag.Int("heads", 16, "attention heads")
	kvHeads := flag.Int("kv-heads", 16, "key/value heads")
	dtype := flag.String("dtype", "BF16", "F32, F16 or BF16")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if err := run(*out, *hidden, *inter, *layers, *heads, *kvHeads, safetensors.DType(*dtype), *seed); err != nil {
		fmt.Fprintln(os.Stderr, "synthmodel:", err)
		os.Exit(1)
	}
}

func run(out string, hidden, inter, layers, heads, kvHeads int, dt safetensors.DType, seed uint64) error {
	if out == "" {
		return fmt.Errorf("-o is required")
	}
	elem, ok := dt.Elem()
	if !ok {
		return fmt.Errorf("dtype %s: want F32, F16 or BF16", dt)
	}
	const vocab = 512
	headDim := hidden / heads
	kv := kvHeads * headDim
	type shape struct {
		name       string
		rows, cols int
	}
	shapes := []shape{{"model.embed_tokens.weight", vocab, hidden}, {"lm_head.weight", vocab, hidden}, {"model.norm.weight", 1, hidden}}
	for l := 0; l < layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		shapes = append(shapes,
			shape{p + "input_layernorm.weight", 1, hidden},
			shape{p + "post_attention_layernorm.weight", 1, hidden},
			shape{p + "self_attn.q_proj.weight", hidden, hidden},
			shape{p + "self_attn.k_proj.weight", kv, hidden},
			shape{p + "self_attn.v_proj.weight", kv, hidden},
			shape{p + "self_attn.o_proj.weight", hidden, hidden},
			shape{p + "mlp.gate_proj.weight", inter, hidden},
			shape{p + "mlp.up_proj.weight", inter, hidden},
			shape{p + "mlp.down_proj.weight", hidden, inter},
		)
	}
	specs := make([]safetensors.TensorSpec, len(shapes))
	for i, s := range shapes {
		specs[i] = safetensors.TensorSpec{Name: s.name, DType: dt, Shape: []int64{int64(s.rows), int64(s.cols)}}
		if s.rows == 1 {
			specs[i].Shape = []int64{int64(s.cols)}
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	w, err := safetensors.Create(filepath.Join(out, "model.safetensors"), specs, map[string]string{"format": "pt", "generator": "ttq scripts/synthmodel"})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, s := range shapes {
		std := 1 / math.Sqrt(float64(s.cols))
		row := make([]float32, s.cols)
		buf := make([]byte, s.cols*elem.Size())
		for r := 0; r < s.rows; r++ {
			for i := range row {
				if s.rows == 1 {
					row[i] = 1 // norm weights
				} else {
					row[i] = float32(rng.NormFloat64() * std)
				}
			}
			kernels.FromFloat32(buf, row, elem)
			if err := w.WriteChunk(s.name, buf); err != nil {
				w.Abort()
				return err
			}
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	cfg := map[string]any{
		"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama",
		"hidden_size": hidden, "intermediate_size": inter, "num_hidden_layers": layers,
		"num_attention_heads": heads, "num_key_value_heads": kvHeads, "vocab_size": vocab,
		"max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
		"hidden_act": "silu", "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2,
		"torch_dtype": map[safetensors.DType]string{"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dt],
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "config.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		data, err := demo.ReadFile(name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
