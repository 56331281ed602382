package model

import (
	"math"
	"strings"
	"testing"
)

const llamaBase = `"hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 2,
 "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 512, "rms_norm_eps": 1e-5`

func TestParseConfigArchitectures(t *testing.T) {
	cases := []struct {
		json  string
		check func(t *testing.T, c Config)
	}{
		{`{"architectures":["LlamaForCausalLM"],` + llamaBase + `}`, func(t *testing.T, c Config) {
			if c.HeadDim != 8 || c.KVDim() != 32 || c.QKVBias || c.QKNorm || c.TieWordEmbeddings || c.Rope.Type != "default" || c.Rope.Theta != 10000 {
				t.Errorf("llama defaults wrong: %+v", c)
			}
		}},
		{`{"architectures":["Qwen2ForCausalLM"],` + llamaBase + `, "tie_word_embeddings": true, "rope_theta": 1000000.0, "sliding_window": 4096, "use_sliding_window": false}`, func(t *testing.T, c Config) {
			if !c.QKVBias || c.OBias || !c.TieWordEmbeddings || c.Rope.Theta != 1e6 || c.SlidingWindow != 0 {
				t.Errorf("qwen2: %+v", c)
			}
		}},
		{`{"architectures":["Qwen3ForCausalLM"],` + llamaBase + `, "head_dim": 32}`, func(t *testing.T, c Config) {
			if !c.QKNorm || c.HeadDim != 32 || c.QDim() != 256 || c.QKVBias {
				t.Errorf("qwen3: %+v", c)
			}
		}},
		{`{"architectures":["MistralForCausalLM"],` + llamaBase + `, "sliding_window": 4096, "eos_token_id": [2, 32000]}`, func(t *testing.T, c Config) {
			if c.SlidingWindow != 4096 || len(c.EOS) != 2 || c.EOS[1] != 32000 {
				t.Errorf("mistral: %+v", c)
			}
		}},
		{`{"architectures":["LlamaForCausalLM"],` + llamaBase + `, "rope_scaling": {"type": "linear", "factor": 4.0}}`, func(t *testing.T, c Config) {
			if c.Rope.Type != "linear" || c.Rope.Factor != 4 {
				t.Errorf("older rope_scaling spelling: %+v", c.Rope)
			}
		}},
		{`{"architectures":["LlamaForCausalLM"],` + llamaBase + `, "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}}`, func(t *testing.T, c Config) {
			if c.Rope.Type != "default" || c.Rope.Theta != 500000 {
				t.Errorf("rope_parameters spelling: %+v", c.Rope)
			}
		}},
	}
	for i, tc := range cases {
		c, err := ParseConfig([]byte(tc.json))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		tc.check(t, c)
	}
}

func TestParseConfigErrorsNameTheField(t *testing.T) {
	cases := []struct{ json, want string }{
		{`{"architectures":["GPT2LMHeadModel"]}`, `architectures[0] = "GPT2LMHeadModel" is not supported; supported: LlamaForCausalLM`},
		{`{` + llamaBase + `}`, `"architectures" is missing`},
		{`{"architectures":["LlamaForCausalLM"],` + llamaBase + `, "rope_scaling": {"rope_type": "yarn", "factor": 4}}`, `rope_scaling.rope_type = "yarn" is not supported; supported: default, linear, llama3`},
		{`{"architectures":["LlamaForCausalLM"],` + llamaBase + `, "rope_parameters": {"rope_type": "dynamic", "factor": 2}}`, `rope_parameters.rope_type = "dynamic"`},
		{`{"architectures":["LlamaForCausalLM"],` + llamaBase + `, "hidden_act": "gelu"}`, `hidden_act = "gelu" is not supported; supported: silu`},
		{`{"architectures":["LlamaForCausalLM"], "hidden_size": 64}`, `"intermediate_size" is missing`},
		{`{"architectures":["LlamaForCausalLM"],` + strings.Replace(llamaBase, `"num_key_value_heads": 4`, `"num_key_value_heads": 3`, 1) + `}`, `not a multiple of num_key_value_heads = 3`},
		{`{"architectures":["LlamaForCausalLM"],` + llamaBase + `, "quantization_config": {"quant_method": "awq"}}`, `quantization_config`},
		{`{"architectures":["LlamaForCausalLM"],` + llamaBase + `, "rope_scaling": {"rope_type": "llama3", "factor": 8}}`, `needs factor, low_freq_factor, high_freq_factor`},
		{`not json`, `config.json`},
	}
	for _, tc := range cases {
		_, err := ParseConfig([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConfig(%s)\n error %v\n want it to contain %q", tc.json, err, tc.want)
		}
	}
}

// TestLlama3InvFreqHandDerived checks the llama3 frequency scaling on a case
// worked out by hand from transformers' _compute_llama3_parameters: head_dim
// 8, θ = 10000 gives inv_freq = 1, 0.1, 0.01, 0.001 (wavelengths 2π, 20π,
// 200π, 2000π); with original 64 positions, low factor 1 and high factor 4
// the band edges are 64/4 = 16 and 64/1 = 64, so 2π ≈ 6.28 is kept, 200π and
// 2000π are divided by the factor 8, and 20π ≈ 62.8 is smoothed with
// smooth = (64/(20π) − 1)/(4 − 1).
func TestLlama3InvFreqHandDerived(t *testing.T) {
	r := Rope{Theta: 10000, Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 64}
	got := r.InvFreq(8)
	smooth := (64/(20*math.Pi) - 1) / 3
	want := []float64{1, (1-smooth)*0.1/8 + smooth*0.1, 0.01 / 8, 0.001 / 8}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-15 {
			t.Errorf("inv_freq[%d] = %.17g, want %.17g", i, got[i], want[i])
		}
	}
	lin := Rope{Theta: 10000, Type: "linear", Factor: 2}.InvFreq(4)
	if lin[0] != 0.5 || math.Abs(lin[1]-0.005) > 1e-18 {
		t.Errorf("linear inv_freq = %v, want [0.5 0.005]", lin)
	}
}

func TestParseConfigRejectsAbsurdSizes(t *testing.T) {
	_, err := ParseConfig([]byte(`{"architectures":["LlamaForCausalLM"],` + llamaBase + `, "head_dim": 2000000000}`))
	if err == nil || !strings.Contains(err.Error(), "head_dim = 2000000000 exceeds the supported maximum") {
		t.Fatalf("error %v", err)
	}
}
