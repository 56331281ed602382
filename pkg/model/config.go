package model

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Architectures lists the Hugging Face architectures ttq runs.
var Architectures = []string{"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM"}

// Config is the resolved hyper-parameter set of a Llama-family model, read
// from a Hugging Face config.json.
type Config struct {
	Architecture     string  `json:"architecture"`
	HiddenSize       int     `json:"hidden_size"`
	IntermediateSize int     `json:"intermediate_size"`
	NumLayers        int     `json:"num_hidden_layers"`
	NumHeads         int     `json:"num_attention_heads"`
	NumKVHeads       int     `json:"num_key_value_heads"`
	HeadDim          int     `json:"head_dim"`
	VocabSize        int     `json:"vocab_size"`
	MaxPositions     int     `json:"max_position_embeddings"`
	RMSNormEps       float64 `json:"rms_norm_eps"`
	Rope             Rope    `json:"rope"`
	// SlidingWindow limits attention to the most recent keys when > 0.
	SlidingWindow     int  `json:"sliding_window,omitempty"`
	TieWordEmbeddings bool `json:"tie_word_embeddings"`
	// QKVBias: q/k/v projections have biases (always for Qwen2;
	// attention_bias for Llama). OBias: o_proj too (Llama attention_bias).
	QKVBias bool `json:"qkv_bias"`
	OBias   bool `json:"o_bias"`
	MLPBias bool `json:"mlp_bias"`
	// QKNorm: Qwen3's per-head RMSNorm of queries and keys before RoPE.
	QKNorm bool  `json:"qk_norm"`
	BOS    []int `json:"bos_token_id,omitempty"`
	EOS    []int `json:"eos_token_id,omitempty"`
	// DType is the checkpoint's declared storage type (a hint only).
	DType string `json:"torch_dtype,omitempty"`
}

// Rope holds the rotary position embedding parameters.
type Rope struct {
	Theta float64 `json:"theta"`
	// Type is "default", "linear" or "llama3".
	Type   string  `json:"type"`
	Factor float64 `json:"factor,omitempty"`
	// llama3 scaling only.
	LowFreqFactor        float64 `json:"low_freq_factor,omitempty"`
	HighFreqFactor       float64 `json:"high_freq_factor,omitempty"`
	OriginalMaxPositions int     `json:"original_max_position_embeddings,omitempty"`
}

// maxConfigDim bounds every size in config.json (2^24: vocabularies,
// contexts and widths of real models are far below it).
const maxConfigDim = 1 << 24

// KVDim is the width of the key and value projections.
func (c Config) KVDim() int { return c.NumKVHeads * c.HeadDim }

// QDim is the width of the query projection.
func (c Config) QDim() int { return c.NumHeads * c.HeadDim }

// rawConfig mirrors the config.json fields ttq reads. Pointers distinguish
// "absent" from zero where the fallback differs.
type rawConfig struct {
	Architectures         []string        `json:"architectures"`
	ModelType             string          `json:"model_type"`
	HiddenSize            *int            `json:"hidden_size"`
	IntermediateSize      *int            `json:"intermediate_size"`
	NumHiddenLayers       *int            `json:"num_hidden_layers"`
	NumAttentionHeads     *int            `json:"num_attention_heads"`
	NumKeyValueHeads      *int            `json:"num_key_value_heads"`
	HeadDim               *int            `json:"head_dim"`
	VocabSize             *int            `json:"vocab_size"`
	MaxPositionEmbeddings *int            `json:"max_position_embeddings"`
	RMSNormEps            *float64        `json:"rms_norm_eps"`
	RopeTheta             *float64        `json:"rope_theta"`
	RopeScaling           json.RawMessage `json:"rope_scaling"`
	RopeParameters        json.RawMessage `json:"rope_parameters"`
	PartialRotaryFactor   *float64        `json:"partial_rotary_factor"`
	TieWordEmbeddings     *bool           `json:"tie_word_embeddings"`
	AttentionBias         *bool           `json:"attention_bias"`
	MLPBias               *bool           `json:"mlp_bias"`
	HiddenAct             *string         `json:"hidden_act"`
	SlidingWindow         *int            `json:"sliding_window"`
	UseSlidingWindow      *bool           `json:"use_sliding_window"`
	BOSTokenID            json.RawMessage `json:"bos_token_id"`
	EOSTokenID            json.RawMessage `json:"eos_token_id"`
	TorchDType            string          `json:"torch_dtype"`
	DType                 string          `json:"dtype"`
	QuantizationConfig    json.RawMessage `json:"quantization_config"`
}

type rawRope struct {
	RopeType                      string   `json:"rope_type"`
	Type                          string   `json:"type"`
	Factor                        *float64 `json:"factor"`
	LowFreqFactor                 *float64 `json:"low_freq_factor"`
	HighFreqFactor                *float64 `json:"high_freq_factor"`
	OriginalMaxPositionEmbeddings *int     `json:"original_max_position_embeddings"`
	RopeTheta                     *float64 `json:"rope_theta"`
}

