package model_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
)

// Load the built-in demo model and continue a prompt greedily
// (temperature 0), as `ttq generate --temperature 0` does.
func ExampleGenerate() {
	m, tok, err := demo.Load()
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	g, err := model.Generate(context.Background(), m, tok, model.GenerateOptions{
		Prompt: "Once upon a time", MaxTokens: 24,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d prompt tokens, %d generated (%s)\n", len(g.PromptTokens), len(g.Tokens), g.StopReason)
	fmt.Printf("%q\n", g.Text)
	// Output:
	// 5 prompt tokens, 24 generated (max_tokens)
	// ", there was a little girl named Lily. She loved to play outside in the p"
}
