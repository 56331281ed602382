package demo

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ttqproject/ttq/pkg/model"
)

// storiesGolden is written by scripts/golden/forward/ref_llama2c.py from the
// original llama2.c checkpoint with llama2.c's own adjacent-pair RoPE, so it
// is independent of ttq's import (and its q/k permutation).
type storiesGolden struct {
	Tokens []int       `json:"tokens"`
	Logits [][]float64 `json:"logits"`
	Greedy []int       `json:"greedy_from_bos"`
}

func loadGolden(t *testing.T) storiesGolden {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "models", "stories260K.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g storiesGolden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestDemoLogitsMatchLlama2cReference(t *testing.T) {
	m, _, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	g := loadGolden(t)
	v := m.Config.VocabSize
	logits, err := m.Forward(m.NewState(len(g.Tokens)), g.Tokens, model.AllLogits)
	if err != nil {
		t.Fatal(err)
	}
	for p := range g.Tokens {
		var num, den float64
		for i, w := range g.Logits[p] {
			num = math.Max(num, math.Abs(float64(logits[p*v+i])-w))
			den = math.Max(den, math.Abs(w))
		}
		if num/den > 1e-4 {
			t.Errorf("position %d: relative error %.3g > 1e-4", p, num/den)
		}
	}
}

// TestDemoGreedyMatchesLlama2c decodes greedily from BOS for 200 tokens and
// compares the ids with the reference and the text with llama2.c's
// test_all.py expected_stdout.
func TestDemoGreedyMatchesLlama2c(t *testing.T) {
	m, tok, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	g := loadGolden(t)
	want, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "llama2c", "stories260K.expected_stdout.txt"))
	if err != nil {
		t.Fatal(err)
	}
	st := m.NewState(1 + len(g.Greedy))
	logits, err := m.Forward(st, []int{tok.BOS()}, model.LastLogits)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for len(ids) < len(g.Greedy) {
		next := model.Argmax(logits)
		ids = append(ids, next)
		if next != g.Greedy[len(ids)-1] {
			t.Fatalf("greedy token %d = %d, reference %d", len(ids)-1, next, g.Greedy[len(ids)-1])
		}
		if logits, err = m.Forward(st, []int{next}, model.LastLogits); err != nil {
			t.Fatal(err)
		}
	}
	text, err := tok.Decode(ids)
	if err != nil {
		t.Fatal(err)
	}
	if text != string(want) {
		t.Fatalf("decoded text differs from llama2.c's expected_stdout:\n got %q\nwant %q", text, want)
	}
}
