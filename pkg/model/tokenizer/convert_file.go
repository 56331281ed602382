package tokenizer

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ConvertFile recognizes a tokenizer file by its name and content and
// converts it to tokenizer.json form: a GPT-2 vocab.json (with merges, by
// default merges.txt beside it), tiktoken ranks (read with Llama 3's
// pattern), a llama2.c tokenizer .bin, or a SentencePiece .model. kind
// names what it was read as.
func ConvertFile(path, merges string) (files Files, kind string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Files{}, "", err
	}
	base := strings.ToLower(filepath.Base(path))
	switch {
	case strings.HasSuffix(base, ".json"):
		if merges == "" {
			merges = filepath.Join(filepath.Dir(path), "merges.txt")
		}
		m, err := os.ReadFile(merges)
		if err != nil {
			return files, "", fmt.Errorf("GPT-2 vocabulary %s needs its merges file: %w", path, err)
		}
		kind = "GPT-2"
		files, err = ConvertGPT2(data, m)
		if err != nil {
			return files, "", fmt.Errorf("%s: %w", path, err)
		}
	case looksLikeTiktoken(data):
		kind = "tiktoken (Llama-3)"
		files, err = ConvertTiktoken(data, Llama3TiktokenOptions())
	case strings.HasSuffix(base, ".bin"):
		kind = "llama2.c"
		files, err = ConvertLlama2cBin(data)
	default:
		kind = "SentencePiece"
		files, err = ConvertSentencePiece(data)
	}
	if err != nil {
		return files, "", fmt.Errorf("%s (read as %s): %w", path, kind, err)
	}
	return files, kind, nil
}

// looksLikeTiktoken reports whether data starts with "base64 rank" lines.
func looksLikeTiktoken(data []byte) bool {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	tok, rank, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(tok) == 0 || len(rank) == 0 {
		return false
	}
	for _, c := range tok {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	for _, c := range rank {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
