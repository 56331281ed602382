package tokenizer

import (
	"testing"

	"github.com/ttqproject/ttq/internal/shareddata"
)

// TestAccessorsOnGPTNeoX checks the raw-vocabulary accessors on the shared
// GPT-NeoX tokenizer.json against the counts FORMATS.md §4.2 gives for that
// file: 50,254 vocabulary entries, 50,009 merges in the old "a b" form, and
// added tokens from <|endoftext|> (0) to RWKV (50280); the file starts its
// merges with "Ġ Ġ", "Ġ t".
func TestAccessorsOnGPTNeoX(t *testing.T) {
	tok, err := Load(shareddata.Path(t, "tokenizers/gpt-neox-20b/tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if v := tok.Vocab(); len(v) != 50254 {
		t.Errorf("Vocab has %d entries, want 50254", len(v))
	}
	m := tok.Merges()
	if len(m) != 50009 {
		t.Errorf("Merges has %d entries, want 50009", len(m))
	}
	if len(m) > 1 && (m[0] != [2]string{"Ġ", "Ġ"} || m[1] != [2]string{"Ġ", "t"}) {
		t.Errorf("first merges %q, the file lists \"Ġ Ġ\", \"Ġ t\"", m[:2])
	}
	added := tok.AddedTokens()
	if len(added) == 0 || added[0] != (AddedToken{ID: 0, Content: "<|endoftext|>", Special: true}) || added[len(added)-1].Content != "RWKV" || added[len(added)-1].ID != 50280 {
		t.Errorf("added tokens: first %+v, last %+v", added[0], added[len(added)-1])
	}
	// The accessors hand out copies.
	m[0] = [2]string{"x", "y"}
	if tok.Merges()[0] == m[0] {
		t.Error("Merges returned the tokenizer's own slice")
	}
}
