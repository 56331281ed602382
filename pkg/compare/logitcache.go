package compare

import (
	"slices"
	"sync"

	"github.com/ttqproject/ttq/pkg/eval"
)

// LogitCache wraps the full-precision reference scorer so that its logits
// are computed once per evaluation window, not once per compared row: every
// row's KL divergence is measured against the same reference windows.
// Only whole sequences forwarded from position 0 are cached (that is how
// perplexity windows are scored), up to Budget bytes; beyond it the
// reference is simply recomputed.
type LogitCache struct {
	S      eval.Scorer
	Budget int64
	// Keep, if set, chooses which sequences are worth storing (the
	// perplexity windows, not multiple-choice contexts).
	Keep func(tokens []int) bool

	mu    sync.Mutex
	used  int64
	byKey map[uint64][]cachedLogits
}

type cachedLogits struct {
	tokens []int
	logits []float32
}

// NewLogitCache caches s's logits up to budget bytes.
func NewLogitCache(s eval.Scorer, budget int64) *LogitCache {
	return &LogitCache{S: s, Budget: budget, byKey: map[uint64][]cachedLogits{}}
}

func (c *LogitCache) VocabSize() int  { return c.S.VocabSize() }
func (c *LogitCache) MaxContext() int { return c.S.MaxContext() }

// StateBytes implements eval.StateSizer with the inner scorer's states (the
// cache's own budget is counted where it is set), 0 when it cannot say.
func (c *LogitCache) StateBytes(capacity, batch int) int64 {
	if z, ok := c.S.(eval.StateSizer); ok {
		return z.StateBytes(capacity, batch)
	}
	return 0
}

// NewState implements eval.Scorer; the inner state is created lazily, so
// that a row whose windows are all cached never allocates a KV cache.
func (c *LogitCache) NewState(capacity int) eval.State {
	return &cacheState{c: c, capacity: capacity}
}

func key(tokens []int) uint64 {
	// FNV-1a over the ids; collisions are resolved by comparing tokens.
	h := uint64(14695981039346656037)
	for _, t := range tokens {
		h ^= uint64(uint32(t))
		h *= 1099511628211
	}
	return h
}

func (c *LogitCache) lookup(tokens []int) []float32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.byKey[key(tokens)] {
		if slices.Equal(e.tokens, tokens) {
			return e.logits
		}
	}
	return nil
}

func (c *LogitCache) store(tokens []int, logits []float32) {
	size := int64(4*len(logits) + 8*len(tokens))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.used+size > c.Budget {
		return
	}
	c.used += size
	k := key(tokens)
	c.byKey[k] = append(c.byKey[k], cachedLogits{slices.Clone(tokens), slices.Clone(logits)})
}

type cacheState struct {
	c        *LogitCache
	capacity int
	inner    eval.State
	pos      int
	// pending are positions whose logits were replayed from the cache but
	// that the inner state has not run; a continuation runs them first.
	pending []int
}

func (s *cacheState) Forward(tokens []int) ([]float32, error) {
	if s.pos == 0 {
		if l := s.c.lookup(tokens); l != nil {
			s.pending = append(s.pending[:0], tokens...)
			s.pos = len(tokens)
			return l, nil
		}
	}
	if s.inner == nil {
		s.inner = s.c.S.NewState(s.capacity)
	}
	if len(s.pending) > 0 {
		s.inner.Truncate(0)
		if _, err := s.inner.Forward(s.pending); err != nil {
			return nil, err
		}
		s.pending = s.pending[:0]
	}
	start := s.pos
	l, err := s.inner.Forward(tokens)
	if err != nil {
		return nil, err
	}
	s.pos += len(tokens)
	if start == 0 && (s.c.Keep == nil || s.c.Keep(tokens)) {
		s.c.store(tokens, l)
	}
	return l, nil
}

func (s *cacheState) Pos() int { return s.pos }

func (s *cacheState) Truncate(n int) {
	if len(s.pending) > 0 {
		s.pending = s.pending[:n]
	} else if s.inner != nil {
		s.inner.Truncate(n)
	}
	s.pos = n
}