// ParseConfig reads a Hugging Face config.json. Unsupported architectures or
// settings fail with an error naming the field and the supported values.
func ParseConfig(data []byte) (Config, error) {
	var raw rawConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return Config{}, fmt.Errorf("config.json: %w", err)
	}
	var c Config
	if len(raw.Architectures) == 0 {
		return c, fmt.Errorf("config.json: field \"architectures\" is missing; supported: %s", strings.Join(Architectures, ", "))
	}
	c.Architecture = raw.Architectures[0]
	if !contains(Architectures, c.Architecture) {
		return c, fmt.Errorf("config.json: architectures[0] = %q is not supported; supported: %s", c.Architecture, strings.Join(Architectures, ", "))
	}
	if len(raw.QuantizationConfig) > 0 && string(raw.QuantizationConfig) != "null" {
		return c, fmt.Errorf("config.json: field \"quantization_config\" is set: already-quantized checkpoints are not supported; supported: full-precision F32/F16/BF16 checkpoints")
	}
	if raw.HiddenAct != nil && *raw.HiddenAct != "silu" {
		return c, fmt.Errorf("config.json: hidden_act = %q is not supported; supported: silu", *raw.HiddenAct)
	}
	req := func(name string, p *int) (int, error) {
		if p == nil {
			return 0, fmt.Errorf("config.json: field %q is missing", name)
		}
		if *p <= 0 {
			return 0, fmt.Errorf("config.json: %s = %d must be positive", name, *p)
		}
		// Far beyond any released model; larger values are corrupt files
		// that would otherwise turn into enormous allocations.
		if *p > maxConfigDim {
			return 0, fmt.Errorf("config.json: %s = %d exceeds the supported maximum %d", name, *p, maxConfigDim)
		}
		return *p, nil
	}
	var err error
	if c.HiddenSize, err = req("hidden_size", raw.HiddenSize); err != nil {
		return c, err
	}
	if c.IntermediateSize, err = req("intermediate_size", raw.IntermediateSize); err != nil {
		return c, err
	}
	if c.NumLayers, err = req("num_hidden_layers", raw.NumHiddenLayers); err != nil {
		return c, err
	}
	if c.NumHeads, err = req("num_attention_heads", raw.NumAttentionHeads); err != nil {
		return c, err
	}
	if c.VocabSize, err = req("vocab_size", raw.VocabSize); err != nil {
		return c, err
	}
	c.NumKVHeads = c.NumHeads
	if raw.NumKeyValueHeads != nil {
		if c.NumKVHeads, err = req("num_key_value_heads", raw.NumKeyValueHeads); err != nil {
			return c, err
		}
	}
	if c.NumHeads%c.NumKVHeads != 0 {
		return c, fmt.Errorf("config.json: num_attention_heads = %d is not a multiple of num_key_value_heads = %d", c.NumHeads, c.NumKVHeads)
	}
	if raw.HeadDim != nil {
		if c.HeadDim, err = req("head_dim", raw.HeadDim); err != nil {
			return c, err
		}
	} else {
		if c.HiddenSize%c.NumHeads != 0 {
			return c, fmt.Errorf("config.json: hidden_size = %d is not a multiple of num_attention_heads = %d and head_dim is not set", c.HiddenSize, c.NumHeads)
		}
		c.HeadDim = c.HiddenSize / c.NumHeads
	}
	if c.HeadDim%2 != 0 {
		return c, fmt.Errorf("config.json: head_dim = %d must be even for rotary embeddings", c.HeadDim)
	}
	if raw.MaxPositionEmbeddings != nil {
		if c.MaxPositions, err = req("max_position_embeddings", raw.MaxPositionEmbeddings); err != nil {
			return c, err
		}
	} else {
		c.MaxPositions = 2048
	}
	c.RMSNormEps = 1e-6 // transformers' LlamaConfig default
	if raw.RMSNormEps != nil {
		// An epsilon of 1 or more is no longer a guard against division
		// by zero: it swamps the mean square and silently flattens every
		// activation (configs use 1e-5 or 1e-6).
		if !(*raw.RMSNormEps > 0 && *raw.RMSNormEps < 1) {
			return c, fmt.Errorf("config.json: rms_norm_eps = %g must be between 0 and 1", *raw.RMSNormEps)
		}
		c.RMSNormEps = *raw.RMSNormEps
	}
	if raw.PartialRotaryFactor != nil && *raw.PartialRotaryFactor != 1 {
		return c, fmt.Errorf("config.json: partial_rotary_factor = %g is not supported; supported: 1", *raw.PartialRotaryFactor)
	}
	if c.Rope, err = parseRope(raw); err != nil {
		return c, err
	}
	// Llama and Mistral configs default to untied embeddings; Qwen2/Qwen3
	// configs always spell the field out.
	if raw.TieWordEmbeddings != nil {
		c.TieWordEmbeddings = *raw.TieWordEmbeddings
	}
	switch c.Architecture {
	case "Qwen2ForCausalLM":
		c.QKVBias = true
	case "LlamaForCausalLM", "Qwen3ForCausalLM":
		if raw.AttentionBias != nil && *raw.AttentionBias {
			c.QKVBias = true
			c.OBias = true
		}
	}
	if c.Architecture == "LlamaForCausalLM" && raw.MLPBias != nil && *raw.MLPBias {
		c.MLPBias = true
	}
	c.QKNorm = c.Architecture == "Qwen3ForCausalLM"
	if raw.SlidingWindow != nil && *raw.SlidingWindow > 0 {
		// Qwen2/Qwen3 only slide when use_sliding_window is true; Mistral
		// always does when the window is set.
		switch c.Architecture {
		case "MistralForCausalLM":
			c.SlidingWindow = *raw.SlidingWindow
		case "Qwen2ForCausalLM", "Qwen3ForCausalLM":
			if raw.UseSlidingWindow != nil && *raw.UseSlidingWindow {
				return c, fmt.Errorf("config.json: use_sliding_window = true is not supported for %s; supported: false", c.Architecture)
			}
		}
	}
	if c.BOS, err = tokenIDs("bos_token_id", raw.BOSTokenID); err != nil {
		return c, err
	}
	if c.EOS, err = tokenIDs("eos_token_id", raw.EOSTokenID); err != nil {
		return c, err
	}
	c.DType = cmp.Or(raw.DType, raw.TorchDType)
	return c, nil
}

