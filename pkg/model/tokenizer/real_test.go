package tokenizer

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// stories260KGreedy is the first 460 bytes of expected_stdout in
// karpathy/llama2.c test_all.py (MIT): stories260K's greedy output.
const stories260KGreedy = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to play with your ball, but I can't find it.\"\nLily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\nLily didn't want to help her mom, so she"

func TestTok512(t *testing.T) {
	tk := tok512(t)
	if tk.VocabSize() != 512 || tk.BOS() != 1 || tk.EOS() != 2 {
		t.Fatalf("vocab %d bos %d eos %d", tk.VocabSize(), tk.BOS(), tk.EOS())
	}
	for _, s := range []string{"Once upon a time, there was a little girl named Lily.", stories260KGreedy} {
		ids, err := tk.Encode(s, true)
		if err != nil {
			t.Fatal(err)
		}
		if ids[0] != 1 {
			t.Fatalf("no BOS: %v", ids[:3])
		}
		got, err := tk.Decode(ids)
		if err != nil || got != s {
			t.Errorf("Decode(Encode(%q)) = %q, %v", s, got, err)
		}
		var sb strings.Builder
		sd := tk.NewStreamDecoder()
		for _, id := range ids {
			x, err := sd.Add(id)
			if err != nil {
				t.Fatal(err)
			}
			sb.WriteString(x)
		}
		sb.WriteString(sd.Flush())
		if sb.String() != s {
			t.Errorf("streamed %q, want %q", sb.String(), s)
		}
	}
	// The dummy prefix makes the first word "▁Once".
	ids, _ := tk.Encode("Once", false)
	if tk.Token(ids[0]) != "▁" && !strings.HasPrefix(tk.Token(ids[0]), "▁") {
		t.Errorf("first token %q lacks the dummy prefix", tk.Token(ids[0]))
	}
	s := tk.Summary()
	if s.Kind != "sentencepiece" || !s.AddBOS || s.BOSToken != "<s>" || s.EOSToken != "</s>" || s.Model != "BPE" {
		t.Errorf("Summary = %+v", s)
	}
}

// The llama2.c export of a model must convert to the same tokenizer as the
// .model it came from (apart from the recorded source).
func TestBinMatchesModel(t *testing.T) {
	for _, p := range [][2]string{
		{"models/stories260K/tok512.model", "models/stories260K/tok512.bin"},
		{"models/babyllama-tok105/tok105.model", "models/babyllama-tok105/tok105.bin"},
	} {
		fm, err := ConvertSentencePiece(readShared(t, p[0]))
		if err != nil {
			t.Fatal(err)
		}
		fb, err := ConvertLlama2cBin(readShared(t, p[1]))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fm.TokenizerJSON, fb.TokenizerJSON) {
			t.Errorf("%s and %s convert to different tokenizer.json", p[0], p[1])
		}
	}
}

// tok105 has no byte fallback: characters outside its 102 pieces (newline
// included) become <unk>, which Decode drops like every special token.
func TestTok105Unknown(t *testing.T) {
	f, err := ConvertSentencePiece(readShared(t, "models/babyllama-tok105/tok105.model"))
	tk := mustTok(t, f, err)
	ids, err := tk.Encode("Hi\n\nyo", false)
	if err != nil {
		t.Fatal(err)
	}
	unk := 0
	for _, id := range ids {
		if id == 0 {
			unk++
		}
	}
	if unk != 1 { // fuse_unk: the two newlines become one <unk>
		t.Errorf("ids %v: want exactly one fused <unk>", ids)
	}
	if got, _ := tk.Decode(ids); got != "Hiyo" {
		t.Errorf("Decode = %q, want %q", got, "Hiyo")
	}
}

func TestSentencePieceErrors(t *testing.T) {
	for _, b := range [][]byte{nil, {0x0a}, {0x0a, 0x05, 0x0a}, {0xff, 0xff}, {0x12, 0x02, 0x18, 0x01}} {
		if _, err := ConvertSentencePiece(b); err == nil {
			t.Errorf("ConvertSentencePiece(%x) succeeded", b)
		}
	}
	// A UNIGRAM model (trainer_spec.model_type = 1) is refused by name.
	uni := []byte{0x0a, 0x09, 0x0a, 0x05, '<', 'u', 'n', 'k', '>', 0x18, 0x02, 0x12, 0x02, 0x18, 0x01}
	if _, err := ConvertSentencePiece(uni); err == nil || !strings.Contains(err.Error(), "UNIGRAM") {
		t.Errorf("UNIGRAM model: %v", err)
	}
	for _, b := range [][]byte{nil, {1, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0}} {
		if _, err := ConvertLlama2cBin(b); err == nil {
			t.Errorf("ConvertLlama2cBin(%x) succeeded", b)
		}
	}
}

func streamAll(t *testing.T, tk *Tokenizer, ids []int) (string, []string) {
	t.Helper()
	sd := tk.NewStreamDecoder()
	var sb strings.Builder
	var chunks []string
	for _, id := range ids {
		x, err := sd.Add(id)
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, x)
		sb.WriteString(x)
	}
	x := sd.Flush()
	chunks = append(chunks, x)
	sb.WriteString(x)
	return sb.String(), chunks
}

