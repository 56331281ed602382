package eval

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// Protocol names a perplexity protocol. Numbers from different protocols
// (or different contexts) are not comparable and are never mixed.
type Protocol string

const (
	// ProtocolGPTQ is the protocol of the GPTQ, AWQ and TTQ papers (GPTQ's
	// datautils.get_wikitext2 + llama_eval / opt_eval): the text is tokenized
	// once with the tokenizer's default special tokens (one BOS at the very
	// start for Llama), cut into non-overlapping windows of Ctx tokens, the
	// remainder dropped; every token after the first of each window is
	// scored; PPL = exp(mean over windows of the window's mean NLL), which
	// equals exp(mean NLL over all scored tokens) because every window
	// scores Ctx−1 tokens.
	ProtocolGPTQ Protocol = "gptq"
	// ProtocolLlamaCpp is llama.cpp's llama-perplexity
	// (tools/perplexity/perplexity.cpp, perplexity()): the text is tokenized
	// with BOS in front when the vocabulary adds one, cut into n_ctx chunks
	// (the remainder dropped, at least 2·n_ctx tokens required); each chunk
	// is evaluated from an empty cache with its first token overwritten by
	// BOS, and only the logits at positions n_ctx/2 … n_ctx−2 are scored
	// (n_ctx−1−n_ctx/2 tokens per chunk, 255 at 512).
	ProtocolLlamaCpp Protocol = "llamacpp"
)

// ParseProtocol accepts "gptq" and "llamacpp".
func ParseProtocol(s string) (Protocol, error) {
	switch p := Protocol(s); p {
	case ProtocolGPTQ, ProtocolLlamaCpp:
		return p, nil
	}
	return "", fmt.Errorf("eval: protocol %q: want gptq or llamacpp", s)
}

// DefaultCtx returns the protocol's default window, 2048 for gptq (the
// papers' seqlen) and 512 for llamacpp (llama-perplexity's -c default),
// capped at the model's maximum positions (maxPositions ≤ 0: no cap), and
// whether it was capped (the papers use min(2048, max_position_embeddings)
// for short-context models, which must be reported).
func DefaultCtx(p Protocol, maxPositions int) (ctx int, capped bool) {
	ctx = 2048
	if p == ProtocolLlamaCpp {
		ctx = 512
	}
	if maxPositions > 0 && ctx > maxPositions {
		return maxPositions, true
	}
	return ctx, false
}

// TokenizeText encodes an evaluation text for a protocol under a BOS policy.
// It returns the token ids and, for llamacpp, the BOS id written over the
// first token of every window (-1 when none; always -1 for gptq, whose only
// BOS is the one the tokenizer puts at the start of the text).
//
// llamacpp tokenizes like common_tokenize(ctx, text, add_special=true) with a
// vocabulary that adds BOS but never EOS (perplexity.cpp asserts that): the
// text without special tokens, BOS in front when the policy says so.
func TokenizeText(tok Tokenizer, text string, p Protocol, policy BOSPolicy) ([]int, int, error) {
	switch p {
	case ProtocolGPTQ:
		ids, err := encodeSpecial(tok, text, policy)
		return ids, -1, err
	case ProtocolLlamaCpp:
		add := false
		switch policy {
		case BOSOn:
			if tok.BOS() < 0 {
				return nil, -1, fmt.Errorf("eval: BOS policy \"on\" but the tokenizer has no BOS token")
			}
			add = true
		case BOSAuto:
			var err error
			if add, err = addsBOS(tok); err != nil {
				return nil, -1, err
			}
		case BOSOff:
		default:
			return nil, -1, fmt.Errorf("eval: unknown BOS policy %q", policy)
		}
		ids, err := tok.Encode(text, false)
		if err != nil || !add {
			return ids, -1, err
		}
		return append([]int{tok.BOS()}, ids...), tok.BOS(), nil
	}
	return nil, -1, fmt.Errorf("eval: unknown protocol %q", p)
}

// Windows is a tokenized text cut into evaluation windows by a protocol.
type Windows struct {
	Protocol Protocol
	Ctx      int
	// Tokens is the whole tokenized text.
	Tokens []int
	// N windows are evaluated, of the Available ones in the text.
	N, Available int
	// First is the first scored logits row of a window: row j scores the
	// window's token j+1, for j = First … Ctx−2.
	First int
	// BOS (llamacpp) is written over each window's first token; -1: none.
	BOS int
}

