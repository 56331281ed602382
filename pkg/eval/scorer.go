package eval

import (
	"fmt"

	"github.com/ttqproject/ttq/internal/sysmem"
	"github.com/ttqproject/ttq/pkg/model"
)

// Scorer is the language model under evaluation, reduced to what the
// protocols need: next-token logits through a key/value cache. Keeping it
// this small lets tests plug in fake scorers with known distributions and
// keeps pkg/eval independent of how the model is implemented or quantized.
type Scorer interface {
	// VocabSize is the width of a logits row.
	VocabSize() int
	// MaxContext is the longest sequence the scorer accepts; 0 means no limit.
	MaxContext() int
	// NewState returns an empty cache for up to capacity positions. When an
	// evaluation runs with Workers > 1, NewState and the states' methods are
	// called from several goroutines at once (each state by one goroutine).
	NewState(capacity int) State
}

// State is one sequence's cache.
type State interface {
	// Forward appends tokens after the cached positions and returns
	// len(tokens) rows of VocabSize logits, row i predicting the token that
	// follows tokens[i].
	Forward(tokens []int) ([]float32, error)
	// Pos is the number of cached positions.
	Pos() int
	// Truncate drops cached positions from n on (0 empties the cache).
	Truncate(n int)
}

// StateSizer is implemented by scorers that know what one state costs: the
// bytes of a state with room for capacity positions while a forward of
// batch tokens runs. Evaluations use it to refuse, before allocating, a run
// whose parallel states would not fit in the machine's memory.
type StateSizer interface {
	StateBytes(capacity, batch int) int64
}

// ModelScorer adapts a *model.Model. Each Forward is one batched prefill of
// the whole token slice. A model whose linear layers are all model.Dense is
// safe for concurrent use on distinct states; replacement layers installed
// with SetLinear must be too before Workers > 1 is used.
type ModelScorer struct {
	M *model.Model
}

// FromModel returns a Scorer for m.
func FromModel(m *model.Model) *ModelScorer { return &ModelScorer{M: m} }

// VocabSize implements Scorer.
func (s *ModelScorer) VocabSize() int { return s.M.Config.VocabSize }

// MaxContext implements Scorer.
func (s *ModelScorer) MaxContext() int { return s.M.Config.MaxPositions }

// StateBytes implements StateSizer.
func (s *ModelScorer) StateBytes(capacity, batch int) int64 {
	return s.M.Config.StateBytes(capacity, batch)
}

// NewState implements Scorer.
func (s *ModelScorer) NewState(capacity int) State {
	return &modelState{m: s.M, st: s.M.NewState(capacity)}
}

type modelState struct {
	m  *model.Model
	st *model.State
}

func (s *modelState) Forward(tokens []int) ([]float32, error) {
	return s.m.Forward(s.st, tokens, model.AllLogits)
}

func (s *modelState) Pos() int { return s.st.Pos() }

func (s *modelState) Truncate(n int) { s.st.Truncate(n) }

// Tokenizer is what the protocols need from a tokenizer; *tokenizer.Tokenizer
// implements it.
type Tokenizer interface {
	// Encode tokenizes text; addSpecial applies the tokenizer's template
	// (the BOS/EOS policy of its tokenizer.json / tokenizer_config.json).
	Encode(text string, addSpecial bool) ([]int, error)
	// BOS and EOS return the special ids, or -1.
	BOS() int
	EOS() int
}

// BOSPolicy says whether a beginning-of-sequence token starts the evaluated
// sequences. Scores of many models change a lot with it
// (EleutherAI/lm-evaluation-harness#2676), so it is always recorded.
type BOSPolicy string

const (
	// BOSAuto follows the tokenizer's template: what Encode(text, true) does.
	BOSAuto BOSPolicy = "auto"
	// BOSOn always starts with BOS (the tokenizer must define one).
	BOSOn BOSPolicy = "on"
	// BOSOff never adds special tokens.
	BOSOff BOSPolicy = "off"
)

// ParseBOSPolicy accepts "auto", "on" and "off".
func ParseBOSPolicy(s string) (BOSPolicy, error) {
	switch p := BOSPolicy(s); p {
	case BOSAuto, BOSOn, BOSOff:
		return p, nil
	}
	return "", fmt.Errorf("eval: BOS policy %q: want auto, on or off", s)
}

// addsBOS reports whether the tokenizer's template puts BOS in front of a
// text. It is probed rather than read from configuration so that any
// Tokenizer works: "Encode(…, true) starts with BOS" is the definition.
func addsBOS(tok Tokenizer) (bool, error) {
	bos := tok.BOS()
	if bos < 0 {
		return false, nil
	}
	ids, err := tok.Encode("a", true)
	if err != nil {
		return false, err
	}
	return len(ids) > 0 && ids[0] == bos, nil
}

// encodeSpecial tokenizes text under a BOS policy the way a model's default
// tokenizer call would: auto keeps the template (as Hugging Face's
// tokenizer(text) does), on additionally guarantees a leading BOS, off
// applies no template at all.
func encodeSpecial(tok Tokenizer, text string, p BOSPolicy) ([]int, error) {
	switch p {
	case BOSOff:
		return tok.Encode(text, false)
	case BOSAuto:
		return tok.Encode(text, true)
	case BOSOn:
		bos := tok.BOS()
		if bos < 0 {
			return nil, fmt.Errorf("eval: BOS policy \"on\" but the tokenizer has no BOS token")
		}
		ids, err := tok.Encode(text, true)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 || ids[0] != bos {
			ids = append([]int{bos}, ids...)
		}
		return ids, nil
	}
	return nil, fmt.Errorf("eval: unknown BOS policy %q", p)
}

// checkStateMemory refuses an evaluation whose states (one per worker and
// scorer, each for capacity positions with a forward of batch tokens)
// exceed the memory available, naming the flag that shrinks them: shrink
// when one worker runs, "--parallel or "+shrink when several do. Scorers
// that cannot size their states are not counted.
func checkStateMemory(workers, items, capacity, batch int, shrink string, scorers ...Scorer) error {
	var per int64
	for _, s := range scorers {
		if z, ok := s.(StateSizer); ok {
			per += z.StateBytes(capacity, batch)
		}
	}
	n := int64(max(1, min(workers, items)))
	if n > 1 {
		shrink = "--parallel or " + shrink
	}
	return sysmem.Check(n*per, "the KV caches and activations of the evaluation", shrink)
}
