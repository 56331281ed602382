package model

import (
	"math"
	"runtime"
	"testing"
)

// Nucleus sampling by hand: probabilities 0.5, 0.3, 0.15, 0.05 at
// temperature 1 and top-p 0.7 keep the smallest most-likely set whose mass
// reaches 0.7, {0, 1} (0.8), and draw from it renormalized: 0.625, 0.375.
func TestSamplerNucleusFrequencies(t *testing.T) {
	p := []float64{0.5, 0.3, 0.15, 0.05}
	logits := make([]float32, len(p))
	for i, v := range p {
		logits[i] = float32(math.Log(v))
	}
	s := NewSampler(1, 0.7, 42)
	const draws = 20000
	var count [4]int
	for range draws {
		count[s.Sample(logits)]++
	}
	if count[2] != 0 || count[3] != 0 {
		t.Fatalf("drew outside the nucleus {0, 1}: %v", count)
	}
	want := 0.625
	sigma := math.Sqrt(want * (1 - want) / draws)
	if got := float64(count[0]) / draws; math.Abs(got-want) > 4*sigma {
		t.Fatalf("token 0 drawn %.4f of the time, want %.3f ± %.4f", got, want, 4*sigma)
	}
}

// Equal probabilities are ordered by id: with top-p small enough to keep
// one token, the lowest id of the tied maximum is always drawn; and the
// draws are the same for the same seed.
func TestSamplerTiesAndSeed(t *testing.T) {
	logits := []float32{0, 2, 1, 2, 2}
	s := NewSampler(0.5, 1e-9, 1)
	for range 100 {
		if got := s.Sample(logits); got != 1 {
			t.Fatalf("drew %d, want 1 (lowest id of the tied maximum)", got)
		}
	}
	a, b := NewSampler(0.8, 0.95, 7), NewSampler(0.8, 0.95, 7)
	for i := range 200 {
		if x, y := a.Sample(logits), b.Sample(logits); x != y {
			t.Fatalf("draw %d: %d and %d from the same seed", i, x, y)
		}
	}
}

// A warm sampler allocates nothing per token (#9). The counter is the
// process's, and the package's parallel tests allocate beside this one:
// the fewest of five rounds, since an allocation made every draw is in
// every round.
func TestSamplerAllocatesNothing(t *testing.T) {
	logits := make([]float32, 512)
	for i := range logits {
		logits[i] = float32(i%17) / 4
	}
	s := NewSampler(0.8, 0.9, 3)
	s.Sample(logits)
	fewest := uint64(math.MaxUint64)
	for range 5 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 50 {
			s.Sample(logits)
		}
		runtime.ReadMemStats(&after)
		fewest = min(fewest, after.Mallocs-before.Mallocs)
	}
	if fewest != 0 {
		t.Fatalf("%d allocations in 50 draws (fewest of five rounds), want 0", fewest)
	}
}