// MakeWindows cuts tokens into the protocol's windows of ctx tokens, at most
// maxWindows of them (≤ 0: all). bos is TokenizeText's second result.
func MakeWindows(tokens []int, p Protocol, ctx, maxWindows, bos int) (*Windows, error) {
	w := &Windows{Protocol: p, Ctx: ctx, Tokens: tokens, BOS: -1}
	switch p {
	case ProtocolGPTQ:
		if ctx < 2 {
			return nil, fmt.Errorf("eval: gptq protocol needs a context of at least 2 tokens, got %d", ctx)
		}
		if len(tokens) < ctx {
			return nil, fmt.Errorf("eval: the text has %d tokens, fewer than one window of %d (use a longer text or a smaller --ctx)", len(tokens), ctx)
		}
	case ProtocolLlamaCpp:
		if ctx < 4 {
			return nil, fmt.Errorf("eval: llamacpp protocol needs a context of at least 4 tokens, got %d", ctx)
		}
		// llama-perplexity refuses texts shorter than two chunks.
		if len(tokens) < 2*ctx {
			return nil, fmt.Errorf("eval: the text has %d tokens; the llamacpp protocol needs at least 2×%d = %d (use a longer text or a smaller --ctx)", len(tokens), ctx, 2*ctx)
		}
		w.First = ctx / 2
		w.BOS = bos
	default:
		return nil, fmt.Errorf("eval: unknown protocol %q", p)
	}
	w.Available = len(tokens) / ctx
	w.N = w.Available
	if maxWindows > 0 && maxWindows < w.N {
		w.N = maxWindows
	}
	return w, nil
}

// Window copies window i into dst (grown as needed) with the protocol's BOS
// substitution applied.
func (w *Windows) Window(i int, dst []int) []int {
	dst = append(dst[:0], w.Tokens[i*w.Ctx:(i+1)*w.Ctx]...)
	if w.BOS >= 0 {
		dst[0] = w.BOS
	}
	return dst
}

// ScoredPerWindow is the number of tokens scored in each window.
func (w *Windows) ScoredPerWindow() int { return w.Ctx - 1 - w.First }

// Options control an evaluation run.
type Options struct {
	// Workers is how many windows (or items) are evaluated at once, each
	// with its own cache; ≤ 1 evaluates one at a time. Results do not depend
	// on it: they are accumulated in window order.
	Workers int
	// Progress, if set, is called after each finished window or item with
	// the count done, the total and the running metric (perplexity, or
	// accuracy for multiple choice). Calls are serialized.
	Progress func(done, total int, metric float64)
}

// PerplexityResult is a perplexity measurement. When the run is interrupted
// it covers the windows finished so far (Complete is false).
type PerplexityResult struct {
	Protocol Protocol `json:"protocol"`
	Ctx      int      `json:"ctx"`
	PPL      float64  `json:"ppl"`
	// PPLStdErr is llama.cpp's uncertainty: PPL · sqrt(Var(nll)/(n−1)) over
	// the per-token NLLs (the delta method on exp of their mean). The same
	// formula is used for gptq; tokens within a window are correlated, so it
	// understates the spread between texts.
	PPLStdErr     float64 `json:"ppl_stderr"`
	MeanNLL       float64 `json:"mean_nll"`
	MeanNLLStdErr float64 `json:"mean_nll_stderr"`
	// TextTokens is the length of the tokenized text; EvaluatedTokens =
	// Windows × Ctx went through the model; ScoredTokens were scored.
	TextTokens       int     `json:"text_tokens"`
	EvaluatedTokens  int     `json:"evaluated_tokens"`
	ScoredTokens     int     `json:"scored_tokens"`
	Windows          int     `json:"windows"`
	WindowsPlanned   int     `json:"windows_planned"`
	WindowsAvailable int     `json:"windows_available"`
	Complete         bool    `json:"complete"`
	Seconds          float64 `json:"seconds"`
	// TokensPerSecond is EvaluatedTokens / Seconds, the throughput
	// llama-perplexity reports.
	TokensPerSecond float64 `json:"tokens_per_second"`
	// KL compares against a reference model on the same windows.
	KL *KLResult `json:"kl,omitempty"`
}

