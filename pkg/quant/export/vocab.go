package export

import (
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

var bytePiece = regexp.MustCompile(`^<0x[0-9A-Fa-f]{2}>$`)

// VocabFromTokenizerJSON is VocabFromTokenizer for the bytes of a
// tokenizer.json (and tokenizer_config.json, may be nil).
func VocabFromTokenizerJSON(tokJSON, cfgJSON []byte, vocabSize int) (*Vocab, error) {
	tok, err := tokenizer.FromJSON(tokJSON, cfgJSON)
	if err != nil {
		return nil, err
	}
	return VocabFromTokenizer(tok, vocabSize)
}

// VocabFromTokenizer converts a loaded Hugging Face tokenizer into GGUF's
// vocabulary for a model whose embedding has vocabSize rows: ids the
// tokenizer does not use become UNUSED "[PADn]" tokens, as gguf-py pads
// them. Only BPE tokenizers whose pre-tokenizer llama.cpp implements are
// accepted (the tokenizer's Pipeline says which it has); anything else is
// an error naming what was found, because llama.cpp would otherwise
// tokenize differently without saying so.
func VocabFromTokenizer(tok *tokenizer.Tokenizer, vocabSize int) (*Vocab, error) {
	pipe, err := tok.Pipeline()
	if err != nil {
		return nil, fmt.Errorf("export: tokenizer.json: %w", err)
	}
	norms, pres, decs := pipe.Normalizers, pipe.PreTokenizers, pipe.Decoders
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
			case c.AddPrefixSpace != nil:
				v.AddSpacePrefix = *c.AddPrefixSpace
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
func bytePre(pres []tokenizer.Step) (string, error) {
	var split []string
	useRegex := false
	for _, c := range pres {
		switch c.Type {
		case "Split":
			p := c.Pattern
			if p.Regex == nil {
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