func TestStreamDecoder(t *testing.T) {
	texts := []string{
		" Hello world", "héllo wörld 🦙🦙 日本語のテキスト", "  leading spaces\n\ntabs\tend ", "€", "",
	}
	for name, tk := range map[string]*Tokenizer{"llama2": llama2Tok(t), "gpt2": gpt2Tok(t)} {
		for _, s := range texts {
			ids, err := tk.Encode(s, true)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := tk.Decode(ids)
			got, chunks := streamAll(t, tk, ids)
			if got != want || got != s {
				t.Errorf("%s: streamed %q, Decode %q, input %q", name, got, want, s)
			}
			for _, c := range chunks {
				if strings.ContainsRune(c, utf8.RuneError) {
					t.Errorf("%s: chunk %q of %q holds U+FFFD", name, c, s)
				}
			}
		}
	}
	// Invalid sequences stream to the same replacement characters as Decode.
	for name, tk := range map[string]*Tokenizer{"llama2": llama2Tok(t), "gpt2": gpt2Tok(t)} {
		var ids []int
		if name == "gpt2" {
			// E2 82 'a' C3 C3 " b" F0: truncated and stray lead bytes.
			for _, b := range []string{"\xe2", "\x82", "a", "\xc3", "\xc3", " b", "\xf0"} {
				id, ok := tk.ID(byteLevelEncode(b))
				if !ok {
					t.Fatalf("no token for %q", b)
				}
				ids = append(ids, id)
			}
		} else {
			for _, tok := range []string{"▁a", "<0xE2>", "<0x82>", "▁b", "<0xF0>", "<0x9F>"} {
				id, _ := tk.ID(tok)
				ids = append(ids, id)
			}
		}
		want, _ := tk.Decode(ids)
		got, _ := streamAll(t, tk, ids)
		if got != want || !strings.ContainsRune(want, utf8.RuneError) {
			t.Errorf("%s: streamed %q, Decode %q", name, got, want)
		}
	}
	// Leading-space strip applies only at the start: after EOS (skipped), a
	// new word keeps its space, as in Decode.
	tk := llama2Tok(t)
	a, _ := tk.Encode("Hi", true)
	b, _ := tk.Encode("Yo", false)
	ids := append(append(a, 2), b...)
	want, _ := tk.Decode(ids)
	if got, _ := streamAll(t, tk, ids); got != want || want != "Hi Yo" {
		t.Errorf("streamed %q, Decode %q", got, want)
	}
	if _, err := tk.NewStreamDecoder().Add(1 << 20); err == nil {
		t.Error("Add accepted an out-of-range id")
	}
}

// A whole WikiText file is one BPE word for a SentencePiece-style tokenizer
// (no pre-tokenizer): the merge loop must stay O(n log n).
func TestLargeSingleWord(t *testing.T) {
	tk := llama2Tok(t)
	text := string(readShared(t, "wikitext-2-raw/wiki.test.raw"))
	if len(text) > 1<<20 {
		text = text[:1<<20]
		for !utf8.ValidString(text) {
			text = text[:len(text)-1]
		}
	}
	small := text[:len(text)/8]
	for !utf8.ValidString(small) {
		small = small[:len(small)-1]
	}
	// The fastest of a few runs of each: CI runs test packages side by
	// side, and one slow run of the large text against one quiet run of
	// the small failed a linear tokenizer (1.58 s against 20 × 69 ms).
	elSmall := time.Duration(1<<63 - 1)
	for range 3 {
		start := time.Now()
		if _, err := tk.Encode(small, false); err != nil {
			t.Fatal(err)
		}
		elSmall = min(elSmall, time.Since(start))
	}
	var ids []int
	el := time.Duration(1<<63 - 1)
	for range 2 {
		start := time.Now()
		var err error
		ids, err = tk.Encode(text, false)
		if err != nil {
			t.Fatal(err)
		}
		el = min(el, time.Since(start))
	}
	t.Logf("%d bytes → %d tokens in %v (%d bytes in %v)", len(text), len(ids), el, len(small), elSmall)
	// 8× the input may take at most ~20× the time (quadratic would be 64×);
	// the absolute bound only catches pathologies on a loaded machine.
	if el > 20*elSmall+200*time.Millisecond || el > 20*time.Second {
		t.Errorf("encoding 1 MB as one word took %v (1/8 of it: %v)", el, elSmall)
	}
	if got, _ := tk.Decode(ids); got != text {
		t.Error("round trip of the 1 MB text failed")
	}
}

