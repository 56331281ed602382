package model

import (
	"math"
	"testing"
)

func TestMaskUndecodable(t *testing.T) {
	logits := []float32{1, 5, 2, 9, 7}
	maskUndecodable(logits, 3)
	if logits[0] != 1 || logits[1] != 5 || logits[2] != 2 || !math.IsInf(float64(logits[3]), -1) || !math.IsInf(float64(logits[4]), -1) {
		t.Fatalf("masked logits %v", logits)
	}
	maskUndecodable(logits[:2], 3) // a vocabulary larger than the logits masks nothing
	if logits[0] != 1 || logits[1] != 5 {
		t.Fatalf("masked logits %v", logits)
	}
}
