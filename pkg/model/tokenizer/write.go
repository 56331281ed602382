package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// Files holds a converted tokenizer.
type Files struct {
	TokenizerJSON, TokenizerConfigJSON []byte
}

// orderedVocab marshals token→id in id order, as huggingface/tokenizers
// writes it, so converted files are deterministic and diffable.
type orderedVocab []string // index = id; "" marks a hole

func (v orderedVocab) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	for id, tok := range v {
		if tok == "" {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		k, err := marshalNoEscape(tok)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		fmt.Fprintf(&b, ":%d", id)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

type jsonAdded struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type jsonModel struct {
	Type                    string       `json:"type"`
	Dropout                 *float64     `json:"dropout"`
	UnkToken                *string      `json:"unk_token"`
	ContinuingSubwordPrefix *string      `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string      `json:"end_of_word_suffix"`
	FuseUnk                 bool         `json:"fuse_unk"`
	ByteFallback            bool         `json:"byte_fallback"`
	IgnoreMerges            bool         `json:"ignore_merges"`
	Vocab                   orderedVocab `json:"vocab"`
	Merges                  [][2]string  `json:"merges"`
}

type jsonFile struct {
	Version       string      `json:"version"`
	Truncation    any         `json:"truncation"`
	Padding       any         `json:"padding"`
	AddedTokens   []jsonAdded `json:"added_tokens"`
	Normalizer    any         `json:"normalizer"`
	PreTokenizer  any         `json:"pre_tokenizer"`
	PostProcessor any         `json:"post_processor"`
	Decoder       any         `json:"decoder"`
	Model         jsonModel   `json:"model"`
}

type obj = map[string]any

func strPattern(s string) obj { return obj{"String": s} }

// templateBOS is a TemplateProcessing that puts bos (id) before a sequence.
func templateBOS(bos string, id int) obj {
	sp := obj{"SpecialToken": obj{"id": bos, "type_id": 0}}
	return obj{
		"type":   "TemplateProcessing",
		"single": []any{sp, obj{"Sequence": obj{"id": "A", "type_id": 0}}},
		"pair": []any{sp, obj{"Sequence": obj{"id": "A", "type_id": 0}},
			obj{"SpecialToken": obj{"id": bos, "type_id": 1}}, obj{"Sequence": obj{"id": "B", "type_id": 1}}},
		"special_tokens": obj{bos: obj{"id": bos, "ids": []int{id}, "tokens": []string{bos}}},
	}
}

// vocabSlice turns token→id into an id-indexed slice, rejecting duplicate
// ids (a converter input must be a bijection).
func vocabSlice(vocab map[string]int) (orderedVocab, error) {
	n := 0
	for _, id := range vocab {
		if id < 0 || id >= 1<<22 {
			return nil, fmt.Errorf("tokenizer: id %d out of range", id)
		}
		n = max(n, id+1)
	}
	v := make(orderedVocab, n)
	keys := make([]string, 0, len(vocab))
	for k := range vocab {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		id := vocab[k]
		if v[id] != "" {
			return nil, fmt.Errorf("tokenizer: tokens %q and %q share id %d", v[id], k, id)
		}
		if k == "" {
			return nil, fmt.Errorf("tokenizer: empty token at id %d", id)
		}
		v[id] = k
	}
	return v, nil
}

// finish serialises a converted tokenizer and checks that it loads.
func finish(f *jsonFile, cfg obj) (Files, error) {
	if f.AddedTokens == nil {
		f.AddedTokens = []jsonAdded{}
	}
	if f.Model.Merges == nil {
		f.Model.Merges = [][2]string{}
	}
	f.Version = "1.0"
	tj, err := marshalIndent(f)
	if err != nil {
		return Files{}, fmt.Errorf("tokenizer: writing tokenizer.json: %w", err)
	}
	cj, err := marshalIndent(cfg)
	if err != nil {
		return Files{}, fmt.Errorf("tokenizer: writing tokenizer_config.json: %w", err)
	}
	if _, err := FromJSON(tj, cj); err != nil {
		return Files{}, fmt.Errorf("tokenizer: converted tokenizer does not load: %w", err)
	}
	return Files{TokenizerJSON: tj, TokenizerConfigJSON: cj}, nil
}

func marshalIndent(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
