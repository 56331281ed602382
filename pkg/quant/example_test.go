package quant_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ttqproject/ttq/pkg/quant"
)

// Load the built-in demo model, quantize it with round-to-nearest at 4
// bits, save it and load the quantized checkpoint back, as `ttq quantize
// --method rtn -o DIR` does. Any registered method works the same way; awq and
// gptq read their calibration text (Calib) first.
func ExampleApplyMethod() {
	lm, err := quant.LoadModel("") // "" is the demo; else a model directory
	if err != nil {
		log.Fatal(err)
	}
	defer lm.Close()
	o := quant.DefaultMethodOptions()
	o.Method, o.Bits, o.Group = "rtn", 4, 32
	res, err := quant.ApplyMethod(context.Background(), lm, o, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s: %.3f bits per weight\n", res.Method, res.Format, res.EffectiveBits)

	dir, err := os.MkdirTemp("", "ttq-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// The quantized directory carries the source's config.json and
	// tokenizer files beside the packed weights.
	files, err := quant.ModelFiles("")
	if err != nil {
		log.Fatal(err)
	}
	out := filepath.Join(dir, "demo-rtn4")
	if err := quant.SaveModel(out, lm.Model, res.Metadata(lm.Source, "example"), files); err != nil {
		log.Fatal(err)
	}
	back, err := quant.LoadModel(out)
	if err != nil {
		log.Fatal(err)
	}
	defer back.Close()
	fmt.Printf("reloaded: quantized %v, q_proj %T\n", back.Quantized(), back.Model.Layers[0].Attn.Q)
	// Output:
	// rtn int4-g32-minmax-f16: 4.643 bits per weight
	// reloaded: quantized true, q_proj *quant.QLinear
}
