package model

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// Sampler picks the next token from logits: greedy (argmax) when
// Temperature is 0, otherwise softmax at that temperature restricted to the
// smallest top-p nucleus. It is deterministic for a given seed.
type Sampler struct {
	Temperature float64
	TopP        float64
	rng         *rand.Rand
	probs       []float64
	order       []int
}

// NewSampler returns a sampler with its own random stream.
func NewSampler(temperature, topP float64, seed uint64) *Sampler {
	if topP <= 0 || topP > 1 {
		topP = 1
	}
	return &Sampler{Temperature: temperature, TopP: topP, rng: rand.New(rand.NewPCG(seed, 0x7474710))}
}

// Argmax returns the index of the largest value, the first on ties.
func Argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// Sample returns the next token id.
func (s *Sampler) Sample(logits []float32) int {
	if s.Temperature <= 0 {
		return Argmax(logits)
	}
	n := len(logits)
	if cap(s.probs) < n {
		s.probs = make([]float64, n)
		s.order = make([]int, n)
	}
	probs, order := s.probs[:n], s.order[:n]
	mx := float64(logits[Argmax(logits)])
	var sum float64
	for i, v := range logits {
		probs[i] = math.Exp((float64(v) - mx) / s.Temperature)
		sum += probs[i]
		order[i] = i
	}
	// Most likely first; ties by id make the order total, so any sort
	// gives it. slices.SortFunc, not sort.Slice: that allocated each step.
	slices.SortFunc(order, func(a, b int) int {
		if pa, pb := probs[a], probs[b]; pa != pb {
			if pa > pb {
				return -1
			}
			return 1
		}
		return cmp.Compare(a, b)
	})
	keep, mass := n, 0.0
	for i, id := range order {
		mass += probs[id] / sum
		if mass >= s.TopP {
			keep = i + 1
			break
		}
	}
	r := s.rng.Float64() * mass * sum
	for _, id := range order[:keep] {
		r -= probs[id]
		if r <= 0 {
			return id
		}
	}
	return order[keep-1]
}