// FullTextSeconds is how long every window of the text would take at this
// run's rate (Seconds per window done), 0 when no window was done.
func (r *PerplexityResult) FullTextSeconds() float64 {
	if r.Windows == 0 {
		return 0
	}
	return r.Seconds * float64(r.WindowsAvailable) / float64(r.Windows)
}

// windowStats holds one window's contribution; windows are summed in order
// at the end so that results do not depend on scheduling.
type windowStats struct {
	done bool
	nll  float64 // sum
	n    int
	// Welford's running mean and sum of squared deviations of the NLLs:
	// E[x²]−E[x]² from plain sums cancels catastrophically when the NLLs
	// are nearly equal (a uniform model would get a spurious ±1e-9).
	mean, m2 float64
	// With a reference scorer, per scored position:
	nllQ, nllBase, kld, pDiff []float64
	sameTop                   int
}

func (ws *windowStats) addNLL(x float64) {
	ws.nll += x
	ws.n++
	d := x - ws.mean
	ws.mean += d / float64(ws.n)
	ws.m2 += d * (x - ws.mean)
}

// mergeMoments combines two sets of moments (Chan et al.'s parallel formula).
func mergeMoments(n1 int, mean1, m21 float64, n2 int, mean2, m22 float64) (int, float64, float64) {
	n := n1 + n2
	if n == 0 {
		return 0, 0, 0
	}
	d := mean2 - mean1
	mean := mean1 + d*float64(n2)/float64(n)
	return n, mean, m21 + m22 + d*d*float64(n1)*float64(n2)/float64(n)
}

// Perplexity evaluates s on w's windows. With a non-nil ref (the
// full-precision reference model) it also measures the KL divergence of s's
// next-token distributions from ref's on the same scored positions.
//
// On context cancellation it returns the result for the windows finished so
// far together with ctx.Err().
func Perplexity(ctx context.Context, s Scorer, w *Windows, ref Scorer, opts Options) (*PerplexityResult, error) {
	res, _, err := PerplexityScores(ctx, s, w, ref, opts)
	return res, err
}

// KLDivergence compares the next-token distributions of test against those
// of base on w's windows (the scored positions of the protocol), as
// llama-perplexity --kl-divergence does.
func KLDivergence(ctx context.Context, base, test Scorer, w *Windows, opts Options) (*KLResult, error) {
	res, err := Perplexity(ctx, test, w, base, opts)
	if res == nil {
		return nil, err
	}
	return res.KL, err
}

func checkScorer(s Scorer, w *Windows, vocab int) error {
	if vocab <= 0 {
		return fmt.Errorf("eval: scorer has vocabulary size %d", vocab)
	}
	if mc := s.MaxContext(); mc > 0 && w.Ctx > mc {
		return fmt.Errorf("eval: context %d exceeds the model's maximum of %d positions", w.Ctx, mc)
	}
	for _, id := range w.Tokens[:w.N*w.Ctx] {
		if id < 0 || id >= vocab {
			return fmt.Errorf("eval: token id %d out of range for a vocabulary of %d", id, vocab)
		}
	}
	if w.BOS >= vocab {
		return fmt.Errorf("eval: BOS id %d out of range for a vocabulary of %d", w.BOS, vocab)
	}
	return nil
}

