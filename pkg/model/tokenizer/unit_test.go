package tokenizer

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// charVocab builds a tokenizer.json whose vocabulary holds the given tokens
// (ids in order) with the given merges and extra top-level fields.
func charJSON(tokens []string, merges string, extra string, modelExtra string) string {
	var v []string
	for i, tk := range tokens {
		v = append(v, fmt.Sprintf("%q:%d", tk, i))
	}
	if merges == "" {
		merges = "[]"
	}
	if extra != "" {
		extra = "," + extra
	}
	if modelExtra != "" {
		modelExtra = "," + modelExtra
	}
	return `{"model":{"type":"BPE","vocab":{` + strings.Join(v, ",") + `},"merges":` + merges + modelExtra + `}` + extra + `}`
}

func mk(t *testing.T, js string) *Tokenizer {
	t.Helper()
	tk, err := FromJSON([]byte(js), nil)
	if err != nil {
		t.Fatalf("FromJSON: %v\n%s", err, js)
	}
	return tk
}

func enc(t *testing.T, tk *Tokenizer, s string) []int {
	t.Helper()
	ids, err := tk.Encode(s, false)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func toks(tk *Tokenizer, ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = tk.Token(id)
	}
	return out
}

func wantToks(t *testing.T, tk *Tokenizer, s string, want ...string) {
	t.Helper()
	got := toks(tk, enc(t, tk, s))
	if len(want) == 0 {
		want = []string{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Encode(%q) = %q, want %q", s, got, want)
	}
}

func TestBPELeftmostOnEqualRank(t *testing.T) {
	tk := mk(t, charJSON([]string{"a", "aa"}, `["a a"]`, "", ""))
	wantToks(t, tk, "aaa", "aa", "a")
	wantToks(t, tk, "aaaaa", "aa", "aa", "a")
}

func TestBPERankOrder(t *testing.T) {
	v := []string{"a", "b", "c", "ab", "bc", "abc"}
	wantToks(t, mk(t, charJSON(v, `["b c", "a b", "a bc"]`, "", "")), "abc", "abc")
	wantToks(t, mk(t, charJSON(v, `["b c", "a b"]`, "", "")), "abc", "a", "bc")
	wantToks(t, mk(t, charJSON(v, `["a b", "b c"]`, "", "")), "abc", "ab", "c")
	// Pair spelling of tokenizers ≥ 0.20 gives the same result.
	wantToks(t, mk(t, charJSON(v, `[["b","c"], ["a","b"]]`, "", "")), "abc", "a", "bc")
}

func TestMergeWithSpaceInsideToken(t *testing.T) {
	tk := mk(t, charJSON([]string{"a", " ", "a ", "a a"}, `[["a"," "],["a ","a"]]`, "", ""))
	wantToks(t, tk, "a a", "a a")
}

func TestIgnoreMerges(t *testing.T) {
	v := []string{"a", "b", "c", "abc"}
	wantToks(t, mk(t, charJSON(v, "", "", `"ignore_merges":true`)), "abc", "abc")
	wantToks(t, mk(t, charJSON(v, "", "", `"ignore_merges":false`)), "abc", "a", "b", "c")
}

func TestByteFallbackAndUnk(t *testing.T) {
	v := []string{"<unk>", "a", "<0xC3>", "<0xA9>"}
	bf := mk(t, charJSON(v, "", "", `"unk_token":"<unk>","byte_fallback":true`))
	wantToks(t, bf, "aé", "a", "<0xC3>", "<0xA9>")
	// "ü" is C3 BC: <0xBC> is missing, so the whole character is unknown.
	wantToks(t, bf, "üa", "<unk>", "a")

	fuse := mk(t, charJSON(v, "", "", `"unk_token":"<unk>","fuse_unk":true`))
	wantToks(t, fuse, "xyaz", "<unk>", "a", "<unk>")
	nofuse := mk(t, charJSON(v, "", "", `"unk_token":"<unk>","fuse_unk":false`))
	wantToks(t, nofuse, "xyaz", "<unk>", "<unk>", "a", "<unk>")
	nounk := mk(t, charJSON(v, "", "", ""))
	wantToks(t, nounk, "xyaz", "a")

	if _, err := FromJSON([]byte(charJSON(v, "", "", `"unk_token":"<nope>"`)), nil); err == nil {
		t.Error("unk_token outside the vocabulary accepted")
	}
}

const lowerNorm = `"normalizer":{"type":"Lowercase"}`

func addedJSON(list string) string { return `"added_tokens":[` + list + `]` }

func added(id int, content string, flags string) string {
	s := fmt.Sprintf(`{"id":%d,"content":%q,"special":false,"normalized":false`, id, content)
	if flags != "" {
		s += "," + flags
	}
	return s + "}"
}

func TestAddedTokens(t *testing.T) {
	v := []string{"a", "b", "c", "x", " ", "<s>", "<s>x", "ab", "H", "I"}
	// Longest match first.
	tk := mk(t, charJSON(v, "", addedJSON(added(5, "<s>", "")+","+added(6, "<s>x", "")), ""))
	wantToks(t, tk, "a<s>x<s>b", "a", "<s>x", "<s>", "b")

	// lstrip / rstrip swallow the neighbouring whitespace.
	tk = mk(t, charJSON(v, "", addedJSON(added(5, "<s>", `"lstrip":true`)), ""))
	wantToks(t, tk, "a  <s> b", "a", "<s>", " ", "b")
	tk = mk(t, charJSON(v, "", addedJSON(added(5, "<s>", `"rstrip":true`)), ""))
	wantToks(t, tk, "a  <s> b", "a", " ", " ", "<s>", "b")

	// single_word: only matched when not inside a word.
	tk = mk(t, charJSON(v, "", addedJSON(added(7, "ab", `"single_word":true`)), ""))
	wantToks(t, tk, "ab cab abc ab", "ab", " ", "c", "a", "b", " ", "a", "b", "c", " ", "ab")

	// normalized tokens match the normalized text; others the raw text.
	tk = mk(t, charJSON(v, "", lowerNorm+","+addedJSON(added(7, "ab", `"normalized":true`)), ""))
	wantToks(t, tk, "AB", "ab")
}

func TestAddedTokenRawNotNormalized(t *testing.T) {
	v := []string{"h", "i", "HI"}
	tk := mk(t, charJSON(v, "", lowerNorm+","+addedJSON(added(2, "HI", "")), ""))
	got := toks(tk, enc(t, tk, "hiHI"))
	if want := []string{"h", "i", "HI"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q want %q", got, want)
	}
}

func TestNormalizers(t *testing.T) {
	cases := []struct {
		json, in, want string
	}{
		{`{"type":"NFC"}`, "e\u0301", "é"},
		{`{"type":"NFKC"}`, "ﬁ", "fi"},
		{`{"type":"NFD"}`, "é", "e\u0301"},
		{`{"type":"Lowercase"}`, "HeLLo", "hello"},
		{`{"type":"Prepend","prepend":"▁"}`, "a", "▁a"},
		{`{"type":"Prepend","prepend":"▁"}`, "", ""},
		{`{"type":"Replace","pattern":{"String":" "},"content":"▁"}`, "a b  c", "a▁b▁▁c"},
		{`{"type":"Replace","pattern":{"Regex":" {2,}"},"content":" "}`, "a b   c", "a b c"},
		{`{"type":"Strip","strip_left":true,"strip_right":false}`, "  a ", "a "},
		{`{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]}`, "Hi there", "▁Hi▁there"},
	}
	for _, c := range cases {
		n, err := parseNormalizer([]byte(c.json))
		if err != nil {
			t.Fatalf("%s: %v", c.json, err)
		}
		if got := n.normalize(c.in); got != c.want {
			t.Errorf("%s on %q = %q, want %q", c.json, c.in, got, c.want)
		}
	}
}

// The legacy SentencePiece export normalizes each text segment between
// added tokens separately, so Prepend adds "▁" after "<s>" too, but only
// once at the start of the whole input otherwise (not per line).
func TestPrependPerSegment(t *testing.T) {
	v := []string{"▁", "a", "\n", "<s>"}
	norm := `"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]}`
	tk := mk(t, charJSON(v, "", norm+","+addedJSON(`{"id":3,"content":"<s>","special":true,"normalized":false}`), ""))
	wantToks(t, tk, "a\na<s>a", "▁", "a", "\n", "a", "<s>", "▁", "a")
	wantToks(t, tk, "<s>", "<s>")
}

func preSplitStrings(t *testing.T, js, in string) []string {
	t.Helper()
	p, err := parsePreTokenizer([]byte(js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	var out []string
	for _, x := range p.preTokenize([]piece{{text: in, atStart: true}}) {
		out = append(out, x.text)
	}
	return out
}

// Expected splits are the examples of the huggingface/tokenizers
// SplitDelimiterBehavior documentation.
func TestSplitBehaviors(t *testing.T) {
	cases := map[string][]string{
		"Removed":            {"the", "final", "countdown"},
		"Isolated":           {"the", "-", "final", "-", "-", "countdown"},
		"MergedWithPrevious": {"the-", "final-", "-", "countdown"},
		"MergedWithNext":     {"the", "-final", "-", "-countdown"},
		"Contiguous":         {"the", "-", "final", "--", "countdown"},
	}
	for b, want := range cases {
		for _, pat := range []string{`{"String":"-"}`, `{"Regex":"-"}`} {
			js := `{"type":"Split","pattern":` + pat + `,"behavior":"` + b + `","invert":false}`
			if got := preSplitStrings(t, js, "the-final--countdown"); !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s: got %q want %q", b, pat, got, want)
			}
		}
	}
	js := `{"type":"Split","pattern":{"String":"-"},"behavior":"Removed","invert":true}`
	if got, want := preSplitStrings(t, js, "the-final--countdown"), []string{"-", "-", "-"}; !reflect.DeepEqual(got, want) {
		t.Errorf("inverted Removed: got %q want %q", got, want)
	}
}

// The Llama-3 split of FORMATS.md §4.8, checked there against regexp2 and
// huggingface/tokenizers.
func TestSplitLlama3Pattern(t *testing.T) {
	js := `{"type":"Split","pattern":{"Regex":` + fmt.Sprintf("%q", Llama3Pattern) + `},"behavior":"Isolated","invert":false}`
	got := preSplitStrings(t, js, "Hello  world's 12345\n\n  x")
	want := []string{"Hello", " ", " world", "'s", " ", "123", "45", "\n\n", " ", " x"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q want %q", got, want)
	}
}

func TestByteLevelPreTokenizer(t *testing.T) {
	got := preSplitStrings(t, `{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}`, "Hello  world's\n")
	want := []string{"Hello", "Ġ", "Ġworld", "'s", "Ċ"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q want %q", got, want)
	}
	got = preSplitStrings(t, `{"type":"ByteLevel","add_prefix_space":true,"use_regex":false}`, "hi é")
	if want := []string{"ĠhiĠÃ©"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q want %q", got, want)
	}
}

func TestMetaspacePreTokenizer(t *testing.T) {
	cases := []struct {
		js, in  string
		atStart bool
		want    []string
	}{
		{`{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}`, "Hey  friend", true, []string{"▁Hey", "▁", "▁friend"}},
		{`{"type":"Metaspace","replacement":"▁","prepend_scheme":"never","split":true}`, "Hey friend", true, []string{"Hey", "▁friend"}},
		{`{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false}`, "Hey friend", true, []string{"▁Hey▁friend"}},
		{`{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false}`, "Hey friend", false, []string{"Hey▁friend"}},
		{`{"type":"Metaspace","replacement":"▁","add_prefix_space":true}`, "a b", false, []string{"▁a", "▁b"}},
		{`{"type":"Metaspace","replacement":"▁","add_prefix_space":false,"split":false}`, "a b", true, []string{"a▁b"}},
	}
	for _, c := range cases {
		p, err := parsePreTokenizer([]byte(c.js))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, x := range p.preTokenize([]piece{{text: c.in, atStart: c.atStart}}) {
			got = append(got, x.text)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s on %q (start %v): got %q want %q", c.js, c.in, c.atStart, got, c.want)
		}
	}
}

func TestMetaspaceFirstAfterAddedToken(t *testing.T) {
	v := []string{"▁", "a", "<s>"}
	tk := mk(t, charJSON(v, "", `"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false},`+
		addedJSON(`{"id":2,"content":"<s>","special":true,"normalized":false}`), ""))
	wantToks(t, tk, "a<s>a", "▁", "a", "<s>", "a")
	wantToks(t, tk, "<s>a", "<s>", "a")
}

func TestDigitsAndOthers(t *testing.T) {
	cases := []struct {
		js, in string
		want   []string
	}{
		{`{"type":"Digits","individual_digits":true}`, "ab123c", []string{"ab", "1", "2", "3", "c"}},
		{`{"type":"Digits","individual_digits":false}`, "ab123c4", []string{"ab", "123", "c", "4"}},
		{`{"type":"WhitespaceSplit"}`, " a  b\tc ", []string{"a", "b", "c"}},
		{`{"type":"Whitespace"}`, "Hey man!! ok", []string{"Hey", "man", "!!", "ok"}},
		{`{"type":"Punctuation","behavior":"Isolated"}`, "a,b!", []string{"a", ",", "b", "!"}},
		{`{"type":"Sequence","pretokenizers":[{"type":"WhitespaceSplit"},{"type":"Digits","individual_digits":true}]}`, "x12 y", []string{"x", "1", "2", "y"}},
	}
	for _, c := range cases {
		if got := preSplitStrings(t, c.js, c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s on %q: got %q want %q", c.js, c.in, got, c.want)
		}
	}
}

func decodeWith(t *testing.T, js string, tokens []string) string {
	t.Helper()
	d, err := parseDecoder([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return lossyUTF8([]byte(strings.Join(d.decodeChain(tokens, false), "")))
}

func TestDecoders(t *testing.T) {
	llama := `{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]}`
	cases := []struct {
		js     string
		tokens []string
		want   string
	}{
		{llama, []string{"▁Hello", "▁", "<0xE2>", "<0x82>", "<0xAC>", "!"}, "Hello €!"},
		// An invalid byte run becomes one U+FFFD per byte.
		{llama, []string{"▁a", "<0xE2>", "<0x82>", "b"}, " a\uFFFD\uFFFDb"[1:]},
		{llama, []string{"▁▁x"}, " x"},
		{`{"type":"ByteLevel"}`, []string{"Hello", "Ġw", "Ã©", "Ċ"}, "Hello wé\n"},
		// Rust's from_utf8_lossy: one U+FFFD per maximal invalid subpart.
		{`{"type":"ByteLevel"}`, []string{"âĤ", "a", "Ģ"}, "\uFFFDa\uFFFD"},
		{`{"type":"Metaspace","replacement":"▁","prepend_scheme":"always"}`, []string{"▁Hey", "▁friend", "▁▁x"}, "Hey friend  x"},
		{`{"type":"Metaspace","replacement":"▁","prepend_scheme":"never"}`, []string{"▁Hey", "▁friend"}, " Hey friend"},
		{`{"type":"Strip","content":"x","start":2,"stop":1}`, []string{"xxxax", "ab"}, "xaab"},
		{`{"type":"Fuse"}`, []string{"a", "b"}, "ab"},
	}
	for _, c := range cases {
		if got := decodeWith(t, c.js, c.tokens); got != c.want {
			t.Errorf("%s\n on %q: got %q want %q", c.js, c.tokens, got, c.want)
		}
	}
}

func TestUnsupportedComponents(t *testing.T) {
	v := []string{"a"}
	cases := map[string]string{
		`{"model":{"type":"WordPiece","vocab":{"a":0}}}`:                    "WordPiece",
		`{"model":{"type":"Unigram","vocab":[["a",0]]}}`:                    "Unigram",
		charJSON(v, "", `"normalizer":{"type":"BertNormalizer"}`, ""):       "BertNormalizer",
		charJSON(v, "", `"pre_tokenizer":{"type":"BertPreTokenizer"}`, ""):  "BertPreTokenizer",
		charJSON(v, "", `"decoder":{"type":"WordPiece","prefix":"##"}`, ""): "WordPiece",
		charJSON(v, "", `"post_processor":{"type":"Mystery"}`, ""):          "Mystery",
		charJSON(v, "", "", `"continuing_subword_prefix":"##"`):             "continuing_subword_prefix",
		charJSON(v, "", "", `"end_of_word_suffix":"</w>"`):                  "end_of_word_suffix",
		charJSON(v, `["a b"]`, "", ""):                                      "merge 0",
		charJSON(v, `["ab"]`, "", ""):                                       "merge 0",
		`{"model":null}`:                                                    "no model",
		`{"model":`:                                                         "tokenizer.json",
		charJSON(v, "", `"pre_tokenizer":{"type":"Split","pattern":{"Regex":"("},"behavior":"Isolated"}`, ""):  "Split",
		charJSON(v, "", `"pre_tokenizer":{"type":"Split","pattern":{"String":"a"},"behavior":"Sideways"}`, ""): "Sideways",
	}
	for js, want := range cases {
		_, err := FromJSON([]byte(js), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one naming %q", js, err, want)
		}
	}
}

func TestPostProcessorAndConfig(t *testing.T) {
	v := []string{"a", "<s>", "</s>"}
	spec := addedJSON(`{"id":1,"content":"<s>","special":true},{"id":2,"content":"</s>","special":true}`)
	tmpl := `"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],"special_tokens":{"<s>":{"id":"<s>","ids":[1],"tokens":["<s>"]}}}`
	js := charJSON(v, "", spec+","+tmpl, "")
	cases := []struct {
		cfg      string
		want     []int
		bos, eos int
	}{
		{"", []int{1, 0}, 1, -1},
		{`{"add_bos_token":false,"bos_token":"<s>"}`, []int{0}, 1, -1},
		{`{"add_eos_token":true,"eos_token":{"content":"</s>","lstrip":false}}`, []int{1, 0, 2}, 1, 2},
		{`{"bos_token":null,"eos_token":"</s>"}`, []int{1, 0}, 1, 2},
	}
	for _, c := range cases {
		var cfg []byte
		if c.cfg != "" {
			cfg = []byte(c.cfg)
		}
		tk, err := FromJSON([]byte(js), cfg)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := tk.Encode("a", true)
		if !equalInts(got, c.want) || tk.BOS() != c.bos || tk.EOS() != c.eos {
			t.Errorf("config %s: ids %v bos %d eos %d; want %v %d %d", c.cfg, got, tk.BOS(), tk.EOS(), c.want, c.bos, c.eos)
		}
		if s := tk.Summary(); s.AddBOS != (c.want[0] == 1) {
			t.Errorf("config %s: Summary.AddBOS = %v", c.cfg, s.AddBOS)
		}
		if ids, _ := tk.Encode("a", false); !equalInts(ids, []int{0}) {
			t.Errorf("addSpecial=false gave %v", ids)
		}
	}
	if _, err := FromJSON([]byte(js), []byte(`{"eos_token":"<nope>"}`)); err == nil {
		t.Error("unknown eos_token accepted")
	}
	// Roberta-style and Sequence post-processors.
	rob := charJSON(v, "", spec+`,"post_processor":{"type":"Sequence","processors":[{"type":"ByteLevel"},{"type":"RobertaProcessing","sep":["</s>",2],"cls":["<s>",1]}]}`, "")
	tk := mk(t, rob)
	if got, _ := tk.Encode("a", true); !equalInts(got, []int{1, 0, 2}) {
		t.Errorf("RobertaProcessing: %v", got)
	}
}

func TestDecodeErrorsAndSpecials(t *testing.T) {
	v := []string{"a", "<s>"}
	tk := mk(t, charJSON(v, "", addedJSON(`{"id":1,"content":"<s>","special":true}`)+`,"decoder":{"type":"Fuse"}`, ""))
	if _, err := tk.Decode([]int{0, 2}); err == nil {
		t.Error("Decode accepted id 2")
	}
	if _, err := tk.Decode([]int{-1}); err == nil {
		t.Error("Decode accepted id -1")
	}
	if s, err := tk.Decode([]int{1, 0, 0}); err != nil || s != "aa" {
		t.Errorf("Decode = %q, %v; special tokens must be skipped", s, err)
	}
	if _, err := tk.Encode("a\xff", false); err == nil {
		t.Error("Encode accepted invalid UTF-8")
	}
	if id, ok := tk.ID("<s>"); !ok || id != 1 {
		t.Errorf("ID(<s>) = %d %v", id, ok)
	}
	if tk.Token(5) != "" || tk.VocabSize() != 2 {
		t.Errorf("Token(5) = %q, VocabSize = %d", tk.Token(5), tk.VocabSize())
	}
}

// Vocabularies that cannot round-trip are refused naming the token; see
// buildIDs for what @huggingface/tokenizers does with them.
func TestVocabularyMustRoundTrip(t *testing.T) {
	v := `{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":1,"ba":1,"c":2},"merges":[]}}`
	if _, err := FromJSON([]byte(v), nil); err == nil || !strings.Contains(err.Error(), `tokens "ab" and "b" both have id 1`) {
		t.Fatalf("duplicate ids: %v", err)
	}
	base := []string{"a", "b", "c"}
	if _, err := FromJSON([]byte(charJSON(base, "", addedJSON(added(1, "<x>", "")), "")), nil); err == nil || !strings.Contains(err.Error(), `added token "<x>" has id 1, which is already token "b"`) {
		t.Fatalf("added token over a vocabulary token: %v", err)
	}
	if _, err := FromJSON([]byte(charJSON(base, "", addedJSON(added(5, "<x>", "")+","+added(5, "<y>", "")), "")), nil); err == nil || !strings.Contains(err.Error(), `"<y>" has id 5, which is already token "<x>"`) {
		t.Fatalf("two added tokens with one id: %v", err)
	}
	// An added token repeating its vocabulary entry is the common case.
	tk := mk(t, charJSON(base, "", addedJSON(added(1, "b", "")+","+added(9, "<z>", "")), ""))
	if err := tk.CheckEmbedding(10); err != nil {
		t.Fatal(err)
	}
	// Ids 3…8 are a gap: fine while the embedding has rows for them.
	if err := tk.CheckEmbedding(9); err == nil || !strings.Contains(err.Error(), `token "<z>" has id 9, beyond the model's 9 embedding rows`) {
		t.Fatalf("CheckEmbedding(9): %v", err)
	}
	if _, err := tk.Decode([]int{4}); err == nil {
		t.Fatal("decoding an id without a token succeeded")
	}
}
