package eval

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func randomTokens(n, vocab int, seed uint64) []int {
	r := rand.New(rand.NewPCG(seed, 1))
	ids := make([]int, n)
	for i := range ids {
		ids[i] = r.IntN(vocab)
	}
	return ids
}

func relErr(a, b float64) float64 { return math.Abs(a-b) / math.Abs(b) }

// A model that puts equal probability on every token has perplexity exactly
// the vocabulary size, whatever the text and protocol.
func TestUniformScorerPPLEqualsVocab(t *testing.T) {
	for _, vocab := range []int{2, 37, 512} {
		for _, p := range []Protocol{ProtocolGPTQ, ProtocolLlamaCpp} {
			toks := randomTokens(1000, vocab, uint64(vocab))
			w, err := MakeWindows(toks, p, 64, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Perplexity(context.Background(), uniformScorer(vocab), w, nil, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if relErr(res.PPL, float64(vocab)) > 1e-12 || res.PPLStdErr != 0 {
				t.Errorf("%s, vocab %d: PPL %v ± %v, want exactly %d ± 0", p, vocab, res.PPL, res.PPLStdErr, vocab)
			}
			if res.Windows != 15 || !res.Complete || res.ScoredTokens != 15*w.ScoredPerWindow() || res.EvaluatedTokens != 15*64 {
				t.Errorf("%s: %+v", p, res)
			}
		}
	}
}

// windowsOf records the windows a scorer was given.
func windowsOf(t *testing.T, toks []int, p Protocol, ctx, maxWindows, bos int) ([][]int, *PerplexityResult) {
	t.Helper()
	f := uniformScorer(300)
	f.record = true
	w, err := MakeWindows(toks, p, ctx, maxWindows, bos)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Perplexity(context.Background(), f, w, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range f.starts {
		if s != 0 {
			t.Fatalf("a window did not start from an empty cache (at %d)", s)
		}
	}
	return f.calls, res
}

func seq(lo, hi int) []int {
	var s []int
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}

func TestChunking(t *testing.T) {
	// Exact multiple: every token is in a window.
	calls, res := windowsOf(t, seq(0, 30), ProtocolGPTQ, 10, 0, -1)
	if len(calls) != 3 || res.ScoredTokens != 27 || res.WindowsAvailable != 3 {
		t.Fatalf("exact multiple: %d windows, %d scored", len(calls), res.ScoredTokens)
	}
	for i, c := range calls {
		if !slicesEqual(c, seq(10*i, 10*i+10)) {
			t.Fatalf("window %d = %v", i, c)
		}
	}
	// Remainder dropped, never padded or carried into the next window.
	calls, res = windowsOf(t, seq(0, 39), ProtocolGPTQ, 10, 0, -1)
	if len(calls) != 3 || res.TextTokens != 39 || res.EvaluatedTokens != 30 || !slicesEqual(calls[2], seq(20, 30)) {
		t.Fatalf("remainder: %d windows, %+v", len(calls), res)
	}
	// One window exactly.
	calls, _ = windowsOf(t, seq(0, 10), ProtocolGPTQ, 10, 0, -1)
	if len(calls) != 1 {
		t.Fatalf("one window: %d", len(calls))
	}
	// --max-windows takes the first windows.
	calls, res = windowsOf(t, seq(0, 50), ProtocolGPTQ, 10, 2, -1)
	if len(calls) != 2 || res.WindowsAvailable != 5 || res.WindowsPlanned != 2 || !slicesEqual(calls[1], seq(10, 20)) {
		t.Fatalf("max windows: %d, %+v", len(calls), res)
	}
	// llamacpp: BOS overwrites each chunk's first token; the text is not
	// changed.
	toks := seq(0, 25)
	calls, res = windowsOf(t, toks, ProtocolLlamaCpp, 8, 0, 299)
	want := [][]int{{299, 1, 2, 3, 4, 5, 6, 7}, {299, 9, 10, 11, 12, 13, 14, 15}, {299, 17, 18, 19, 20, 21, 22, 23}}
	if len(calls) != 3 || res.ScoredTokens != 3*3 {
		t.Fatalf("llamacpp: %d windows, %d scored", len(calls), res.ScoredTokens)
	}
	for i := range want {
		if !slicesEqual(calls[i], want[i]) {
			t.Fatalf("llamacpp window %d = %v, want %v", i, calls[i], want[i])
		}
	}
	if toks[8] != 8 {
		t.Fatal("the BOS substitution changed the caller's tokens")
	}
	// Without BOS the chunks are the raw tokens.
	calls, _ = windowsOf(t, seq(0, 16), ProtocolLlamaCpp, 8, 0, -1)
	if !slicesEqual(calls[1], seq(8, 16)) {
		t.Fatalf("llamacpp without BOS: %v", calls[1])
	}
}

func TestChunkingErrors(t *testing.T) {
	for _, c := range []struct {
		n   int
		p   Protocol
		ctx int
		msg string
	}{
		{9, ProtocolGPTQ, 10, "fewer than one window"},
		{0, ProtocolGPTQ, 10, "fewer than one window"},
		{15, ProtocolLlamaCpp, 8, "at least 2×8"},
		{100, ProtocolGPTQ, 1, "at least 2"},
		{100, ProtocolLlamaCpp, 3, "at least 4"},
		{100, "other", 8, "unknown protocol"},
	} {
		_, err := MakeWindows(seq(0, c.n), c.p, c.ctx, 0, -1)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%d tokens, %s ctx %d: error %v, want %q", c.n, c.p, c.ctx, err, c.msg)
		}
	}
	// Sixteen tokens are enough for two llamacpp chunks of 8.
	if _, err := MakeWindows(seq(0, 16), ProtocolLlamaCpp, 8, 0, -1); err != nil {
		t.Fatal(err)
	}
	// Context above the model's maximum, token ids outside the vocabulary.
	w, _ := MakeWindows(seq(0, 64), ProtocolGPTQ, 32, 0, -1)
	f := uniformScorer(100)
	f.maxCtx = 16
	if _, err := Perplexity(context.Background(), f, w, nil, Options{}); err == nil || !strings.Contains(err.Error(), "maximum of 16") {
		t.Errorf("context over the maximum: %v", err)
	}
	if _, err := Perplexity(context.Background(), uniformScorer(50), w, nil, Options{}); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("token outside the vocabulary: %v", err)
	}
}

// With a model that predicts the successor of the last token with logit a,
// a correct prediction costs −log(eᵃ/(eᵃ+V−1)) and a wrong one
// −log(1/(eᵃ+V−1)). The windows below are built so that the two protocols
// score different positions, and the expected PPL and its standard error
// follow by hand.
func TestPerplexityScoresTheProtocolsPositions(t *testing.T) {
	const vocab, a = 10, 2.0
	z := math.Exp(a) + vocab - 1
	good, bad := -(a - math.Log(z)), math.Log(z)
	// One window of 8: first half scrambled, second half counting upward.
	win := []int{7, 3, 9, 5, 4, 5, 6, 7}
	toks := append(append([]int{}, win...), win...) // two windows
	f := successorScorer(vocab, a)

	// gptq scores rows 0…6: pairs (7,3) (3,9) (9,5) (5,4) wrong, (4,5) (5,6) (6,7) right.
	w, _ := MakeWindows(toks, ProtocolGPTQ, 8, 0, -1)
	res, err := Perplexity(context.Background(), f, w, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, res *PerplexityResult, nGood, nBad int) {
		t.Helper()
		n := float64(nGood + nBad)
		mean := (float64(nGood)*good + float64(nBad)*bad) / n
		m2 := (float64(nGood)*good*good + float64(nBad)*bad*bad) / n
		se := math.Sqrt((m2 - mean*mean) / (n - 1))
		if relErr(res.PPL, math.Exp(mean)) > 1e-12 || relErr(res.PPLStdErr, math.Exp(mean)*se) > 1e-9 {
			t.Errorf("%s: PPL %v ± %v, want %v ± %v", name, res.PPL, res.PPLStdErr, math.Exp(mean), math.Exp(mean)*se)
		}
		if res.ScoredTokens != nGood+nBad {
			t.Errorf("%s: %d scored, want %d", name, res.ScoredTokens, nGood+nBad)
		}
	}
	check("gptq", res, 2*3, 2*4)

	// llamacpp scores rows 4…6 only: (4,5) (5,6) (6,7), all right. BOS
	// (here 0) over the first token changes nothing it scores.
	w, _ = MakeWindows(toks, ProtocolLlamaCpp, 8, 0, 0)
	res, err = Perplexity(context.Background(), f, w, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if relErr(res.PPL, math.Exp(good)) > 1e-12 || res.PPLStdErr > 1e-12 || res.ScoredTokens != 6 {
		t.Errorf("llamacpp: %+v, want PPL %v", res, math.Exp(good))
	}
	// A wrong prediction in the scored half shows up.
	win2 := []int{7, 3, 9, 5, 4, 5, 1, 2}
	toks = append(append([]int{}, win2...), win2...)
	w, _ = MakeWindows(toks, ProtocolLlamaCpp, 8, 0, -1)
	res, _ = Perplexity(context.Background(), f, w, nil, Options{})
	check("llamacpp", res, 2*2, 2*1)
}

func TestWorkersGiveIdenticalResults(t *testing.T) {
	toks := randomTokens(4000, 50, 3)
	f := successorScorer(50, 1.5)
	w, _ := MakeWindows(toks, ProtocolGPTQ, 100, 0, -1)
	one, err := Perplexity(context.Background(), f, w, nil, Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, workers := range []int{2, 3, 64} {
		many, err := Perplexity(context.Background(), f, w, nil, Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		if many.PPL != one.PPL || many.PPLStdErr != one.PPLStdErr || many.ScoredTokens != one.ScoredTokens {
			t.Fatalf("workers %d: %v ± %v, one worker: %v ± %v", workers, many.PPL, many.PPLStdErr, one.PPL, one.PPLStdErr)
		}
	}
}

func TestPerplexityCancelReturnsPartialResult(t *testing.T) {
	toks := randomTokens(1000, 20, 4)
	w, _ := MakeWindows(toks, ProtocolGPTQ, 100, 0, -1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var progress []int
	res, err := Perplexity(ctx, uniformScorer(20), w, nil, Options{Progress: func(done, total int, ppl float64) {
		progress = append(progress, done)
		if total != 10 || math.Abs(ppl-20) > 1e-9 {
			t.Errorf("progress %d/%d ppl %v", done, total, ppl)
		}
		if done == 3 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if res == nil || res.Complete || res.Windows != 3 || res.ScoredTokens != 3*99 || math.Abs(res.PPL-20) > 1e-9 {
		t.Fatalf("partial result %+v", res)
	}
	if len(progress) != 3 {
		t.Fatalf("progress calls %v", progress)
	}
	// Cancelled before the first window: an empty partial result.
	res, err = Perplexity(ctx, uniformScorer(20), w, nil, Options{})
	if !errors.Is(err, context.Canceled) || res.Windows != 0 || res.PPL != 0 {
		t.Fatalf("cancelled run: %+v, %v", res, err)
	}
}

func TestScorerErrorsPropagate(t *testing.T) {
	w, _ := MakeWindows(seq(0, 40), ProtocolGPTQ, 10, 0, -1)
	short := &fakeScorer{vocab: 50, next: func([]int) []float32 { return make([]float32, 50) }}
	bad := &badScorer{short}
	if _, err := Perplexity(context.Background(), bad, w, nil, Options{Workers: 2}); err == nil || !strings.Contains(err.Error(), "logits") {
		t.Fatalf("short logits: %v", err)
	}
}

// badScorer returns one logit too few.
type badScorer struct{ *fakeScorer }

func (b *badScorer) NewState(c int) State { return &badState{b.fakeScorer.NewState(c)} }

type badState struct{ State }

func (b *badState) Forward(t []int) ([]float32, error) {
	l, err := b.State.Forward(t)
	return l[:len(l)-1], err
}

func TestTokenizeText(t *testing.T) {
	tok := byteTokenizer{}
	ids, bos, err := TokenizeText(tok, "ab", ProtocolGPTQ, BOSAuto)
	if err != nil || bos != -1 || !slicesEqual(ids, []int{256, 'a', 'b'}) {
		t.Fatalf("gptq auto: %v %d %v", ids, bos, err)
	}
	ids, _, _ = TokenizeText(tok, "ab", ProtocolGPTQ, BOSOff)
	if !slicesEqual(ids, []int{'a', 'b'}) {
		t.Fatalf("gptq off: %v", ids)
	}
	ids, bos, _ = TokenizeText(tok, "ab", ProtocolLlamaCpp, BOSAuto)
	if bos != 256 || !slicesEqual(ids, []int{256, 'a', 'b'}) {
		t.Fatalf("llamacpp auto: %v %d", ids, bos)
	}
	ids, bos, _ = TokenizeText(tok, "ab", ProtocolLlamaCpp, BOSOff)
	if bos != -1 || !slicesEqual(ids, []int{'a', 'b'}) {
		t.Fatalf("llamacpp off: %v %d", ids, bos)
	}
	// A tokenizer whose template adds no BOS (Qwen-style): auto adds none,
	// on forces one, and on fails when there is none to add.
	nob := byteTokenizer{noBOS: true}
	ids, bos, _ = TokenizeText(nob, "ab", ProtocolLlamaCpp, BOSAuto)
	if bos != -1 || len(ids) != 2 {
		t.Fatalf("no-BOS tokenizer, auto: %v %d", ids, bos)
	}
	if _, _, err := TokenizeText(nob, "ab", ProtocolLlamaCpp, BOSOn); err == nil {
		t.Fatal("BOS on without a BOS token: no error")
	}
	if _, _, err := TokenizeText(nob, "ab", ProtocolGPTQ, BOSOn); err == nil {
		t.Fatal("BOS on without a BOS token (gptq): no error")
	}
	qwen := templateFreeTokenizer{}
	ids, _, _ = TokenizeText(qwen, "ab", ProtocolGPTQ, BOSOn)
	if !slicesEqual(ids, []int{256, 'a', 'b'}) {
		t.Fatalf("gptq on with a template that adds no BOS: %v", ids)
	}
}

// templateFreeTokenizer defines BOS but its template does not add it.
type templateFreeTokenizer struct{ byteTokenizer }

func (templateFreeTokenizer) Encode(text string, _ bool) ([]int, error) {
	return byteTokenizer{}.Encode(text, false)
}

func TestParseOptions(t *testing.T) {
	if p, err := ParseProtocol("llamacpp"); err != nil || p != ProtocolLlamaCpp {
		t.Fatal(p, err)
	}
	if _, err := ParseProtocol("wikitext"); err == nil {
		t.Fatal("bad protocol accepted")
	}
	if _, err := ParseBOSPolicy("yes"); err == nil {
		t.Fatal("bad BOS policy accepted")
	}
	for _, c := range []struct {
		p       Protocol
		maxPos  int
		ctx     int
		capped  bool
		comment string
	}{
		{ProtocolGPTQ, 4096, 2048, false, "papers' seqlen"},
		{ProtocolGPTQ, 512, 512, true, "min(2048, max_position_embeddings)"},
		{ProtocolGPTQ, 0, 2048, false, "no known maximum"},
		{ProtocolLlamaCpp, 4096, 512, false, "llama-perplexity -c default"},
		{ProtocolLlamaCpp, 256, 256, true, "capped"},
	} {
		ctx, capped := DefaultCtx(c.p, c.maxPos)
		if ctx != c.ctx || capped != c.capped {
			t.Errorf("%s max %d: %d %v (%s)", c.p, c.maxPos, ctx, capped, c.comment)
		}
	}
}

// A scorer whose logits turn NaN or Inf at one position must stop both
// protocols with an error naming where, never yield a NaN score.
func TestNonFiniteLogitsAreErrors(t *testing.T) {
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		s := &fakeScorer{vocab: 20, next: func(h []int) []float32 {
			row := make([]float32, 20)
			if len(h) == 5 {
				row[7] = bad
			}
			return row
		}}
		w, _ := MakeWindows(seq(0, 19), ProtocolGPTQ, 10, 0, -1)
		_, err := Perplexity(context.Background(), s, w, nil, Options{Workers: 2})
		if err == nil || !strings.Contains(err.Error(), "position 4 of the sequence, token id 7") {
			t.Fatalf("perplexity with %v logits: %v", bad, err)
		}
		_, err = Perplexity(context.Background(), uniformScorer(20), w, s, Options{})
		if err == nil || !strings.Contains(err.Error(), "reference: ") {
			t.Fatalf("reference with %v logits: %v", bad, err)
		}
		reqs := []MCRequest{{Context: []int{1, 2, 3}, Continuations: [][]int{{2, 3, 4}, {3}}, ChoiceChars: []int{1, 2}}}
		_, err = MultipleChoice(context.Background(), s, reqs, Options{})
		if err == nil || !strings.Contains(err.Error(), "item 1: ") || !strings.Contains(err.Error(), "non-finite") {
			t.Fatalf("multiple choice with %v logits: %v", bad, err)
		}
	}
}
