// Command synthmodel writes a synthetic decoder checkpoint with random
// weights, for memory and speed measurements on models larger than the tiny
// real ones (see the README's performance sections). A preset copies the
// shape of a released model: its vocabulary size, grouped-query attention,
// head_dim, RoPE settings, tied embeddings and Qwen3's q/k norms; -layers
// cuts it short. The tokenizer is the demo model's (512 tokens, BOS 1,
// EOS 2), so token ids stay below 512 whatever the vocabulary size, unless
// -tokenizer names one (the original's, converted by ttq import), which
// gives WikiText-2 the original's token count.
//
//	go run ./scripts/synthmodel -preset tinyllama-1.1b -layers 1 -o /tmp/tl1
//	ttq import --tokenizer llama2/tokenizer.model -o /tmp/tok-llama2
//	go run ./scripts/synthmodel -preset tinyllama-1.1b -tokenizer /tmp/tok-llama2 -o /tmp/tl
//	go run ./scripts/synthmodel -o /tmp/synth-1g -dtype BF16 -hidden 2048 -inter 5632
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
	"github.com/ttqproject/ttq/pkg/model/tokenizer"
)

// shape is a decoder's architecture as config.json states it.
type shape struct {
	arch         string // architectures[0]
	modelType    string
	hidden       int
	inter        int
	layers       int
	heads        int
	kvHeads      int
	headDim      int // 0: hidden/heads, and config.json leaves head_dim out
	vocab        int
	maxPos       int
	eps          float64
	theta        float64
	ropeScaling  map[string]any // nil: unscaled
	tied         bool
	qkNorm       bool // Qwen3's per-head q_norm/k_norm
	attnBiasFlag bool // write "attention_bias": false (Llama-3, Qwen3 configs do)
	bos, eos     int  // special ids of the tokenizer written beside the weights
}

// presets are the config.json values of the released checkpoints:
// TinyLlama/TinyLlama-1.1B-Chat-v1.0, meta-llama/Llama-3.2-1B,
// Qwen/Qwen3-0.6B and meta-llama/Meta-Llama-3-8B.
var presets = map[string]shape{
	"tinyllama-1.1b": {arch: "LlamaForCausalLM", modelType: "llama", hidden: 2048, inter: 5632, layers: 22, heads: 32, kvHeads: 4,
		vocab: 32000, maxPos: 2048, eps: 1e-5, theta: 10000},
	"llama-3.2-1b": {arch: "LlamaForCausalLM", modelType: "llama", hidden: 2048, inter: 8192, layers: 16, heads: 32, kvHeads: 8, headDim: 64,
		vocab: 128256, maxPos: 131072, eps: 1e-5, theta: 500000, tied: true, attnBiasFlag: true,
		ropeScaling: map[string]any{"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
			"original_max_position_embeddings": 8192, "rope_type": "llama3"}},
	"qwen3-0.6b": {arch: "Qwen3ForCausalLM", modelType: "qwen3", hidden: 1024, inter: 3072, layers: 28, heads: 16, kvHeads: 8, headDim: 128,
		vocab: 151936, maxPos: 40960, eps: 1e-6, theta: 1000000, tied: true, qkNorm: true, attnBiasFlag: true},
	"llama-3-8b": {arch: "LlamaForCausalLM", modelType: "llama", hidden: 4096, inter: 14336, layers: 32, heads: 32, kvHeads: 8,
		vocab: 128256, maxPos: 8192, eps: 1e-5, theta: 500000, attnBiasFlag: true},
}

func presetNames() string {
	var names []string
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, " | ")
}

func main() {
	out := flag.String("o", "", "output directory")
	preset := flag.String("preset", "", "shape of a released model: "+presetNames())
	hidden := flag.Int("hidden", 2048, "hidden size (without -preset)")
	inter := flag.Int("inter", 5632, "intermediate size (without -preset)")
	layers := flag.Int("layers", 0, "layers (default: the preset's, or 10); with -preset, cuts it short")
	heads := flag.Int("heads", 16, "attention heads (without -preset)")
	kvHeads := flag.Int("kv-heads", 16, "key/value heads (without -preset)")
	dtype := flag.String("dtype", "BF16", "F32, F16 or BF16")
	seed := flag.Uint64("seed", 1, "random seed")
	tokDir := flag.String("tokenizer", "", "directory with a tokenizer.json + tokenizer_config.json to use instead of the demo's (e.g. ttq import --tokenizer of the original's, so WikiText-2 has the original's token count)")
	flag.Parse()
	s := shape{arch: "LlamaForCausalLM", modelType: "llama", hidden: *hidden, inter: *inter, layers: 10, heads: *heads, kvHeads: *kvHeads,
		vocab: 512, maxPos: 2048, eps: 1e-5, theta: 10000}
	if *preset != "" {
		p, ok := presets[*preset]
		if !ok {
			fmt.Fprintf(os.Stderr, "synthmodel: unknown preset %q; known: %s\n", *preset, presetNames())
			os.Exit(2)
		}
		s = p
	}
	if *layers > 0 {
		s.layers = *layers
	}
	if *tokDir != "" {
		tok, err := tokenizer.Load(filepath.Join(*tokDir, "tokenizer.json"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "synthmodel: -tokenizer:", err)
			os.Exit(1)
		}
		if tok.VocabSize() > s.vocab {
			fmt.Fprintf(os.Stderr, "synthmodel: -tokenizer: %d tokens do not fit a vocabulary of %d\n", tok.VocabSize(), s.vocab)
			os.Exit(1)
		}
		s.bos, s.eos = tok.BOS(), tok.EOS()
	}
	if err := run(*out, *tokDir, s, safetensors.DType(*dtype), *seed); err != nil {
		fmt.Fprintln(os.Stderr, "synthmodel:", err)
		os.Exit(1)
	}
}

