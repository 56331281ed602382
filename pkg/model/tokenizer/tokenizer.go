// Package tokenizer implements Hugging Face tokenizer.json BPE tokenizers
// (byte-level as in GPT-2/GPT-NeoX/Llama-3/Qwen, and SentencePiece-style as in
// Llama-2/Mistral) in pure Go, with the exact merge order, added-token and
// pre-tokenizer semantics of huggingface/tokenizers, plus converters from
// SentencePiece .model, llama2.c tokenizer.bin, tiktoken ranks and GPT-2
// vocab.json/merges.txt into tokenizer.json.
//
// A Tokenizer is safe for concurrent use.
package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// Tokenizer encodes text to token ids and back.
type Tokenizer struct {
	model *bpeModel

	idToToken []string // "" with hasID false marks a hole
	hasID     []bool
	added     []*addedToken
	addedByID map[int]*addedToken
	addedByTk map[string]int
	rawAdded  *addedMatcher // added tokens matched on the raw input
	normAdded *addedMatcher // normalized: true tokens, matched after normalization

	norm normalizer
	pre  preTokenizer
	dec  decoder

	// pipelineJSON keeps the normalizer, pre-tokenizer and decoder as
	// tokenizer.json declared them, for Pipeline.
	pipelineJSON [3]json.RawMessage

	prefix, suffix []int // post-processor output around the sequence
	addBOS         bool
	bosID, eosID   int
	bosTok, eosTok string
	procName       string
}

// AddedToken is one entry of tokenizer.json's added_tokens.
type AddedToken struct {
	ID      int
	Content string
	Special bool
}

// Vocab returns a copy of the BPE model's vocabulary (token → id), without
// the added tokens.
func (t *Tokenizer) Vocab() map[string]int { return maps.Clone(t.model.vocab) }

// Merges returns the BPE merges in rank order, as listed in tokenizer.json.
func (t *Tokenizer) Merges() [][2]string { return slices.Clone(t.model.mergeList) }

// AddedTokens returns the added tokens in tokenizer.json's order.
func (t *Tokenizer) AddedTokens() []AddedToken {
	out := make([]AddedToken, len(t.added))
	for i, a := range t.added {
		out[i] = AddedToken{ID: a.ID, Content: a.Content, Special: a.Special}
	}
	return out
}

// UnkToken returns the model's unk_token, "" when it has none.
func (t *Tokenizer) UnkToken() string { return t.model.unkToken }

// Summary describes a loaded tokenizer.
type Summary struct {
	Model        string `json:"model"`      // "BPE"
	Kind         string `json:"kind"`       // "byte-level" or "sentencepiece"
	VocabSize    int    `json:"vocab_size"` // including added tokens
	Merges       int    `json:"merges"`
	AddedTokens  int    `json:"added_tokens"`
	Normalizer   string `json:"normalizer"`
	PreTokenizer string `json:"pre_tokenizer"`
	Decoder      string `json:"decoder"`
	PostProcess  string `json:"post_processor"`
	BOSToken     string `json:"bos_token"`
	BOSID        int    `json:"bos_id"`
	EOSToken     string `json:"eos_token"`
	EOSID        int    `json:"eos_id"`
	AddBOS       bool   `json:"add_bos"` // Encode(…, true) starts with BOS
	AddEOS       bool   `json:"add_eos"` // Encode(…, true) ends with EOS
}

