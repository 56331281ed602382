package export

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/tokenizer"
)

func fmtSscanf(name string, l *int, rest *string) (int, error) {
	s, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return 0, errors.New("not a block tensor")
	}
	num, r, ok := strings.Cut(s, ".")
	if !ok {
		return 0, errors.New("no tensor name")
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return 0, err
	}
	*l, *rest = n, r
	return 2, nil
}

// byteUnicode is GPT-2's byte → rune table (FORMATS §4.2).
func byteUnicode() [256]rune {
	var t [256]rune
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255) {
			t[b] = rune(b)
		} else {
			t[b] = rune(256 + n)
			n++
		}
	}
	return t
}

// byteLevelTokenizer is a 253-token byte-level tokenizer.json: bytes
// 0…247, the merges "Ġ t" and "h e", two special and one plain added
// token; pattern is the Split regex ("" for none, gpt2Regex for
// ByteLevel's own).
func byteLevelTokenizer(pattern string, gpt2Regex bool) []byte {
	bu := byteUnicode()
	vocab := map[string]int{}
	for b := 0; b < 248; b++ {
		vocab[string(bu[b])] = b
	}
	vocab["Ġt"], vocab["he"] = 248, 249
	var pre any = map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": gpt2Regex, "trim_offsets": true}
	if pattern != "" {
		pre = map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": pattern}, "behavior": "Isolated", "invert": false},
			pre,
		}}
	}
	doc := map[string]any{
		"version": "1.0",
		"added_tokens": []any{
			map[string]any{"id": 250, "content": "<|bos|>", "special": true},
			map[string]any{"id": 251, "content": "<|eos|>", "special": true},
			map[string]any{"id": 252, "content": "<|user|>", "special": false},
		},
		"normalizer":     nil,
		"pre_tokenizer":  pre,
		"post_processor": nil,
		"decoder":        map[string]any{"type": "ByteLevel"},
		"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": [][]string{{"Ġ", "t"}, {"h", "e"}},
			"byte_fallback": false, "ignore_merges": false},
	}
	b, _ := json.Marshal(doc)
	return b
}

func TestVocabByteLevel(t *testing.T) {
	qwen2 := strings.Replace(tokenizer.Llama3Pattern, `\p{N}{1,3}`, `\p{N}`, 1)
	for _, tc := range []struct {
		pattern string
		gpt2    bool
		want    string
	}{
		{tokenizer.Llama3Pattern, false, "llama-bpe"},
		{qwen2, false, "qwen2"},
		{"", true, "gpt-2"},
	} {
		v, err := VocabFromTokenizerJSON(byteLevelTokenizer(tc.pattern, tc.gpt2), []byte(`{"bos_token":"<|bos|>","eos_token":"<|eos|>"}`), 256)
		if err != nil {
			t.Fatalf("%s: %v", tc.want, err)
		}
		if v.Model != "gpt2" || v.Pre != tc.want {
			t.Errorf("model %q pre %q, want gpt2 %q", v.Model, v.Pre, tc.want)
		}
		if !slices.Equal(v.Merges, []string{"Ġ t", "h e"}) || v.Scores != nil {
			t.Errorf("merges %q scores %v", v.Merges, v.Scores)
		}
		if v.Tokens[32] != "Ġ" || v.Types[32] != TokenNormal || v.Types[250] != TokenControl || v.Types[252] != TokenUserDefined ||
			v.Tokens[253] != "[PAD253]" || v.Types[255] != TokenUnused || v.UNK != -1 {
			t.Errorf("tokens/types: %q %d %d %d %q %d unk %d", v.Tokens[32], v.Types[32], v.Types[250], v.Types[252], v.Tokens[253], v.Types[255], v.UNK)
		}
		if v.BOS != 250 || v.EOS != 251 {
			t.Errorf("bos %d eos %d", v.BOS, v.EOS)
		}
	}
	for _, bad := range []struct {
		tok  []byte
		want string
	}{
		{byteLevelTokenizer(`\s+|\w+`, false), "unknown pre-tokenizer regex"},
		{byteLevelTokenizer("", false), "0 split patterns"},
		{byteLevelTokenizer(tokenizer.Llama3Pattern, true), "2 split patterns"},
	} {
		if _, err := VocabFromTokenizerJSON(bad.tok, nil, 256); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("error %v, want %q", err, bad.want)
		}
	}
	if _, err := VocabFromTokenizerJSON(byteLevelTokenizer(tokenizer.Llama3Pattern, false), nil, 200); err == nil || !strings.Contains(err.Error(), "vocab_size is 200") {
		t.Errorf("small vocab: %v", err)
	}
}