type tensor struct {
	name       string
	rows, cols int
	ones       bool // a norm weight
}

// tensors lists the checkpoint's tensors in the order they are written.
func (s shape) tensors() []tensor {
	headDim := s.headDim
	if headDim == 0 {
		headDim = s.hidden / s.heads
	}
	q, kv := s.heads*headDim, s.kvHeads*headDim
	ts := []tensor{{name: "model.embed_tokens.weight", rows: s.vocab, cols: s.hidden}}
	if !s.tied {
		ts = append(ts, tensor{name: "lm_head.weight", rows: s.vocab, cols: s.hidden})
	}
	ts = append(ts, tensor{name: "model.norm.weight", rows: 1, cols: s.hidden, ones: true})
	for l := 0; l < s.layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		ts = append(ts,
			tensor{name: p + "input_layernorm.weight", rows: 1, cols: s.hidden, ones: true},
			tensor{name: p + "post_attention_layernorm.weight", rows: 1, cols: s.hidden, ones: true},
			tensor{name: p + "self_attn.q_proj.weight", rows: q, cols: s.hidden},
			tensor{name: p + "self_attn.k_proj.weight", rows: kv, cols: s.hidden},
			tensor{name: p + "self_attn.v_proj.weight", rows: kv, cols: s.hidden},
			tensor{name: p + "self_attn.o_proj.weight", rows: s.hidden, cols: q},
			tensor{name: p + "mlp.gate_proj.weight", rows: s.inter, cols: s.hidden},
			tensor{name: p + "mlp.up_proj.weight", rows: s.inter, cols: s.hidden},
			tensor{name: p + "mlp.down_proj.weight", rows: s.hidden, cols: s.inter},
		)
		if s.qkNorm {
			ts = append(ts,
				tensor{name: p + "self_attn.q_norm.weight", rows: 1, cols: headDim, ones: true},
				tensor{name: p + "self_attn.k_norm.weight", rows: 1, cols: headDim, ones: true})
		}
	}
	return ts
}

// config is the checkpoint's config.json.
func (s shape) config(dt safetensors.DType) map[string]any {
	cfg := map[string]any{
		"architectures": []string{s.arch}, "model_type": s.modelType,
		"hidden_size": s.hidden, "intermediate_size": s.inter, "num_hidden_layers": s.layers,
		"num_attention_heads": s.heads, "num_key_value_heads": s.kvHeads, "vocab_size": s.vocab,
		"max_position_embeddings": s.maxPos, "rms_norm_eps": s.eps, "rope_theta": s.theta,
		"rope_scaling": s.ropeScaling,
		"hidden_act":   "silu", "tie_word_embeddings": s.tied, "bos_token_id": s.bos, "eos_token_id": s.eos,
		"torch_dtype": map[safetensors.DType]string{"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dt],
	}
	if s.headDim != 0 {
		cfg["head_dim"] = s.headDim
	}
	if s.attnBiasFlag {
		cfg["attention_bias"] = false
	}
	return cfg
}

func run(out, tokDir string, s shape, dt safetensors.DType, seed uint64) error {
	if tokDir == "" {
		s.bos, s.eos = 1, 2 // the demo tokenizer's
	}
	if out == "" {
		return fmt.Errorf("-o is required")
	}
	elem, ok := dt.Elem()
	if !ok {
		return fmt.Errorf("dtype %s: want F32, F16 or BF16", dt)
	}
	ts := s.tensors()
	specs := make([]safetensors.TensorSpec, len(ts))
	for i, t := range ts {
		specs[i] = safetensors.TensorSpec{Name: t.name, DType: dt, Shape: []int64{int64(t.rows), int64(t.cols)}}
		if t.ones {
			specs[i].Shape = []int64{int64(t.cols)}
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
	for _, t := range ts {
		std := 1 / math.Sqrt(float64(t.cols))
		row := make([]float32, t.cols)
		buf := make([]byte, t.cols*elem.Size())
		for r := 0; r < t.rows; r++ {
			for i := range row {
				if t.ones {
					row[i] = 1
				} else {
					row[i] = float32(rng.NormFloat64() * std)
				}
			}
			kernels.FromFloat32(buf, row, elem)
			if err := w.WriteChunk(t.name, buf); err != nil {
				w.Abort()
				return err
			}
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(s.config(dt), "", "  ")
	if err := os.WriteFile(filepath.Join(out, "config.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		read := demo.ReadFile
		if tokDir != "" {
			read = func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(tokDir, name)) }
		}
		data, err := read(name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
