package eval

import (
	"context"
	"math"
	"testing"
)

// TestPerplexityScoresAgreeWithPerplexity: the per-token scores must be the
// ones behind Perplexity's result, with and without a reference, and their
// mean must reproduce the reported mean NLL and mean KL.
func TestPerplexityScoresAgreeWithPerplexity(t *testing.T) {
	model := &fakeScorer{vocab: 5, next: func(h []int) []float32 {
		last := h[len(h)-1]
		return []float32{float32(last), 1, float32(len(h) % 3), 0.5, -1}
	}}
	ref := &fakeScorer{vocab: 5, next: func(h []int) []float32 {
		return []float32{1, 2, 0, float32(h[len(h)-1]) / 2, 0}
	}}
	toks := []int{1, 0, 3, 4, 2, 2, 1, 0, 4, 3, 3, 1, 0, 2, 4, 1, 1}
	for _, p := range []Protocol{ProtocolGPTQ, ProtocolLlamaCpp} {
		w, err := MakeWindows(toks, p, 8, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []Scorer{nil, ref} {
			want, err := Perplexity(context.Background(), model, w, r, Options{Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			got, ts, err := PerplexityScores(context.Background(), model, w, r, Options{Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			if got.PPL != want.PPL || got.PPLStdErr != want.PPLStdErr || got.ScoredTokens != want.ScoredTokens {
				t.Fatalf("%s ref=%v: result %+v, Perplexity %+v", p, r != nil, got, want)
			}
			if len(ts.NLL) != want.ScoredTokens {
				t.Fatalf("%d NLLs for %d scored tokens", len(ts.NLL), want.ScoredTokens)
			}
			var s float64
			for _, x := range ts.NLL {
				s += x
			}
			if math.Abs(s/float64(len(ts.NLL))-want.MeanNLL) > 1e-12 {
				t.Fatalf("mean of NLLs %v, MeanNLL %v", s/float64(len(ts.NLL)), want.MeanNLL)
			}
			if r == nil {
				if ts.KL != nil {
					t.Fatal("KL without a reference")
				}
				continue
			}
			s = 0
			for _, x := range ts.KL {
				s += x
			}
			if len(ts.KL) != len(ts.NLL) || math.Abs(s/float64(len(ts.KL))-want.KL.Mean) > 1e-12 {
				t.Fatalf("KL scores: mean %v of %d, want %v", s/float64(len(ts.KL)), len(ts.KL), want.KL.Mean)
			}
		}
	}
}

// TestPerplexityScoresByHand: a uniform model has NLL ln V at every scored
// position.
func TestPerplexityScoresByHand(t *testing.T) {
	uniform := &fakeScorer{vocab: 4, next: func([]int) []float32 { return make([]float32, 4) }}
	w, err := MakeWindows([]int{0, 1, 2, 3, 0, 1, 2, 3, 0}, ProtocolGPTQ, 4, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	_, ts, err := PerplexityScores(context.Background(), uniform, w, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ts.NLL) != 6 {
		t.Fatalf("%d scores, want 2 windows × 3", len(ts.NLL))
	}
	for _, x := range ts.NLL {
		if math.Abs(x-math.Log(4)) > 1e-12 {
			t.Fatalf("NLL %v, want ln 4", x)
		}
	}
}

func TestMultipleChoiceScoresAgreeWithMultipleChoice(t *testing.T) {
	// Token 3 is always likely, token 1 unlikely: choices are told apart
	// by which of them they contain.
	s := &fakeScorer{vocab: 4, next: func([]int) []float32 { return []float32{0, -2, 0, 2} }}
	reqs := []MCRequest{
		{Context: []int{0}, Continuations: [][]int{{3}, {1}}, ChoiceChars: []int{1, 1}, Label: 0},
		{Context: []int{0, 2}, Continuations: [][]int{{3, 3}, {1}}, ChoiceChars: []int{10, 1}, Label: 1},
		{Context: []int{2}, Continuations: [][]int{{1}, {3}}, ChoiceChars: []int{1, 1}, Label: 0},
	}
	want, err := MultipleChoice(context.Background(), s, reqs, Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	got, items, err := MultipleChoiceScores(context.Background(), s, reqs, Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got.Acc != want.Acc || got.AccNorm != want.AccNorm || got.Items != want.Items || got.EvaluatedTokens != want.EvaluatedTokens {
		t.Fatalf("result %+v, MultipleChoice %+v", got, want)
	}
	// By hand: item 1 picks {3} = label 0; item 2 picks {3,3} (2·(−0.24)
	// beats −4.24), not label 1; item 3 picks {3} ≠ label 0.
	wantAcc := []bool{true, false, false}
	for i, it := range items {
		if !it.Done || it.Acc != wantAcc[i] || len(it.LogLikelihoods) != 2 {
			t.Fatalf("item %d: %+v", i, it)
		}
	}
	if items[1].AccNorm {
		// log p(3) = 2 − log(e⁰+e⁻²+e⁰+e²) ≈ −0.2395; per char of 10:
		// −0.048 > log p(1)/1 ≈ −4.24, so acc_norm still picks choice 0.
		t.Fatalf("item 2 acc_norm: %+v", items[1])
	}
	if _, _, err := MultipleChoiceScores(context.Background(), s, []MCRequest{{Context: []int{0}, Continuations: [][]int{{3}}, ChoiceChars: []int{1}}}, Options{}); err == nil {
		t.Fatal("a one-choice request was accepted")
	}
}