func TestVocabDemoSentencePiece(t *testing.T) {
	tj, _ := demo.ReadFile("tokenizer.json")
	tc, _ := demo.ReadFile("tokenizer_config.json")
	v, err := VocabFromTokenizerJSON(tj, tc, 512)
	if err != nil {
		t.Fatal(err)
	}
	if v.Model != "llama" || v.Pre != "default" || !v.AddSpacePrefix || v.Merges != nil {
		t.Errorf("model %q pre %q space prefix %v merges %d", v.Model, v.Pre, v.AddSpacePrefix, len(v.Merges))
	}
	if v.Types[0] != TokenUnknown || v.Types[1] != TokenControl || v.Types[2] != TokenControl || v.Tokens[3] != "<0x00>" || v.Types[3] != TokenByte || v.Types[258] != TokenByte || v.Types[259] != TokenNormal {
		t.Errorf("types %v", v.Types[:4])
	}
	if v.BOS != 1 || v.EOS != 2 || v.UNK != 0 || !v.AddBOS || v.AddEOS {
		t.Errorf("bos %d eos %d unk %d add %v %v", v.BOS, v.EOS, v.UNK, v.AddBOS, v.AddEOS)
	}
	// llama.cpp's SentencePiece tokenizer (llm_tokenizer_spm) with these
	// tokens and scores must give ttq's (= huggingface/tokenizers') ids.
	tok, err := tokenizer.FromJSON(tj, tc)
	if err != nil {
		t.Fatal(err)
	}
	var samples []string
	readJSON(t, "../../../testdata/tokenizer/samples.json", &samples)
	samples = append(samples, "Once upon a time, there was a little girl named Lily.", "The cat sat on the mat and looked at the sun.")
	for _, s := range samples {
		if strings.Contains(s, "<s>") || strings.Contains(s, "</s>") || strings.Contains(s, "<unk>") {
			continue // llama.cpp splits control tokens out first, as ttq does; spmEncode does not
		}
		want, err := tok.Encode(s, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := spmEncode(v, s); !slices.Equal(got, want) {
			t.Errorf("%q:\nllama.cpp-style SPM %v\nttq                %v", s, got, want)
		}
	}
}

// spmEncode follows llama.cpp's llm_tokenizer_spm: spaces become "▁", a
// "▁" is prepended, the text is split into UTF-8 characters, and the
// adjacent pair whose concatenation is the highest-scoring token (leftmost
// on ties) is merged until none is left; unknown symbols fall back to
// <0xHH> byte tokens.
func spmEncode(v *Vocab, text string) []int {
	if text == "" {
		return nil
	}
	ids := map[string]int{}
	for i, s := range v.Tokens {
		if v.Types[i] == TokenNormal || v.Types[i] == TokenByte || v.Types[i] == TokenUserDefined {
			if _, dup := ids[s]; !dup {
				ids[s] = i
			}
		}
	}
	text = strings.ReplaceAll(text, " ", "▁")
	if v.AddSpacePrefix {
		text = "▁" + text
	}
	var sym []string
	for len(text) > 0 {
		_, n := utf8.DecodeRuneInString(text)
		sym = append(sym, text[:n])
		text = text[n:]
	}
	for {
		best, bestScore := -1, float32(0)
		for i := 0; i+1 < len(sym); i++ {
			id, ok := ids[sym[i]+sym[i+1]]
			if ok && (best < 0 || v.Scores[id] > bestScore) {
				best, bestScore = i, v.Scores[id]
			}
		}
		if best < 0 {
			break
		}
		sym = append(sym[:best], append([]string{sym[best] + sym[best+1]}, sym[best+2:]...)...)
	}
	var out []int
	for _, s := range sym {
		if id, ok := ids[s]; ok {
			out = append(out, id)
			continue
		}
		for _, b := range []byte(s) {
			out = append(out, ids["<0x"+strings.ToUpper(strconv.FormatUint(uint64(b)>>4, 16)+strconv.FormatUint(uint64(b)&15, 16))+">"])
		}
	}
	return out
}
