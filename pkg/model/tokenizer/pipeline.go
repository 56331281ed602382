package tokenizer

import (
	"encoding/json"
	"fmt"
)

// Pipeline describes a tokenizer's normalizers, pre-tokenizers and
// decoders in order, Sequences flattened, with the settings another
// implementation needs to tell whether it can reproduce them (the GGUF
// exporter maps them onto llama.cpp's tokenizer types).
type Pipeline struct {
	Normalizers   []Step
	PreTokenizers []Step
	Decoders      []Step
}

// Step is one component of the pipeline as tokenizer.json declares it;
// fields a component type does not have stay zero.
type Step struct {
	Type string `json:"type"`
	// Prepend (Prepend normalizer) is the text put before the input.
	Prepend string `json:"prepend"`
	// Pattern (Split, Replace) is the literal or regex matched.
	Pattern  Pattern `json:"pattern"`
	Behavior string  `json:"behavior"`
	Invert   bool    `json:"invert"`
	// UseRegex (ByteLevel) is nil when tokenizer.json leaves it to the
	// default (true).
	UseRegex *bool `json:"use_regex"`
	// PrependScheme and AddPrefixSpace (Metaspace, ByteLevel) say when
	// the space marker goes before the first word.
	PrependScheme  string `json:"prepend_scheme"`
	AddPrefixSpace *bool  `json:"add_prefix_space"`
}

// Pattern is a Split or Replace pattern: a literal String or a Regex.
type Pattern struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

// Pipeline returns the tokenizer's pipeline description.
func (t *Tokenizer) Pipeline() (Pipeline, error) {
	var p Pipeline
	var err error
	if p.Normalizers, err = flattenSteps(t.pipelineJSON[0], 0); err != nil {
		return p, err
	}
	if p.PreTokenizers, err = flattenSteps(t.pipelineJSON[1], 0); err != nil {
		return p, err
	}
	p.Decoders, err = flattenSteps(t.pipelineJSON[2], 0)
	return p, err
}

// flattenSteps lists the components of a possibly nested Sequence.
func flattenSteps(raw json.RawMessage, depth int) ([]Step, error) {
	if isNull(raw) {
		return nil, nil
	}
	if depth > 8 {
		return nil, fmt.Errorf("tokenizer: Sequence nested too deeply")
	}
	var c struct {
		Step
		Normalizers   []json.RawMessage `json:"normalizers"`
		Pretokenizers []json.RawMessage `json:"pretokenizers"`
		Decoders      []json.RawMessage `json:"decoders"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if c.Type != "Sequence" {
		return []Step{c.Step}, nil
	}
	var out []Step
	for _, list := range [][]json.RawMessage{c.Normalizers, c.Pretokenizers, c.Decoders} {
		for _, it := range list {
			sub, err := flattenSteps(it, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	return out, nil
}
