package quant

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/gguf"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
	"github.com/ttqproject/ttq/pkg/model/tokenizer"
)

// LoadedModel is a model with its tokenizer and where it came from.
type LoadedModel struct {
	Model     *model.Model
	Tokenizer *tokenizer.Tokenizer
	// Source names the model in reports: the directory, or demo.Name.
	Source string
	// Checkpoint is the opened checkpoint the weights are read from,
	// owned by Model (valid until Close), for describing its files.
	Checkpoint *safetensors.Checkpoint
}

// Quantized reports whether the model was read from a checkpoint Save
// wrote (with packed layers).
func (lm *LoadedModel) Quantized() bool {
	return lm.Checkpoint != nil && lm.Checkpoint.Metadata()[MetaFormat] == CheckpointFormat
}

// Close releases the model's weights.
func (lm *LoadedModel) Close() { lm.Model.Close() }

// LoadModel opens any model ttq runs: a Hugging Face model directory
// (full precision), one written by Save (with its packed layers), or the
// built-in demo model when dir is empty. The tokenizer must fit the
// embedding, so that no token id can index past it.
func LoadModel(dir string) (*LoadedModel, error) {
	if dir == "" {
		m, tok, ck, err := demo.LoadCheckpoint()
		if err != nil {
			return nil, err
		}
		return &LoadedModel{Model: m, Tokenizer: tok, Source: demo.Name, Checkpoint: ck}, nil
	}
	if gguf.IsGGUF(dir) {
		return nil, fmt.Errorf("%s is a GGUF file, which ttq can inspect (ttq inspect %s) but not load; give a Hugging Face model directory", dir, dir)
	}
	m, ck, err := openWeights(dir)
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
	return &LoadedModel{Model: m, Tokenizer: tok, Source: dir, Checkpoint: ck}, nil
}

// openWeights opens dir's checkpoint once and builds the model from it:
// with its packed layers when Save wrote it, else at full precision.
func openWeights(dir string) (*model.Model, *safetensors.Checkpoint, error) {
	var ck *safetensors.Checkpoint
	cfg, err := model.LoadConfig(dir)
	if err == nil {
		ck, err = safetensors.OpenCheckpoint(dir)
	}
	if err != nil {
		return nil, nil, err
	}
	var m *model.Model
	if ck.Metadata()[MetaFormat] == CheckpointFormat {
		m, _, err = FromCheckpoint(cfg, ck)
	} else {
		m, err = model.New(cfg, ck, ck)
	}
	if err != nil {
		ck.Close()
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	return m, ck, nil
}

// TokenizerSHA256 hashes the tokenizer.json of the model LoadModel(dir)
// opens ("" = the demo).
func TokenizerSHA256(dir string) (string, error) {
	if dir == "" {
		return demo.TokenizerSHA256()
	}
	return model.TokenizerSHA256(dir)
}

// CheckpointSHA256 hashes the weights of the model LoadModel(dir) opens
// ("" = the demo).
func CheckpointSHA256(dir string) (string, error) {
	if dir == "" {
		return demo.CheckpointSHA256()
	}
	return model.CheckpointSHA256(dir)
}
