package quant

import (
	"os"
	"path/filepath"
	"slices"

	"github.com/ttqproject/ttq/internal/atomicfile"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

// ModelFiles reads what a model directory holds beside its weights:
// config.json (required) and those of model.TokenizerFiles that exist, of the
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
	for _, name := range model.TokenizerFiles {
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
			if err := atomicfile.WriteNonEmpty(filepath.Join(dir, name), files[name]); err != nil {
				return err
			}
		}
		return nil
	})
}
