package model

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/ttqproject/ttq/internal/sysmem"
	"github.com/ttqproject/ttq/pkg/model/tokenizer"
)

// GenerateOptions configure Generate.
type GenerateOptions struct {
	Prompt string
	// NoBOS leaves the tokenizer's BOS off the prompt.
	NoBOS bool
	// MaxTokens is the most tokens generated after the prompt.
	MaxTokens int
	// Temperature 0 is greedy decoding; TopP and Seed drive the sampler
	// otherwise (NewSampler).
	Temperature float64
	TopP        float64
	Seed        uint64
	// Text, if set, receives the text as it is decoded: first the prompt
	// when EchoPrompt, then the continuation, piece by piece.
	Text       func(s string) error
	EchoPrompt bool
	// Warmup runs the prompt and one decode step once, untimed, through
	// the state the request then reuses: llama-bench's protocol, which
	// times a context whose weights, cache and buffers have been touched.
	// On a virtual machine whose every new 4 KiB page costs a fault in the
	// hypervisor, that first touch made a 479-token prefill of the 4-layer
	// model at two threads run at 485–497 tokens/s against 784–825 warm
	// (#9, README "Warm timings").
	Warmup bool
	// Prefilling and Prefilled, if set, are called just before and just
	// after the timed prefill (not the warm-up's).
	Prefilling, Prefilled func()
}

// Generation is what Generate produced.
type Generation struct {
	PromptTokens []int
	Tokens       []int
	// Text is the continuation (not the prompt).
	Text string
	// StopReason is max_tokens, eos, context_full or interrupted.
	StopReason     string
	PrefillSeconds float64
	DecodeSeconds  float64
	DecodeTokPerS  float64
}

// warmUp runs prompt and one decode step through state, then empties it.
func warmUp(m *Model, state *State, prompt []int) error {
	if _, err := m.Forward(state, prompt, LastLogits); err != nil {
		return err
	}
	if state.Pos() < state.Capacity() {
		if _, err := m.Forward(state, prompt[len(prompt)-1:], LastLogits); err != nil {
			return err
		}
	}
	state.Reset()
	return nil
}

// Generate continues o.Prompt with m, one token at a time, until MaxTokens,
// an end-of-sequence token or the end of the model's context. A cancelled
// ctx stops it after the current token with StopReason "interrupted" and
// no error.
func Generate(ctx context.Context, m *Model, tok *tokenizer.Tokenizer, o GenerateOptions) (*Generation, error) {
	prompt, err := tok.Encode(o.Prompt, !o.NoBOS)
	if err != nil {
		return nil, fmt.Errorf("prompt: %w", err)
	}
	if len(prompt) == 0 {
		return nil, OptionErrorf("the prompt is empty and the tokenizer has no BOS token to start from: give --prompt")
	}
	capacity := min(m.Config.MaxPositions, len(prompt)+o.MaxTokens)
	if len(prompt) >= m.Config.MaxPositions {
		return nil, fmt.Errorf("prompt has %d tokens; the model's context is %d", len(prompt), m.Config.MaxPositions)
	}
	if err := sysmem.Check(m.Config.StateBytes(capacity, len(prompt)), "the KV cache and activations", "--max-tokens"); err != nil {
		return nil, err
	}
	state := m.NewState(capacity)
	sampler := NewSampler(o.Temperature, o.TopP, o.Seed)
	g := &Generation{PromptTokens: prompt, StopReason: "max_tokens"}
	text := func(s string) error {
		if o.Text == nil {
			return nil
		}
		return o.Text(s)
	}
	stream := tok.NewStreamDecoder()
	if o.EchoPrompt {
		// The prompt goes through the same decoder so that spacing joins
		// the continuation exactly as the tokenizer decodes it.
		for _, id := range prompt {
			s, err := stream.Add(id)
			if err != nil {
				return nil, err
			}
			if err := text(s); err != nil {
				return nil, err
			}
		}
	}
	if o.Warmup {
		if err := warmUp(m, state, prompt); err != nil {
			return nil, err
		}
	}
	if o.Prefilling != nil {
		o.Prefilling()
	}
	start := time.Now()
	logits, err := m.Forward(state, prompt, LastLogits)
	if err != nil {
		return nil, err
	}
	g.PrefillSeconds = time.Since(start).Seconds()
	if o.Prefilled != nil {
		o.Prefilled()
	}
	start = time.Now()
	eos := tok.EOS()
	var step [1]int
	for len(g.Tokens) < o.MaxTokens {
		if ctx.Err() != nil {
			g.StopReason = "interrupted"
			break
		}
		maskUndecodable(logits, tok.VocabSize())
		next := sampler.Sample(logits)
		if next == eos || isConfigEOS(m.Config, next) {
			g.StopReason = "eos"
			break
		}
		g.Tokens = append(g.Tokens, next)
		s, err := stream.Add(next)
		if err != nil {
			return nil, err
		}
		g.Text += s
		if err := text(s); err != nil {
			return nil, err
		}
		if state.Pos() >= state.Capacity() {
			if len(g.Tokens) < o.MaxTokens {
				g.StopReason = "context_full"
			}
			break
		}
		step[0] = next
		if logits, err = m.ForwardInto(logits, state, step[:], LastLogits); err != nil {
			return nil, err
		}
	}
	g.DecodeSeconds = time.Since(start).Seconds()
	tail := stream.Flush()
	g.Text += tail
	if err := text(tail); err != nil {
		return nil, err
	}
	if g.DecodeSeconds > 0 {
		g.DecodeTokPerS = float64(len(g.Tokens)) / g.DecodeSeconds
	}
	return g, nil
}

func isConfigEOS(c Config, id int) bool {
	for _, e := range c.EOS {
		if e == id {
			return true
		}
	}
	return false
}

// maskUndecodable rules out the ids at and above the tokenizer's size: an
// embedding padded past the vocabulary (Qwen2's, or a synthetic preset's
// 32,000 rows over a 512-token tokenizer) would otherwise let the sampler
// pick a token that has no text, and the stream fail mid-answer.
func maskUndecodable(logits []float32, vocab int) {
	for i := vocab; i < len(logits); i++ {
		logits[i] = float32(math.Inf(-1))
	}
}
