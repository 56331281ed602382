package model_test

import (
	"context"
	"slices"
	"testing"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
)

// countingLinear counts the rows a layer is asked for.
type countingLinear struct {
	model.Linear
	rows int
}

func (c *countingLinear) Forward(dst, x []float32, rows int) {
	c.rows += rows
	c.Linear.Forward(dst, x, rows)
}

// TestGenerateWarmup checks that a warmed-up request produces what a cold
// one does, that the warm-up really ran (the prompt's last position and
// one decode step more through the LM head), and that the timing hooks
// fire once, around the timed prefill only.
func TestGenerateWarmup(t *testing.T) {
	m, tok, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	head := &countingLinear{Linear: m.LMHead}
	m.LMHead = head
	run := func(warm bool) (*model.Generation, int) {
		head.rows = 0
		var before, after int
		g, err := model.Generate(context.Background(), m, tok, model.GenerateOptions{
			Prompt: "Once upon a time", MaxTokens: 12, Warmup: warm,
			Prefilling: func() { before++ },
			Prefilled: func() {
				if before != 1 {
					t.Errorf("Prefilled before Prefilling")
				}
				after++
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if before != 1 || after != 1 {
			t.Errorf("warmup %v: Prefilling called %d times, Prefilled %d; want 1 each", warm, before, after)
		}
		return g, head.rows
	}
	cold, coldRows := run(false)
	warm, warmRows := run(true)
	if !slices.Equal(cold.Tokens, warm.Tokens) {
		t.Fatalf("tokens after a warm-up %v differ from a cold request's %v", warm.Tokens, cold.Tokens)
	}
	if warmRows != coldRows+2 {
		t.Fatalf("LM head rows: %d warm, %d cold; the warm-up should add 2 (last prompt position, one decode step)", warmRows, coldRows)
	}
}
