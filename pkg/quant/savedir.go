package quant

import (
	"errors"
	"os"
	"path/filepath"
	"slices"

	"github.com/ttqproject/ttq/internal/atomicfile"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

// TokenizerFiles are copied beside the quantized weights when present.
var TokenizerFiles = []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "tokenizer.model"}

// ModelFiles reads what a model directory holds beside its weights:
// config.json (required) and those of TokenizerFiles that exist, of the
// model in dir ("" = the demo).
func ModelFiles(dir string) (map[string][]byte, error) {
	read := func(name string) ([]byte, error) {
		if dir == "" {
			return demo.ReadFile(name)
		}
		return os.ReadFile(filepath.Join(dir, name))
	}
	files := map[string][]byte{}
	b, err := read("config.json")
	if err != nil {
		return nil, err
	}
	files["config.json"] = b
	for _, name := range TokenizerFiles {
		if b, err := read(name); err == nil { // optional
			files[name] = b
		}
	}
	return files, nil
}

// SaveModel writes a complete model directory that LoadModel opens: m's
// weights as Save writes them, with meta, and files (ModelFiles of the
// source) beside them. The directory appears whole or not at all; written
// over an existing one, a stale shard index (which would shadow the new
// single-file checkpoint) is removed.
func SaveModel(out string, m *model.Model, meta map[string]string, files map[string][]byte) error {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	return atomicfile.WriteDir(out, []string{safetensors.IndexFileName}, func(dir string) error {
		if err := Save(dir, m, meta); err != nil {
			return err
		}
		for _, name := range names {
			if len(files[name]) == 0 {
				return errors.New("quant: empty file for " + name)
			}
			if err := atomicfile.WriteFile(filepath.Join(dir, name), files[name]); err != nil {
				return err
			}
		}
		return nil
	})
}
