package eval_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ttqproject/ttq/pkg/eval"
	"github.com/ttqproject/ttq/pkg/quant"
)

// Measure the demo model's WikiText-2 perplexity on two windows of 256
// tokens with the GPTQ papers' protocol, as `ttq eval --ctx 256
// --max-windows 2` does.
func ExampleRunTask() {
	lm, err := quant.LoadModel("") // the demo; a directory or a quantized one alike
	if err != nil {
		log.Fatal(err)
	}
	defer lm.Close()
	res, err := eval.RunTask(context.Background(), lm.Model, lm.Tokenizer, eval.Task{
		Dataset: "wikitext", Split: "test", Protocol: "gptq", BOS: "auto", Ctx: 256, MaxWindows: 2, Workers: 1,
	})
	if err != nil {
		log.Fatal(err)
	}
	p := res.Perplexity
	fmt.Printf("%s: %d windows, %d scored tokens\n", res.Dataset, p.Windows, p.ScoredTokens)
	fmt.Printf("perplexity %.1f\n", p.PPL)
	// Output:
	// wikitext-2-raw/test: 2 windows, 510 scored tokens
	// perplexity 95.7
}
