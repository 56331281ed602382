package model

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// TokenizerFiles are the files of a model directory that describe its
// tokens rather than its weights; copies of the model carry them along.
var TokenizerFiles = []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "tokenizer.model"}

// CheckpointSHA256 hashes a model directory's config.json and *.safetensors
// files (in name order, each prefixed with its name), the bytes the weights
// come from: two reports with the same hash ran the same weights.
func CheckpointSHA256(dir string) (string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return "", err
	}
	slices.Sort(files)
	h := sha256.New()
	for _, p := range append([]string{filepath.Join(dir, "config.json")}, files...) {
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s:", filepath.Base(p))
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// TokenizerSHA256 hashes a model directory's tokenizer.json, the file that
// defines the tokens: results on different tokenizations never compare.
func TokenizerSHA256(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return "", err
	}
	return BytesSHA256(b), nil
}

// BytesSHA256 is the hex SHA-256 of b, the form every ttq report records.
func BytesSHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