// Load reads a tokenizer.json file, or the tokenizer.json inside a
// directory; a tokenizer_config.json beside it is read when present.
func Load(path string) (*Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	file := path
	if st.IsDir() {
		file = filepath.Join(path, "tokenizer.json")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	cfg, err := os.ReadFile(filepath.Join(filepath.Dir(file), "tokenizer_config.json"))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		cfg = nil
	}
	t, err := FromJSON(data, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return t, nil
}

type fileJSON struct {
	AddedTokens   []*addedToken   `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

type modelJSON struct {
	Type                    *string         `json:"type"`
	Dropout                 *float64        `json:"dropout"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	Vocab                   map[string]int  `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
}

type configJSON struct {
	AddBOSToken *bool           `json:"add_bos_token"`
	AddEOSToken *bool           `json:"add_eos_token"`
	BOSToken    json.RawMessage `json:"bos_token"`
	EOSToken    json.RawMessage `json:"eos_token"`
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// tokenString reads a special-token field written either as a string or as
// an AddedToken object {"content": …}.
func tokenString(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var o struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return "", fmt.Errorf("special token is neither a string nor {\"content\": …}")
	}
	return o.Content, nil
}

// FromJSON builds a Tokenizer from the bytes of tokenizer.json and, if not
// nil, tokenizer_config.json.
func FromJSON(tokenizerJSON, tokenizerConfigJSON []byte) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(tokenizerJSON, &f); err != nil {
		return nil, fmt.Errorf("tokenizer: tokenizer.json: %w", err)
	}
	if isNull(f.Model) {
		return nil, errors.New("tokenizer: tokenizer.json has no model")
	}
	var mt struct {
		Type *string `json:"type"`
	}
	if err := json.Unmarshal(f.Model, &mt); err != nil {
		return nil, fmt.Errorf("tokenizer: model: %w", err)
	}
	if mt.Type != nil && *mt.Type != "BPE" {
		return nil, fmt.Errorf("tokenizer: unsupported model type %q (only BPE)", *mt.Type)
	}
	var mj modelJSON
	if err := json.Unmarshal(f.Model, &mj); err != nil {
		return nil, fmt.Errorf("tokenizer: model: %w", err)
	}
	if mj.Type == nil && mj.Merges == nil {
		return nil, errors.New("tokenizer: model has neither a type nor merges")
	}
	if mj.Dropout != nil && *mj.Dropout != 0 {
		return nil, fmt.Errorf("tokenizer: BPE dropout %g is not supported", *mj.Dropout)
	}
	if p := mj.ContinuingSubwordPrefix; p != nil && *p != "" {
		return nil, fmt.Errorf("tokenizer: BPE continuing_subword_prefix %q is not supported", *p)
	}
	if p := mj.EndOfWordSuffix; p != nil && *p != "" {
		return nil, fmt.Errorf("tokenizer: BPE end_of_word_suffix %q is not supported", *p)
	}
	if mj.Vocab == nil {
		return nil, errors.New("tokenizer: BPE model has no vocab")
	}
	merges, err := parseMerges(mj.Merges)
	if err != nil {
		return nil, err
	}
	unk := ""
	if mj.UnkToken != nil {
		unk = *mj.UnkToken
	}
	model, err := newBPEModel(mj.Vocab, merges, unk, mj.ByteFallback, mj.FuseUnk, mj.IgnoreMerges)
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{model: model, addedByID: map[int]*addedToken{}, addedByTk: map[string]int{}, bosID: -1, eosID: -1,
		pipelineJSON: [3]json.RawMessage{f.Normalizer, f.PreTokenizer, f.Decoder}}
	if t.norm, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, err
	}
	if t.pre, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	if t.dec, err = parseDecoder(f.Decoder); err != nil {
		return nil, err
	}
	if err := t.buildIDs(f.AddedTokens); err != nil {
		return nil, err
	}
	if err := t.parsePostProcessor(f.PostProcessor); err != nil {
		return nil, err
	}
	if err := t.applyConfig(tokenizerConfigJSON); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Tokenizer) buildIDs(added []*addedToken) error {
	n := 0
	for tok, id := range t.model.vocab {
		if id < 0 {
			return fmt.Errorf("tokenizer: token %q has negative id %d", tok, id)
		}
		n = max(n, id+1)
	}
	for _, a := range added {
		if a == nil || a.ID < 0 {
			return errors.New("tokenizer: added token with a missing or negative id")
		}
		if a.Content == "" {
			return fmt.Errorf("tokenizer: added token %d has empty content", a.ID)
		}
		n = max(n, a.ID+1)
	}
	if n > 1<<22 {
		return fmt.Errorf("tokenizer: vocabulary size %d is implausible", n)
	}
	t.idToToken = make([]string, n)
	t.hasID = make([]bool, n)
	// Two tokens with one id cannot round-trip: encoding either gives the
	// id, decoding it gives one of them. @huggingface/tokenizers (the JS
	// port, 0.2.0, as the Rust crate) loads such a file silently, the last
	// token in file order taking the id for decoding, so a text containing
	// the other one decodes to different text and evaluates as if it were
	// that text. ttq refuses it instead, naming both tokens.
	dup := false
	for tok, id := range t.model.vocab {
		dup = dup || t.hasID[id]
		t.idToToken[id] = tok
		t.hasID[id] = true
	}
	if dup {
		return duplicateID(t.model.vocab)
	}
	var raw, normd []matchEntry
	for _, a := range added {
		// An added token normally repeats its vocabulary entry (GPT-NeoX's
		// <|endoftext|>, Llama's <s>); a different token at its id, or
		// two added tokens sharing one, is the same defect as above.
		if t.hasID[a.ID] && t.idToToken[a.ID] != a.Content {
			return fmt.Errorf("tokenizer: added token %q has id %d, which is already token %q; ids must be unique for decoding to invert encoding", a.Content, a.ID, t.idToToken[a.ID])
		}
		t.idToToken[a.ID] = a.Content
		t.hasID[a.ID] = true
		t.added = append(t.added, a)
		t.addedByID[a.ID] = a
		t.addedByTk[a.Content] = a.ID
		if a.isNormalized() {
			pat := a.Content
			if t.norm != nil {
				pat = t.norm.normalize(pat)
			}
			normd = append(normd, matchEntry{pat, a})
		} else {
			raw = append(raw, matchEntry{a.Content, a})
		}
	}
	t.rawAdded = newAddedMatcher(raw)
	t.normAdded = newAddedMatcher(normd)
	return nil
}

// duplicateID reports the smallest id held by two tokens of vocab, with
// the two lexically smallest of them, so that the message is the same on
// every run.
func duplicateID(vocab map[string]int) error {
	byID := map[int][]string{}
	for tok, id := range vocab {
		byID[id] = append(byID[id], tok)
	}
	best := -1
	for id, toks := range byID {
		if len(toks) > 1 && (best < 0 || id < best) {
			best = id
		}
	}
	toks := byID[best]
	slices.Sort(toks)
	return fmt.Errorf("tokenizer: tokens %q and %q both have id %d; ids must be unique for decoding to invert encoding", toks[0], toks[1], best)
}

// CheckEmbedding checks that every id the tokenizer can produce has a row
// in an embedding of rows rows, naming the first token that does not. Ids
// without a token below rows (gaps, or the padding rows Qwen's embedding
// has past its tokenizer) are accepted: encoding never produces them, and
// Decode reports one as an error instead of inventing text.
func (t *Tokenizer) CheckEmbedding(rows int) error {
	for id := rows; id < len(t.idToToken); id++ {
		if t.hasID[id] {
			return fmt.Errorf("tokenizer: token %q has id %d, beyond the model's %d embedding rows (vocab_size)", t.idToToken[id], id, rows)
		}
	}
	return nil
}

// ID returns the id of a token (model vocabulary or added token).
func (t *Tokenizer) ID(token string) (int, bool) {
	if id, ok := t.addedByTk[token]; ok {
		return id, true
	}
	id, ok := t.model.vocab[token]
	return id, ok
}

// Token returns the token string of id ("" when out of range).
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.idToToken) {
		return ""
	}
	return t.idToToken[id]
}

// VocabSize is one more than the largest id, added tokens included.
func (t *Tokenizer) VocabSize() int { return len(t.idToToken) }

// BOS returns the beginning-of-sequence id, or -1.
func (t *Tokenizer) BOS() int { return t.bosID }

// EOS returns the end-of-sequence id, or -1.
func (t *Tokenizer) EOS() int { return t.eosID }

// Encode tokenizes text. With addSpecial the post-processor's template (the
// resolved BOS/EOS policy) is applied. Added tokens in the text are always
// recognised, as in huggingface/tokenizers.
func (t *Tokenizer) Encode(text string, addSpecial bool) ([]int, error) {
	if !utf8.ValidString(text) {
		return nil, errors.New("tokenizer: input is not valid UTF-8")
	}
	var ids []int
	if addSpecial {
		ids = append(ids, t.prefix...)
	}
	for _, seg := range t.rawAdded.split(text, true) {
		if seg.tok != nil {
			ids = append(ids, seg.tok.ID)
			continue
		}
		s := seg.text
		if t.norm != nil {
			s = t.norm.normalize(s)
		}
		for _, sub := range t.normAdded.split(s, seg.atStart) {
			if sub.tok != nil {
				ids = append(ids, sub.tok.ID)
				continue
			}
			ps := []piece{{text: sub.text, atStart: sub.atStart}}
			if t.pre != nil {
				ps = t.pre.preTokenize(ps)
			}
			for _, p := range ps {
				ids = t.model.tokenize(p.text, ids)
			}
		}
	}
	if addSpecial {
		ids = append(ids, t.suffix...)
	}
	return ids, nil
}

// Decode turns ids into text like huggingface/tokenizers' decode with
// skip_special_tokens=true: special added tokens (BOS, EOS, …) produce no
// text, all other tokens go through the decoder.
func (t *Tokenizer) Decode(ids []int) (string, error) {
	toks, err := t.tokens(ids)
	if err != nil {
		return "", err
	}
	return lossyUTF8(t.decodeRaw(toks, false)), nil
}

func (t *Tokenizer) tokens(ids []int) ([]string, error) {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		if id < 0 || id >= len(t.idToToken) || !t.hasID[id] {
			return nil, fmt.Errorf("tokenizer: id %d out of range [0, %d)", id, len(t.idToToken))
		}
		if a := t.addedByID[id]; a != nil && a.Special {
			continue
		}
		toks = append(toks, t.idToToken[id])
	}
	return toks, nil
}

// decodeRaw runs the decoder and returns bytes that may end in (or contain)
// invalid UTF-8; callers apply lossyUTF8.
func (t *Tokenizer) decodeRaw(toks []string, cont bool) []byte {
	if len(toks) == 0 {
		return nil
	}
	var parts []string
	if t.dec == nil {
		// No decoder: tokenizers joins tokens with spaces.
		return []byte(strings.Join(toks, " "))
	}
	parts = t.dec.decodeChain(append([]string(nil), toks...), cont)
	var b bytes.Buffer
	for _, p := range parts {
		b.WriteString(p)
	}
	return b.Bytes()
}

// Summary reports the tokenizer's structure and resolved special tokens.
func (t *Tokenizer) Summary() Summary {
	s := Summary{
		Model:        "BPE",
		Kind:         "sentencepiece",
		VocabSize:    t.VocabSize(),
		Merges:       t.model.nMerges,
		AddedTokens:  len(t.added),
		Normalizer:   "none",
		PreTokenizer: "none",
		Decoder:      "none",
		PostProcess:  t.procName,
		BOSToken:     t.bosTok,
		BOSID:        t.bosID,
		EOSToken:     t.eosTok,
		EOSID:        t.eosID,
		AddBOS:       t.bosID >= 0 && len(t.prefix) > 0 && t.prefix[0] == t.bosID,
		AddEOS:       t.eosID >= 0 && len(t.suffix) > 0 && t.suffix[len(t.suffix)-1] == t.eosID,
	}
	if t.norm != nil {
		s.Normalizer = t.norm.name()
	}
	if t.pre != nil {
		s.PreTokenizer = t.pre.name()
	}
	if t.dec != nil {
		s.Decoder = t.dec.name()
	}
	if strings.Contains(s.PreTokenizer, "ByteLevel") || strings.Contains(s.Decoder, "ByteLevel") {
		s.Kind = "byte-level"
	}
	if s.PostProcess == "" {
		s.PostProcess = "none"
	}
	return s
}
