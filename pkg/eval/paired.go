package eval

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// TokenScores are the per-position scores behind a perplexity result, in
// window order: what paired comparisons of two models on the same windows
// need (the standard error of the per-token NLL differences is far smaller
// than two independent error bars, because the models' NLLs are strongly
// correlated).
type TokenScores struct {
	// NLL is −log p(token) at every scored position of the finished
	// windows.
	NLL []float64
	// KL is KL(reference ‖ model) at the same positions; nil without a
	// reference scorer.
	KL []float64
}

// PerplexityScores is Perplexity that also returns the per-position scores
// (Perplexity is this function with the scores dropped).
//
// On context cancellation it returns the result and scores of the windows
// finished so far together with ctx.Err().
func PerplexityScores(ctx context.Context, s Scorer, w *Windows, ref Scorer, opts Options) (*PerplexityResult, *TokenScores, error) {
	vocab := s.VocabSize()
	if err := checkScorer(s, w, vocab); err != nil {
		return nil, nil, err
	}
	if ref != nil {
		if ref.VocabSize() != vocab {
			return nil, nil, fmt.Errorf("eval: reference vocabulary %d differs from the model's %d", ref.VocabSize(), vocab)
		}
		if err := checkScorer(ref, w, vocab); err != nil {
			return nil, nil, fmt.Errorf("reference: %w", err)
		}
	}
	if err := checkStateMemory(opts.Workers, w.N, w.Ctx, w.Ctx, "--ctx", s, ref); err != nil {
		return nil, nil, err
	}
	stats := make([]windowStats, w.N)
	start := time.Now()
	var mu sync.Mutex
	var runNLL float64
	var runN, done int
	err := forEach(ctx, w.N, opts.Workers, func() (func(i int) error, error) {
		st := s.NewState(w.Ctx)
		var rst State
		if ref != nil {
			rst = ref.NewState(w.Ctx)
		}
		var buf []int
		var lsA, lsB []float64
		if ref != nil {
			lsA, lsB = make([]float64, vocab), make([]float64, vocab)
		}
		return func(i int) error {
			buf = w.Window(i, buf)
			ws, err := scoreWindow(st, rst, buf, w.First, vocab, lsA, lsB)
			if err != nil {
				return fmt.Errorf("window %d: %w", i, err)
			}
			stats[i] = ws
			mu.Lock()
			defer mu.Unlock()
			done++
			runNLL += ws.nll
			runN += ws.n
			if opts.Progress != nil {
				opts.Progress(done, w.N, math.Exp(runNLL/float64(runN)))
			}
			return nil
		}, nil
	})
	elapsed := time.Since(start).Seconds()
	if err != nil && ctx.Err() == nil {
		return nil, nil, err
	}
	res := summarize(w, stats, ref != nil)
	res.Seconds = elapsed
	if elapsed > 0 {
		res.TokensPerSecond = float64(res.EvaluatedTokens) / elapsed
	}
	ts := &TokenScores{}
	for i := range stats {
		if !stats[i].done {
			continue
		}
		ts.NLL = append(ts.NLL, stats[i].nllQ...)
		if ref != nil {
			ts.KL = append(ts.KL, stats[i].kld...)
		}
	}
	if ref != nil && ts.KL == nil {
		ts.KL = []float64{}
	}
	if !res.Complete {
		return res, ts, ctx.Err()
	}
	return res, ts, nil
}

// ItemScore is one multiple-choice item's outcome.
type ItemScore struct {
	// Done is false for items not reached before a cancellation.
	Done    bool
	Acc     bool
	AccNorm bool
	// LogLikelihoods of the choices, in order.
	LogLikelihoods []float64
}

