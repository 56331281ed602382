package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/gguf"
	"github.com/ttqproject/ttq/pkg/model/hub"
	"github.com/ttqproject/ttq/pkg/model/tokenizer"
	"github.com/ttqproject/ttq/pkg/quant"
)

// loadedModel is a model with its tokenizer and where it came from.
type loadedModel struct {
	Model     *model.Model
	Tokenizer *tokenizer.Tokenizer
	Source    string
}

// loadModel opens a Hugging Face model directory, or the built-in demo model
// when dir is empty.
func loadModel(dir string) (*loadedModel, error) {
	if dir == "" {
		m, tok, err := demo.Load()
		if err != nil {
			return nil, err
		}
		return &loadedModel{Model: m, Tokenizer: tok, Source: demo.Name}, nil
	}
	if gguf.IsGGUF(dir) {
		return nil, fmt.Errorf("%s is a GGUF file, which ttq can inspect (ttq inspect %s) but not load; give a Hugging Face model directory", dir, dir)
	}
	// ttq's own quantized checkpoints (ttq quantize) load with their packed
	// layers; everything else is a full-precision checkpoint.
	var m *model.Model
	var err error
	if quant.IsCheckpoint(dir) {
		m, _, err = quant.Load(dir)
	} else {
		m, err = model.Load(dir)
	}
	if err != nil {
		return nil, err
	}
	tokPath := filepath.Join(dir, "tokenizer.json")
	if _, err := os.Stat(tokPath); err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: no tokenizer.json (convert one with `ttq import --tokenizer FILE -o %s`)", dir, dir)
	}
	tok, err := tokenizer.Load(tokPath)
	if err != nil {
		m.Close()
		return nil, err
	}
	if err := tok.CheckEmbedding(m.Config.VocabSize); err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: %w", tokPath, err)
	}
	return &loadedModel{Model: m, Tokenizer: tok, Source: dir}, nil
}

// modelFlagUsage describes --model wherever a command takes one.
const modelFlagUsage = "model directory or Hugging Face hub cache org/name[@revision] (default: the built-in demo model)"

// modelArg resolves the model from an optional positional argument or the
// --model flag (not both) to a directory: a Hugging Face hub cache reference
// (org/name[@revision]) becomes its snapshot directory.
func modelArg(args []string, flag string) (string, error) {
	if len(args) > 0 {
		if flag != "" && flag != args[0] {
			return "", usagef("give the model either as an argument or with --model, not both")
		}
		flag = args[0]
	}
	return hub.Resolve(flag)
}
