package eval

import (
	"fmt"
	"sync"
)

// fakeScorer is a Scorer whose next-token logits are a function of the
// history, so that expected results can be derived by hand.
type fakeScorer struct {
	vocab, maxCtx int
	next          func(hist []int) []float32

	mu    sync.Mutex
	calls [][]int // every Forward's tokens, when record is set
	// record makes Forward keep its arguments (and positions) for inspection.
	record bool
	starts []int
}

func (f *fakeScorer) VocabSize() int  { return f.vocab }
func (f *fakeScorer) MaxContext() int { return f.maxCtx }
func (f *fakeScorer) NewState(capacity int) State {
	return &fakeState{f: f, capacity: capacity}
}

type fakeState struct {
	f        *fakeScorer
	hist     []int
	capacity int
}

func (s *fakeState) Forward(tokens []int) ([]float32, error) {
	if len(s.hist)+len(tokens) > s.capacity {
		return nil, fmt.Errorf("fake: %d + %d positions exceed capacity %d", len(s.hist), len(tokens), s.capacity)
	}
	if s.f.record {
		s.f.mu.Lock()
		s.f.calls = append(s.f.calls, append([]int(nil), tokens...))
		s.f.starts = append(s.f.starts, len(s.hist))
		s.f.mu.Unlock()
	}
	out := make([]float32, 0, len(tokens)*s.f.vocab)
	for _, t := range tokens {
		s.hist = append(s.hist, t)
		row := s.f.next(s.hist)
		if len(row) != s.f.vocab {
			panic("fake: bad row")
		}
		out = append(out, row...)
	}
	return out, nil
}

func (s *fakeState) Pos() int { return len(s.hist) }

func (s *fakeState) Truncate(n int) {
	if n < 0 || n > len(s.hist) {
		panic("fake: Truncate out of range")
	}
	s.hist = s.hist[:n]
}

// uniformScorer returns all-zero logits: every token has probability 1/V.
func uniformScorer(vocab int) *fakeScorer {
	zeros := make([]float32, vocab)
	return &fakeScorer{vocab: vocab, next: func([]int) []float32 { return zeros }}
}

// unigramScorer returns the same logits whatever the history.
func unigramScorer(logits []float32) *fakeScorer {
	return &fakeScorer{vocab: len(logits), next: func([]int) []float32 { return logits }}
}

// successorScorer gives the token after the last one, (t+1) mod V, the logit
// a and every other token 0.
func successorScorer(vocab int, a float32) *fakeScorer {
	rows := make([][]float32, vocab)
	for t := range rows {
		rows[t] = make([]float32, vocab)
		rows[t][(t+1)%vocab] = a
	}
	return &fakeScorer{vocab: vocab, next: func(h []int) []float32 { return rows[h[len(h)-1]] }}
}

// byteTokenizer maps each byte of the text to its own id; BOS is 256 and
// EOS 257, and Encode(…, true) prepends BOS (a Llama-style template).
type byteTokenizer struct {
	noBOS bool
	// merge, if set, fuses ": " into the single id 258, so that a token can
	// straddle a context/continuation boundary.
	merge bool
}

func (b byteTokenizer) Encode(text string, addSpecial bool) ([]int, error) {
	var ids []int
	if addSpecial && !b.noBOS {
		ids = append(ids, 256)
	}
	for i := 0; i < len(text); i++ {
		if b.merge && text[i] == ':' && i+1 < len(text) && text[i+1] == ' ' {
			ids = append(ids, 258)
			i++
			continue
		}
		ids = append(ids, int(text[i]))
	}
	return ids, nil
}

func (b byteTokenizer) BOS() int {
	if b.noBOS {
		return -1
	}
	return 256
}

func (b byteTokenizer) EOS() int { return 257 }
