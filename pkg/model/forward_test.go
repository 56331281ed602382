package model

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// golden is what scripts/golden/forward/make_tiny.py writes: a token
// sequence and the float64 PyTorch reference logits at every position.
type golden struct {
	Tokens    []int       `json:"tokens"`
	Logits    [][]float64 `json:"logits"`
	Reference string      `json:"reference"`
}

func readGolden(t *testing.T, path string) golden {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(g.Tokens) == 0 || len(g.Logits) != len(g.Tokens) {
		t.Fatalf("%s: %d tokens, %d logit rows", path, len(g.Tokens), len(g.Logits))
	}
	return g
}

var tinyModels = []string{"tiny-llama2", "tiny-llama3", "tiny-mistral", "tiny-qwen2", "tiny-qwen3"}

// relErr is max|got−want| / max|want| over one position's logits.
func relErr(got []float32, want []float64) float64 {
	var num, den float64
	for i, w := range want {
		num = math.Max(num, math.Abs(float64(got[i])-w))
		den = math.Max(den, math.Abs(w))
	}
	return num / den
}

// TestTinyModelsMatchReference compares ttq's logits with an independent
// float64 PyTorch forward pass written from transformers' modeling code
// (scripts/golden/forward/ref_llama.py) on tiny random checkpoints covering
// Llama-2 (F32, GQA), Llama-3 (BF16, llama3 RoPE scaling, tied embeddings),
// Mistral (F16, sharded, rope_parameters linear scaling), Qwen2 (q/k/v
// biases) and Qwen3 (q/k norms, head_dim ≠ hidden/heads).
func TestTinyModelsMatchReference(t *testing.T) {
	for _, name := range tinyModels {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "..", "testdata", "models", name)
			g := readGolden(t, filepath.Join(dir, "golden.json"))
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			v := m.Config.VocabSize
			st := m.NewState(len(g.Tokens))
			logits, err := m.Forward(st, g.Tokens, AllLogits)
			if err != nil {
				t.Fatal(err)
			}
			for p := range g.Tokens {
				if e := relErr(logits[p*v:(p+1)*v], g.Logits[p]); e > 1e-4 {
					t.Errorf("position %d: relative error %.3g > 1e-4", p, e)
				}
			}
		})
	}
}

// TestPrefillEqualsDecode checks that one batched prefill over T tokens, T
// single-token decode steps through the KV cache, and a prefill split in two
// all give the same logits.
func TestPrefillEqualsDecode(t *testing.T) {
	for _, name := range tinyModels {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "..", "testdata", "models", name)
			g := readGolden(t, filepath.Join(dir, "golden.json"))
			m, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			v, n := m.Config.VocabSize, len(g.Tokens)
			prefill, err := m.Forward(m.NewState(n), g.Tokens, AllLogits)
			if err != nil {
				t.Fatal(err)
			}
			st := m.NewState(n)
			split := m.NewState(n)
			half := n / 2
			splitLogits, err := m.Forward(split, g.Tokens[:half], AllLogits)
			if err != nil {
				t.Fatal(err)
			}
			rest, err := m.Forward(split, g.Tokens[half:], AllLogits)
			if err != nil {
				t.Fatal(err)
			}
			splitLogits = append(splitLogits, rest...)
			for p, tok := range g.Tokens {
				step, err := m.Forward(st, []int{tok}, LastLogits)
				if err != nil {
					t.Fatal(err)
				}
				want := make([]float64, v)
				for i, x := range prefill[p*v : (p+1)*v] {
					want[i] = float64(x)
				}
				if e := relErr(step, want); e > 1e-5 {
					t.Errorf("decode step %d differs from prefill: relative error %.3g", p, e)
				}
				if e := relErr(splitLogits[p*v:(p+1)*v], want); e > 1e-5 {
					t.Errorf("split prefill position %d differs: relative error %.3g", p, e)
				}
			}
			if _, err := m.Forward(st, []int{0}, LastLogits); err == nil {
				t.Error("forward past the state's capacity succeeded")
			}
		})
	}
}

func TestForwardRejectsBadTokens(t *testing.T) {
	m, err := Load(filepath.Join("..", "..", "testdata", "models", "tiny-llama2"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, toks := range [][]int{{-1}, {m.Config.VocabSize}, {}} {
		if _, err := m.Forward(m.NewState(4), toks, LastLogits); err == nil {
			t.Errorf("Forward(%v) succeeded", toks)
		}
	}
}
