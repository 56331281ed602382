package demo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/ttqproject/ttq/pkg/model"
)

// CheckpointSHA256 identifies the demo's weights the way
// model.CheckpointSHA256 identifies a directory's (each file is prefixed
// with its name and length here, so the two never collide).
func CheckpointSHA256() (string, error) {
	h := sha256.New()
	for _, name := range []string{"config.json", "model.safetensors"} {
		b, err := ReadFile(name)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s:%d:", name, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// TokenizerSHA256 hashes the demo's tokenizer.json.
func TokenizerSHA256() (string, error) {
	b, err := ReadFile("tokenizer.json")
	if err != nil {
		return "", err
	}
	return model.BytesSHA256(b), nil
}
