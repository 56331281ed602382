package tokenizer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"golang.org/x/text/unicode/norm"

	"github.com/ttqproject/ttq/internal/shareddata"
)

// Goldens written by independent implementations (scripts/golden/tokenizer,
// see testdata/tokenizer/README.md): @huggingface/tokenizers for GPT-NeoX,
// js-tiktoken for Llama 3, the SentencePiece library for the .model files.

type goldenFile struct {
	Source string `json:"source"`
	Cases  []struct {
		Text string `json:"text"`
		IDs  []int  `json:"ids"`
	} `json:"cases"`
}

var goldenSHA = regexp.MustCompile(`sha256 ([0-9a-f]{64})`)

// loadGolden reads testdata/tokenizer/<name>.golden.json and the shared input
// file it was made from, failing if the file is not the one the golden names.
func loadGolden(t *testing.T, name, input string) (goldenFile, []byte) {
	t.Helper()
	var g goldenFile
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "tokenizer", name+".golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("%s golden: %v", name, err)
	}
	if len(g.Cases) < 20 {
		t.Fatalf("%s golden has only %d cases", name, len(g.Cases))
	}
	data, err := os.ReadFile(shareddata.Path(t, input))
	if err != nil {
		t.Fatal(err)
	}
	m := goldenSHA.FindStringSubmatch(g.Source)
	if m == nil {
		t.Fatalf("%s golden source names no sha256: %q", name, g.Source)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != m[1] {
		t.Fatalf("%s: %s has sha256 %x, the golden was made from %s", name, input, sum, m[1])
	}
	return g, data
}

// checkGolden encodes every golden text without special tokens and compares
// the ids; when wantText returns ok it also checks Decode of the golden ids.
func checkGolden(t *testing.T, tok *Tokenizer, g goldenFile, wantText func(text string, ids []int) (string, bool)) {
	t.Helper()
	for i, c := range g.Cases {
		t.Run(fmt.Sprintf("case%02d", i), func(t *testing.T) {
			got, err := tok.Encode(c.Text, false)
			if err != nil {
				t.Fatalf("Encode(%s): %v", quoteShort(c.Text), err)
			}
			if !slices.Equal(got, c.IDs) {
				t.Errorf("Encode(%s):\n got %v\nwant %v\n(first difference at index %d)",
					quoteShort(c.Text), got, c.IDs, firstDiff(got, c.IDs))
			}
			want, ok := wantText(c.Text, c.IDs)
			if !ok {
				return
			}
			text, err := tok.Decode(c.IDs)
			if err != nil {
				t.Fatalf("Decode(%v): %v", c.IDs, err)
			}
			if text != want {
				t.Errorf("Decode(golden ids of %s) = %q, want %q", quoteShort(c.Text), text, want)
			}
		})
	}
}

func quoteShort(s string) string {
	if r := []rune(s); len(r) > 60 {
		return fmt.Sprintf("%q...(%d bytes)", string(r[:60]), len(s))
	}
	return fmt.Sprintf("%q", s)
}

func firstDiff(a, b []int) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestGoldenGPTNeoX(t *testing.T) {
	const input = "tokenizers/gpt-neox-20b/tokenizer.json"
	g, _ := loadGolden(t, "gpt-neox-20b", input)
	tok, err := Load(shareddata.Path(t, input))
	if err != nil {
		t.Fatal(err)
	}
	// The NFC normalizer is not inverted by decoding; the byte-level decoder
	// inverts everything else exactly. Decode drops special tokens (ids 0, 1
	// and 50277-50280 in this file), so texts containing them are skipped.
	checkGolden(t, tok, g, func(text string, ids []int) (string, bool) {
		return norm.NFC.String(text), !slices.ContainsFunc(ids, func(id int) bool { return id <= 1 || id >= 50277 })
	})
}

func TestGoldenLlama3Tiktoken(t *testing.T) {
	const input = "tokenizers/llama3/tokenizer.model"
	g, ranks := loadGolden(t, "llama3", input)
	files, err := ConvertTiktoken(ranks, Llama3TiktokenOptions())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := FromJSON(files.TokenizerJSON, files.TokenizerConfigJSON)
	if err != nil {
		t.Fatal(err)
	}
	// Decode drops the special tokens (ids from 128000).
	checkGolden(t, tok, g, func(text string, ids []int) (string, bool) {
		return text, !slices.ContainsFunc(ids, func(id int) bool { return id >= 128000 })
	})
}

func TestGoldenSentencePiece(t *testing.T) {
	for _, c := range []struct{ name, input string }{
		{"llama2", "tokenizers/llama2/tokenizer.model"},
		{"tok512", "models/stories260K/tok512.model"},
		{"tok105", "models/babyllama-tok105/tok105.model"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, model := loadGolden(t, c.name, c.input)
			files, err := ConvertSentencePiece(model)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := FromJSON(files.TokenizerJSON, files.TokenizerConfigJSON)
			if err != nil {
				t.Fatal(err)
			}
			// Decoding drops the dummy-prefix space and is otherwise exact,
			// except where <unk> (id 0 in all three) replaced characters; <s>
			// and </s> (1, 2) never occur, as the samples with their strings
			// are not in these goldens.
			checkGolden(t, tok, g, func(text string, ids []int) (string, bool) {
				return text, !slices.Contains(ids, 0)
			})
		})
	}
}