// scoreWindow runs one window through the scorer (and the reference) as a
// single batched forward pass and scores rows first … len(win)−2.
func scoreWindow(st, ref State, win []int, first, vocab int, lsA, lsB []float64) (windowStats, error) {
	st.Truncate(0)
	logits, err := st.Forward(win)
	if err != nil {
		return windowStats{}, err
	}
	if err := checkLogits(logits, len(win), vocab); err != nil {
		return windowStats{}, err
	}
	var rl []float32
	if ref != nil {
		ref.Truncate(0)
		if rl, err = ref.Forward(win); err != nil {
			return windowStats{}, fmt.Errorf("reference: %w", err)
		}
		if err := checkLogits(rl, len(win), vocab); err != nil {
			return windowStats{}, fmt.Errorf("reference: %w", err)
		}
	}
	var ws windowStats
	ws.done = true
	for j := first; j < len(win)-1; j++ {
		row := logits[j*vocab : (j+1)*vocab]
		tgt := win[j+1]
		if ref == nil {
			nll := -logProb(row, tgt)
			ws.addNLL(nll)
			ws.nllQ = append(ws.nllQ, nll)
			continue
		}
		rrow := rl[j*vocab : (j+1)*vocab]
		logSoftmax(lsA, row)
		logSoftmax(lsB, rrow)
		nll, nllBase := -lsA[tgt], -lsB[tgt]
		ws.addNLL(nll)
		ws.nllQ = append(ws.nllQ, nll)
		ws.nllBase = append(ws.nllBase, nllBase)
		// KL(base ‖ test) = Σ p_base (log p_base − log p_test), in float64
		// over the whole vocabulary. (llama.cpp stores the base log-probs
		// as 16-bit codes and skips p_base < e⁻¹⁶; the exact sum differs
		// from it only by that quantization.)
		var kl float64
		for k, lb := range lsB {
			kl += math.Exp(lb) * (lb - lsA[k])
		}
		ws.kld = append(ws.kld, kl)
		ws.pDiff = append(ws.pDiff, math.Exp(-nll)-math.Exp(-nllBase))
		_, ta := rowMax(row)
		_, tb := rowMax(rrow)
		if ta == tb {
			ws.sameTop++
		}
	}
	return ws, nil
}

// summarize adds up the finished windows in order.
func summarize(w *Windows, stats []windowStats, withRef bool) *PerplexityResult {
	res := &PerplexityResult{
		Protocol: w.Protocol, Ctx: w.Ctx, TextTokens: len(w.Tokens),
		WindowsPlanned: w.N, WindowsAvailable: w.Available,
	}
	var nll, mean, m2 float64
	var n int
	var kl klAccumulator
	for i := range stats {
		ws := &stats[i]
		if !ws.done {
			continue
		}
		res.Windows++
		nll += ws.nll
		n, mean, m2 = mergeMoments(n, mean, m2, ws.n, ws.mean, ws.m2)
		if withRef {
			kl.add(ws)
		}
	}
	res.ScoredTokens = n
	res.Complete = res.Windows == w.N
	res.EvaluatedTokens = res.Windows * w.Ctx
	if n > 0 {
		res.MeanNLL = nll / float64(n)
		res.MeanNLLStdErr = stdErrOfMean(m2, n)
		res.PPL = math.Exp(res.MeanNLL)
		res.PPLStdErr = res.PPL * res.MeanNLLStdErr
	}
	if withRef {
		res.KL = kl.result()
	}
	return res
}

// stdErrOfMean is llama-perplexity's uncertainty of a mean of n values,
// sqrt(Var/(n−1)) with Var = E[x²]−E[x]² the population variance, here from
// the sum of squared deviations m2 = n·Var (0 when n < 2).
func stdErrOfMean(m2 float64, n int) float64 {
	if n < 2 || m2 <= 0 {
		return 0
	}
	return math.Sqrt(m2 / float64(n) / float64(n-1))
}

// forEach runs items 0…n−1 on up to workers goroutines. setup is called once
// per goroutine to build its per-worker state. It stops handing out items at
// the first error or when ctx is cancelled, waits for running items, and
// returns the first error (or ctx.Err()).
func forEach(ctx context.Context, n, workers int, setup func() (func(i int) error, error)) error {
	workers = max(1, min(workers, n))
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var failed atomic.Bool
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		failed.Store(true)
	}
	run := func() {
		fn, err := setup()
		if err != nil {
			fail(err)
			return
		}
		for !failed.Load() {
			if err := ctx.Err(); err != nil {
				fail(err)
				return
			}
			i := int(next.Add(1)) - 1
			if i >= n {
				return
			}
			if err := fn(i); err != nil {
				fail(err)
				return
			}
		}
	}
	if workers == 1 {
		run()
		return firstErr
	}
	var wg sync.WaitGroup
	wg.Add(workers)
	for range workers {
		go func() {
			defer wg.Done()
			run()
		}()
	}
	wg.Wait()
	return firstErr
}