// MultipleChoiceScores is MultipleChoice that also returns every item's
// outcome (index-aligned with reqs), for paired tests such as McNemar's
// between two models on the same items (MultipleChoice is this function
// with the outcomes dropped).
func MultipleChoiceScores(ctx context.Context, s Scorer, reqs []MCRequest, opts Options) (*MCResult, []ItemScore, error) {
	items := make([]ItemScore, len(reqs))
	var mu sync.Mutex
	var done, correct int
	vocab := s.VocabSize()
	maxLen := s.MaxContext()
	capacity, err := mcCapacity(reqs, vocab, maxLen)
	if err != nil {
		return nil, nil, err
	}
	// A request's longest choice is one forward of context + continuation.
	if err := checkStateMemory(opts.Workers, len(reqs), capacity, capacity, "the longest item (context + choice)", s); err != nil {
		return nil, nil, err
	}
	stats := make([]itemStats, len(reqs))
	start := time.Now()
	err = forEach(ctx, len(reqs), opts.Workers, func() (func(i int) error, error) {
		st := s.NewState(capacity)
		var seq []int
		return func(i int) error {
			is, err := scoreItem(st, &reqs[i], vocab, maxLen, &seq)
			if err != nil {
				return fmt.Errorf("item %d: %w", i+1, err)
			}
			stats[i] = is
			items[i] = ItemScore{Done: true, Acc: is.acc, AccNorm: is.accNorm, LogLikelihoods: is.lls}
			mu.Lock()
			defer mu.Unlock()
			done++
			if is.acc {
				correct++
			}
			if opts.Progress != nil {
				opts.Progress(done, len(reqs), float64(correct)/float64(done))
			}
			return nil
		}, nil
	})
	elapsed := time.Since(start).Seconds()
	if err != nil && ctx.Err() == nil {
		return nil, nil, err
	}
	res := &MCResult{ItemsPlanned: len(reqs), Seconds: elapsed}
	var acc, accNorm []float64
	for _, is := range stats {
		if !is.done {
			continue
		}
		res.Items++
		acc = append(acc, b2f(is.acc))
		accNorm = append(accNorm, b2f(is.accNorm))
		res.SharedPrefixChoices += is.shared
		res.FullPassChoices += is.full
		res.TruncatedChoices += is.truncatedConts
		res.EvaluatedTokens += is.evaluatedToks
	}
	res.Complete = res.Items == len(reqs)
	res.Acc, res.AccStdErr = meanStderr(acc)
	res.AccNorm, res.AccNormStdErr = meanStderr(accNorm)
	if elapsed > 0 {
		res.TokensPerSecond = float64(res.EvaluatedTokens) / elapsed
	}
	if !res.Complete {
		return res, items, ctx.Err()
	}
	return res, items, nil
}

// mcCapacity validates requests as MultipleChoice does and returns the cache
// capacity they need.
func mcCapacity(reqs []MCRequest, vocab, maxLen int) (int, error) {
	capacity := 1
	for i, r := range reqs {
		if len(r.Continuations) < 2 || len(r.ChoiceChars) != len(r.Continuations) || r.Label < 0 || r.Label >= len(r.Continuations) {
			return 0, fmt.Errorf("eval: request %d is malformed", i+1)
		}
		if len(r.Context) == 0 {
			return 0, fmt.Errorf("eval: request %d has an empty context", i+1)
		}
		for _, id := range r.Context {
			if id < 0 || id >= vocab {
				return 0, fmt.Errorf("eval: request %d: token id %d out of range for a vocabulary of %d", i+1, id, vocab)
			}
		}
		for _, c := range r.Continuations {
			if len(c) == 0 {
				return 0, fmt.Errorf("eval: request %d has an empty continuation", i+1)
			}
			for _, id := range c {
				if id < 0 || id >= vocab {
					return 0, fmt.Errorf("eval: request %d: token id %d out of range for a vocabulary of %d", i+1, id, vocab)
				}
			}
			need := len(r.Context) + len(c) - 1
			if maxLen > 0 {
				need = min(need, maxLen)
			}
			capacity = max(capacity, need)
		}
	}
	return capacity, nil
}