func TestGPTNeoX(t *testing.T) {
	js := readShared(t, "tokenizers/gpt-neox-20b/tokenizer.json")
	start := time.Now()
	tk, err := FromJSON(js, nil)
	el := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("GPT-NeoX tokenizer.json loaded in %v", el)
	if el > 2*time.Second {
		t.Errorf("loading took %v", el)
	}
	s := tk.Summary()
	if s.VocabSize != 50281 || s.Merges != 50009 || s.Normalizer != "NFC" || s.Kind != "byte-level" {
		t.Errorf("Summary = %+v", s)
	}
	// "assistant" (added, single_word false) is split out even inside words.
	ids, _ := tk.Encode("preassistantpost", false)
	aid, _ := tk.ID("assistant")
	found := false
	for _, id := range ids {
		found = found || id == aid
	}
	if aid != 50279 || !found {
		t.Errorf("assistant id %d, encoding %v", aid, ids)
	}
	// NFC changes text: the round trip returns the composed form.
	ids, _ = tk.Encode("cafe\u0301  x", false)
	if got, _ := tk.Decode(ids); got != "café  x" {
		t.Errorf("Decode(Encode(NFD)) = %q", got)
	}
}

// tiktokenRef is tiktoken's byte-pair encoding written directly from ranks
// (whole piece first, then lowest-rank adjacent pair, leftmost on ties): an
// independent reference for the converted merges.
func tiktokenRef(piece string, rankOf map[string]int) []int {
	if r, ok := rankOf[piece]; ok {
		return []int{r}
	}
	parts := make([]string, len(piece))
	for i := 0; i < len(piece); i++ {
		parts[i] = piece[i : i+1]
	}
	for {
		best, bestRank := -1, 0
		for i := 0; i+1 < len(parts); i++ {
			if r, ok := rankOf[parts[i]+parts[i+1]]; ok && (best < 0 || r < bestRank) {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		parts[best] += parts[best+1]
		parts = append(parts[:best+1], parts[best+2:]...)
	}
	ids := make([]int, len(parts))
	for i, p := range parts {
		ids[i] = rankOf[p]
	}
	return ids
}

func TestLlama3Tiktoken(t *testing.T) {
	ranks := readShared(t, "tokenizers/llama3/tokenizer.model")
	start := time.Now()
	f, err := ConvertTiktoken(ranks, Llama3TiktokenOptions())
	tk := mustTok(t, f, err)
	t.Logf("converted and loaded Llama-3 in %v", time.Since(start))
	if tk.VocabSize() != 128256 || tk.BOS() != 128000 || tk.EOS() != 128001 {
		t.Fatalf("vocab %d bos %d eos %d", tk.VocabSize(), tk.BOS(), tk.EOS())
	}
	if id, _ := tk.ID("<|eot_id|>"); id != 128009 {
		t.Errorf("<|eot_id|> = %d", id)
	}
	if id, _ := tk.ID("<|reserved_special_token_250|>"); id != 128255 {
		t.Errorf("<|reserved_special_token_250|> = %d", id)
	}
	// cl100k_base ids, which Llama-3 shares below 100256.
	if ids, _ := tk.Encode("Hello world", true); !equalInts(ids, []int{128000, 9906, 1917}) {
		t.Errorf("Hello world = %v", ids)
	}
	rankOf := map[string]int{}
	for _, line := range strings.Split(string(ranks), "\n") {
		b64, rs, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		tokb, _ := base64.StdEncoding.DecodeString(b64)
		r, _ := strconv.Atoi(rs)
		rankOf[string(tokb)] = r
	}
	re, err := compileRegex(Llama3Pattern)
	if err != nil {
		t.Fatal(err)
	}
	text := string(readShared(t, "corpora/tinyshakespeare/input.txt"))[:60000] +
		string(readShared(t, "corpora/wagahaiwa-nekodearu/wagahaiwa_nekodearu.txt"))[:6000] +
		string(readShared(t, "corpora/go-source/go-net-http-src.txt"))[:30000]
	for !utf8.ValidString(text) {
		text = text[:len(text)-1]
	}
	var want []int
	for _, m := range re.FindAllIndex(text) {
		want = append(want, tiktokenRef(text[m[0]:m[1]], rankOf)...)
	}
	got, _ := tk.Encode(text, false)
	if !equalInts(got, want) {
		n := 0
		for n < len(got) && n < len(want) && got[n] == want[n] {
			n++
		}
		t.Errorf("differs from the rank-based reference at token %d of %d/%d", n, len(got), len(want))
	}
	if s, _ := tk.Decode(got); s != text {
		t.Error("Llama-3 round trip failed")
	}
}

func TestLoadAndGPT2Summary(t *testing.T) {
	f, err := ConvertGPT2(readShared(t, "tokenizers/gpt2/vocab.json"), readShared(t, "tokenizers/gpt2/merges.txt"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), f.TokenizerJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), f.TokenizerConfigJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, "tokenizer.json")} {
		tk, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		s := tk.Summary()
		if s.VocabSize != 50257 || s.Merges != 50000 || s.BOSID != -1 || s.EOSID != 50256 || s.AddBOS ||
			s.Kind != "byte-level" || s.AddedTokens != 1 || s.EOSToken != "<|endoftext|>" {
			t.Errorf("Load(%s).Summary() = %+v", p, s)
		}
		if ids, _ := tk.Encode("Hello world", true); !equalInts(ids, []int{15496, 995}) {
			t.Errorf("Hello world = %v", ids)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("Load of a missing path succeeded")
	}
	if n := len(Llama3TiktokenOptions().Special); n != 256 {
		t.Errorf("%d Llama-3 special tokens", n)
	}
}
