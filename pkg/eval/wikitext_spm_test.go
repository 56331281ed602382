package eval

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ttqproject/ttq/internal/shareddata"
	"github.com/ttqproject/ttq/pkg/model/tokenizer"
)

// TestWikiTextTokensMatchSentencePiece tokenizes the evaluation texts of
// both protocols, as ttq builds them, with ttq's conversion of the Llama-2
// tokenizer and compares every id (count and SHA-256 of the int32 ids) with
// the SentencePiece library's encoding of the same text
// (scripts/golden/eval/wikitext_sentencepiece.py). This pins the whole
// text → ids path of the perplexity protocols on 1.2 MB inputs, not only on
// short samples.
func TestWikiTextTokensMatchSentencePiece(t *testing.T) {
	if testing.Short() {
		t.Skip("tokenizes all of WikiText-2 four times")
	}
	model, err := os.ReadFile(shareddata.Path(t, "tokenizers/llama2/tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "eval", "wikitext-llama2-sentencepiece.json"))
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Results []struct {
			Split      string `json:"split"`
			Protocol   string `json:"protocol"`
			TextSHA256 string `json:"text_sha256"`
			Tokens     int    `json:"tokens"`
			IDsSHA256  string `json:"ids_sha256_int32le"`
			FirstIDs   []int  `json:"first_ids"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	files, err := tokenizer.ConvertSentencePiece(model)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromJSON(files.TokenizerJSON, files.TokenizerConfigJSON)
	if err != nil {
		t.Fatal(err)
	}
	if len(golden.Results) != 4 {
		t.Fatalf("golden has %d results, want 4", len(golden.Results))
	}
	for _, g := range golden.Results {
		text, err := WikiText(g.Split, Protocol(g.Protocol))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(text.Text))
		if hex.EncodeToString(sum[:]) != g.TextSHA256 {
			t.Fatalf("%s/%s: the text differs from the one the golden tokenized", g.Split, g.Protocol)
		}
		ids, err := tok.Encode(text.Text, false)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		var buf [4]byte
		for _, id := range ids {
			binary.LittleEndian.PutUint32(buf[:], uint32(int32(id)))
			h.Write(buf[:])
		}
		if len(ids) != g.Tokens || hex.EncodeToString(h.Sum(nil)) != g.IDsSHA256 {
			t.Errorf("%s/%s: %d tokens (ids sha256 %x), SentencePiece gives %d (%s)", g.Split, g.Protocol, len(ids), h.Sum(nil), g.Tokens, g.IDsSHA256)
		}
		if !slices.Equal(ids[:len(g.FirstIDs)], g.FirstIDs) {
			t.Errorf("%s/%s: first ids %v, want %v", g.Split, g.Protocol, ids[:len(g.FirstIDs)], g.FirstIDs)
		}
	}
}
