// Package demo embeds ttq's built-in demo model: Andrej Karpathy's
// stories260K (MIT, trained on TinyStories), imported from its llama2.c
// checkpoint and SentencePiece tokenizer into the Hugging Face layout by
// `ttq import` (see `make demo`). It lets every command run with no --model
// on any machine the binary is copied to.
package demo

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
	"github.com/ttqproject/ttq/pkg/model/tokenizer"
)

// Name identifies the demo model in reports.
const Name = "builtin:stories260K"

// Dir is the bundle's directory inside FS.
const Dir = "stories260K"

//go:embed stories260K
var bundle embed.FS

// FS returns the embedded bundle (config.json, model.safetensors,
// tokenizer.json, tokenizer_config.json under Dir).
func FS() fs.FS { return bundle }

// ReadFile returns one file of the bundle, e.g. "model.safetensors".
func ReadFile(name string) ([]byte, error) { return bundle.ReadFile(Dir + "/" + name) }

// Load returns the demo model and its tokenizer.
func Load() (*model.Model, *tokenizer.Tokenizer, error) {
	m, tok, _, err := LoadCheckpoint()
	return m, tok, err
}

// LoadCheckpoint is Load that also returns the checkpoint the weights are
// read from (owned by the model: valid until its Close), for callers that
// describe the files as well, such as ttq inspect.
func LoadCheckpoint() (*model.Model, *tokenizer.Tokenizer, *safetensors.Checkpoint, error) {
	read := func(name string) ([]byte, error) {
		b, err := bundle.ReadFile(Dir + "/" + name)
		if err != nil {
			return nil, fmt.Errorf("demo bundle: %w", err)
		}
		return b, nil
	}
	cfgJSON, err := read("config.json")
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, err := model.ParseConfig(cfgJSON)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("demo bundle: %w", err)
	}
	weights, err := read("model.safetensors")
	if err != nil {
		return nil, nil, nil, err
	}
	f, err := safetensors.FromBytes(Name+"/model.safetensors", weights)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("demo bundle: %w", err)
	}
	ckpt, err := safetensors.CheckpointFromFiles(f)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("demo bundle: %w", err)
	}
	m, err := model.New(cfg, ckpt, ckpt)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("demo bundle: %w", err)
	}
	tokJSON, err := read("tokenizer.json")
	if err != nil {
		return nil, nil, nil, err
	}
	tokCfg, err := read("tokenizer_config.json")
	if err != nil {
		return nil, nil, nil, err
	}
	tok, err := tokenizer.FromJSON(tokJSON, tokCfg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("demo bundle: %w", err)
	}
	return m, tok, ckpt, nil
}
