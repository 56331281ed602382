package eval

import (
	"fmt"
	"math"

	"github.com/ttqproject/ttq/pkg/kernels"
)

// checkLogits checks that a scorer returned tokens rows of vocab logits and
// that all of them are finite: a NaN would otherwise turn into a NaN
// perplexity (or a silently wrong argmax) instead of an error.
func checkLogits(logits []float32, tokens, vocab int) error {
	if len(logits) != tokens*vocab {
		return fmt.Errorf("eval: scorer returned %d logits for %d tokens × %d", len(logits), tokens, vocab)
	}
	if i := kernels.FirstNonFiniteF32(logits); i >= 0 {
		return fmt.Errorf("eval: the model computed a non-finite logit (%v) at position %d of the sequence, token id %d", logits[i], i/vocab, i%vocab)
	}
	return nil
}

// rowMax returns the largest logit and its first index (ties go to the lower
// index, as numpy's and torch's argmax do).
func rowMax(row []float32) (float32, int) {
	m, im := row[0], 0
	for i, x := range row[1:] {
		if x > m {
			m, im = x, i+1
		}
	}
	return m, im
}

// logSumExp returns max and log Σ exp(x − max) in float64. Subtracting the
// maximum keeps every exponent ≤ 0, so nothing overflows; summing in float64
// keeps the 10⁵-term sums of large vocabularies exact to ~1e-16.
func logSumExp(row []float32) (float64, float64) {
	m, _ := rowMax(row)
	mf := float64(m)
	var s float64
	for _, x := range row {
		s += math.Exp(float64(x) - mf)
	}
	return mf, math.Log(s)
}

// logProb returns log p(tok) under softmax(row).
func logProb(row []float32, tok int) float64 {
	m, lse := logSumExp(row)
	return float64(row[tok]) - m - lse
}

// logSoftmax writes log softmax(row) into dst (len(row) float64s).
func logSoftmax(dst []float64, row []float32) {
	m, lse := logSumExp(row)
	for i, x := range row {
		dst[i] = float64(x) - m - lse
	}
}
