package export

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/ttqproject/ttq/pkg/model/tokenizer"
	"github.com/ttqproject/ttq/pkg/model/tokenizer/pretok"
)

// GGUF token types (llama.h's enum llama_token_type, gguf-py TokenType).
const (
	TokenNormal      int32 = 1
	TokenUnknown     int32 = 2
	TokenControl     int32 = 3
	TokenUserDefined int32 = 4
	TokenUnused      int32 = 5
	TokenByte        int32 = 6
)

// Pre-tokenizer regexes that llama.cpp implements natively, by the name
// tokenizer.ggml.pre gives them (llama.cpp src/llama-vocab.cpp; the
// converter, convert_hf_to_gguf.py get_vocab_base_pre, names them by
// hashing a test encoding, ttq by the Split pattern itself).
var preByPattern = map[string]string{
	pretok.Llama3Pattern: "llama-bpe",
	pretok.Qwen2Pattern:  "qwen2",
	pretok.GPT2Pattern:   "gpt-2",
}

// Vocab is a tokenizer as GGUF stores it (the tokenizer.ggml.* keys).
type Vocab struct {
	// Model is tokenizer.ggml.model: "llama" (SentencePiece-style BPE,
	// merged by score) or "gpt2" (byte-level BPE, merged by rank).
	Model string
	// Pre is tokenizer.ggml.pre: "default" for llama, else the
	// pre-tokenizer regex's llama.cpp name.
	Pre    string
	Tokens []string
	Types  []int32
	// Scores (llama only): a merged piece scores −(rank of the first merge
	// that builds it), so llama.cpp's highest-score-first merging follows
	// the merge list; pieces no merge builds score below every merge.
	Scores []float32
	// Merges (gpt2 only): "left right", spaces inside a part written as
	// U+0120 like gguf-py does.
	Merges []string
	// BOS, EOS and UNK are token ids, −1 when the tokenizer has none.
	BOS, EOS, UNK  int
	AddBOS, AddEOS bool
	// AddSpacePrefix (llama only): the SentencePiece dummy prefix "▁".
	AddSpacePrefix bool
}

