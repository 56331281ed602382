package model

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

// Load opens a Hugging Face model directory: config.json and the safetensors
// checkpoint (single file or sharded with model.safetensors.index.json). The
// weights stay memory-mapped in their stored type until Close.
func Load(dir string) (*Model, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	ckpt, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	m, err := New(cfg, ckpt, ckpt)
	if err != nil {
		ckpt.Close()
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return m, nil
}

// LoadConfig reads dir/config.json.
func LoadConfig(dir string) (Config, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return Config{}, fmt.Errorf("model directory: %w", err)
	}
	if !st.IsDir() {
		return Config{}, fmt.Errorf("model: %s is not a directory (expected a Hugging Face model directory with config.json and *.safetensors)", dir)
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return Config{}, fmt.Errorf("model: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s/%w", dir, err)
	}
	return cfg, nil
}