func parseRope(raw rawConfig) (Rope, error) {
	r := Rope{Theta: 10000, Type: "default"}
	if raw.RopeTheta != nil {
		r.Theta = *raw.RopeTheta
	}
	// transformers v5 moved rope_theta and the scaling settings into
	// rope_parameters; older files use rope_scaling (null when unscaled).
	field, spec := "rope_scaling", raw.RopeScaling
	if len(raw.RopeParameters) > 0 && string(raw.RopeParameters) != "null" {
		field, spec = "rope_parameters", raw.RopeParameters
	}
	if len(spec) > 0 && string(spec) != "null" {
		var rr rawRope
		if err := json.Unmarshal(spec, &rr); err != nil {
			return r, fmt.Errorf("config.json: %s: %w", field, err)
		}
		if rr.RopeTheta != nil {
			r.Theta = *rr.RopeTheta
		}
		typ := cmp.Or(rr.RopeType, rr.Type, "default")
		switch typ {
		case "default":
		case "linear":
			if rr.Factor == nil || !(*rr.Factor > 0) {
				return r, fmt.Errorf("config.json: %s.factor must be a positive number for rope_type linear", field)
			}
			r.Factor = *rr.Factor
		case "llama3":
			if rr.Factor == nil || rr.LowFreqFactor == nil || rr.HighFreqFactor == nil || rr.OriginalMaxPositionEmbeddings == nil {
				return r, fmt.Errorf("config.json: %s with rope_type llama3 needs factor, low_freq_factor, high_freq_factor and original_max_position_embeddings", field)
			}
			r.Factor, r.LowFreqFactor, r.HighFreqFactor = *rr.Factor, *rr.LowFreqFactor, *rr.HighFreqFactor
			r.OriginalMaxPositions = *rr.OriginalMaxPositionEmbeddings
			if !(r.Factor > 0) || !(r.HighFreqFactor > r.LowFreqFactor) || r.OriginalMaxPositions <= 0 {
				return r, fmt.Errorf("config.json: %s: llama3 scaling needs factor > 0, high_freq_factor > low_freq_factor and original_max_position_embeddings > 0", field)
			}
		default:
			return r, fmt.Errorf("config.json: %s.rope_type = %q is not supported; supported: default, linear, llama3", field, typ)
		}
		r.Type = typ
	}
	if !(r.Theta > 0) || math.IsInf(r.Theta, 0) {
		return r, fmt.Errorf("config.json: rope_theta = %g must be positive", r.Theta)
	}
	return r, nil
}

// InvFreq returns the rotary inverse frequencies for a head of dim d, as
// transformers' modeling_rope_utils computes them.
func (r Rope) InvFreq(d int) []float64 {
	inv := make([]float64, d/2)
	for i := range inv {
		inv[i] = 1 / math.Pow(r.Theta, float64(2*i)/float64(d))
	}
	switch r.Type {
	case "linear":
		for i := range inv {
			inv[i] /= r.Factor
		}
	case "llama3":
		orig := float64(r.OriginalMaxPositions)
		lowWavelen := orig / r.LowFreqFactor
		highWavelen := orig / r.HighFreqFactor
		for i, f := range inv {
			wavelen := 2 * math.Pi / f
			switch {
			case wavelen < highWavelen:
				// High frequencies are kept.
			case wavelen > lowWavelen:
				inv[i] = f / r.Factor
			default:
				smooth := (orig/wavelen - r.LowFreqFactor) / (r.HighFreqFactor - r.LowFreqFactor)
				inv[i] = (1-smooth)*f/r.Factor + smooth*f
			}
		}
	}
	return inv
}

func tokenIDs(name string, raw json.RawMessage) ([]int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one int
	if err := json.Unmarshal(raw, &one); err == nil {
		return []int{one}, nil
	}
	var many []int
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("config.json: %s must be an integer or a list of integers", name)
	}
	return many, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