// tokenizerJSON holds the pipeline components of tokenizer.json, whose
// types decide the GGUF tokenizer model and pre-tokenizer; the vocabulary,
// merges and added tokens come from the loaded tokenizer.
type tokenizerJSON struct {
	Normalizer   json.RawMessage `json:"normalizer"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	Decoder      json.RawMessage `json:"decoder"`
}

// component is one normalizer, pre-tokenizer or decoder node.
type component struct {
	Type          string          `json:"type"`
	Prepend       string          `json:"prepend"`
	Pattern       json.RawMessage `json:"pattern"`
	Behavior      string          `json:"behavior"`
	Invert        bool            `json:"invert"`
	UseRegex      *bool           `json:"use_regex"`
	PrependScheme string          `json:"prepend_scheme"`
	AddPrefix     *bool           `json:"add_prefix_space"`
	Normalizers   json.RawMessage `json:"normalizers"`
	Pretokenizers json.RawMessage `json:"pretokenizers"`
	Decoders      json.RawMessage `json:"decoders"`
}

// flatten lists the nodes of a possibly nested Sequence.
func flatten(raw json.RawMessage, depth int) ([]component, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if depth > 8 {
		return nil, fmt.Errorf("export: tokenizer.json: Sequence nested too deeply")
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("export: tokenizer.json: %w", err)
	}
	if c.Type != "Sequence" {
		return []component{c}, nil
	}
	var out []component
	for _, list := range []json.RawMessage{c.Normalizers, c.Pretokenizers, c.Decoders} {
		if len(list) == 0 || string(list) == "null" {
			continue
		}
		var items []json.RawMessage
		if err := json.Unmarshal(list, &items); err != nil {
			return nil, fmt.Errorf("export: tokenizer.json: %w", err)
		}
		for _, it := range items {
			sub, err := flatten(it, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	return out, nil
}

var bytePiece = regexp.MustCompile(`^<0x[0-9A-Fa-f]{2}>$`)

// VocabFromTokenizerJSON converts a Hugging Face tokenizer.json (and
// tokenizer_config.json, may be nil) into GGUF's vocabulary for a model
// whose embedding has vocabSize rows: ids the tokenizer does not use become
// UNUSED "[PADn]" tokens, as gguf-py pads them. Only BPE tokenizers whose
// pre-tokenizer llama.cpp implements are accepted; anything else is an
// error naming what was found, because llama.cpp would otherwise tokenize
// differently without saying so.
func VocabFromTokenizerJSON(tokJSON, cfgJSON []byte, vocabSize int) (*Vocab, error) {
	tok, err := tokenizer.FromJSON(tokJSON, cfgJSON)
	if err != nil {
		return nil, err
	}
	var tj tokenizerJSON
	if err := json.Unmarshal(tokJSON, &tj); err != nil {
		return nil, fmt.Errorf("export: tokenizer.json: %w", err)
	}
	norms, err := flatten(tj.Normalizer, 0)
	if err != nil {
		return nil, err
	}
	pres, err := flatten(tj.PreTokenizer, 0)
	if err != nil {
		return nil, err
	}
	decs, err := flatten(tj.Decoder, 0)
	if err != nil {
		return nil, err
	}
	v := &Vocab{BOS: -1, EOS: -1, UNK: -1}
	byteLevel := false
	for _, c := range append(pres, decs...) {
		byteLevel = byteLevel || c.Type == "ByteLevel"
	}
	if byteLevel {
		v.Model = "gpt2"
		if v.Pre, err = bytePre(pres); err != nil {
			return nil, err
		}
	} else {
		v.Model, v.Pre = "llama", "default"
		for _, c := range norms {
			switch c.Type {
			case "Prepend":
				v.AddSpacePrefix = v.AddSpacePrefix || c.Prepend == "▁"
			case "Replace":
			default:
				return nil, fmt.Errorf("export: tokenizer.json: normalizer %s has no GGUF equivalent for a SentencePiece-style tokenizer", c.Type)
			}
		}
		for _, c := range pres {
			if c.Type != "Metaspace" {
				return nil, fmt.Errorf("export: tokenizer.json: pre-tokenizer %s has no GGUF equivalent for a SentencePiece-style tokenizer", c.Type)
			}
			switch {
			case c.PrependScheme != "":
				v.AddSpacePrefix = c.PrependScheme != "never"
			case c.AddPrefix != nil:
				v.AddSpacePrefix = *c.AddPrefix
			default:
				v.AddSpacePrefix = true
			}
		}
	}

	n := tok.VocabSize()
	if n > vocabSize {
		return nil, fmt.Errorf("export: the tokenizer has %d tokens but the model's vocab_size is %d", n, vocabSize)
	}
	v.Tokens = make([]string, vocabSize)
	v.Types = make([]int32, vocabSize)
	set := make([]bool, vocabSize)
	vocab := tok.Vocab()
	for s, id := range vocab {
		if id < 0 || id >= vocabSize {
			return nil, fmt.Errorf("export: tokenizer.json: token %q has id %d outside [0, %d)", s, id, vocabSize)
		}
		v.Tokens[id], v.Types[id], set[id] = s, TokenNormal, true
		if !byteLevel && bytePiece.MatchString(s) {
			v.Types[id] = TokenByte
		}
	}
	for _, a := range tok.AddedTokens() {
		if a.ID < 0 || a.ID >= vocabSize {
			return nil, fmt.Errorf("export: tokenizer.json: added token %q has id %d outside [0, %d)", a.Content, a.ID, vocabSize)
		}
		v.Tokens[a.ID], set[a.ID] = a.Content, true
		if a.Special {
			v.Types[a.ID] = TokenControl
		} else {
			v.Types[a.ID] = TokenUserDefined
		}
	}
	if unk := tok.UnkToken(); unk != "" {
		if id, ok := tok.ID(unk); ok && id < vocabSize {
			v.UNK, v.Types[id] = id, TokenUnknown
		}
	}
	for i := range v.Tokens {
		if !set[i] {
			v.Tokens[i], v.Types[i] = fmt.Sprintf("[PAD%d]", i), TokenUnused
		}
	}

	merges := tok.Merges()
	if byteLevel {
		v.Merges = make([]string, len(merges))
		for i, m := range merges {
			v.Merges[i] = spaceToG(m[0]) + " " + spaceToG(m[1])
		}
	} else {
		v.Scores = make([]float32, vocabSize)
		built := make([]bool, vocabSize)
		for r, m := range merges {
			id, ok := vocab[m[0]+m[1]]
			if !ok || built[id] {
				continue
			}
			built[id] = true
			v.Scores[id] = -float32(r)
		}
		for i := range v.Scores {
			if !built[i] && v.Types[i] == TokenNormal {
				v.Scores[i] = -float32(len(merges) + 1)
			}
		}
	}
	s := tok.Summary()
	v.BOS, v.EOS, v.AddBOS, v.AddEOS = s.BOSID, s.EOSID, s.AddBOS, s.AddEOS
	return v, nil
}

// bytePre names a byte-level tokenizer's pre-tokenizer regex the way
// llama.cpp knows it.
func bytePre(pres []component) (string, error) {
	var split []string
	useRegex := false
	for _, c := range pres {
		switch c.Type {
		case "Split":
			var p struct{ Regex, String *string }
			if err := json.Unmarshal(c.Pattern, &p); err != nil || p.Regex == nil {
				return "", fmt.Errorf("export: tokenizer.json: Split pre-tokenizer without a regex pattern has no llama.cpp equivalent")
			}
			if c.Invert || (c.Behavior != "Isolated" && c.Behavior != "") {
				return "", fmt.Errorf("export: tokenizer.json: Split pre-tokenizer with behavior %q invert %v has no llama.cpp equivalent", c.Behavior, c.Invert)
			}
			split = append(split, *p.Regex)
		case "ByteLevel":
			useRegex = c.UseRegex == nil || *c.UseRegex
		case "Digits", "Punctuation", "Whitespace", "WhitespaceSplit", "Metaspace":
			return "", fmt.Errorf("export: tokenizer.json: pre-tokenizer %s has no llama.cpp equivalent that ttq can name", c.Type)
		}
	}
	if useRegex {
		split = append(split, pretok.GPT2Pattern)
	}
	if len(split) != 1 {
		return "", fmt.Errorf("export: tokenizer.json: byte-level tokenizer with %d split patterns; ttq maps exactly one regex to tokenizer.ggml.pre", len(split))
	}
	pre, ok := preByPattern[split[0]]
	if !ok {
		return "", fmt.Errorf("export: tokenizer.json: unknown pre-tokenizer regex %q: llama.cpp would tokenize it differently (ttq knows the Llama 3 (llama-bpe), Qwen2 (qwen2) and GPT-2 (gpt-2) patterns)", split[0])
	}
	return pre, nil
}

func spaceToG(s string) string { return strings.ReplaceAll(s, " ", "\u0120") }
