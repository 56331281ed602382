package compare

import (
	"fmt"
	"math"
)

// PairedDiff summarizes the differences a[i] − b[i] of two measurements on
// the same units (tokens, items): their mean and the standard error of that
// mean, sd(a−b)/√n with the sample (n−1) standard deviation. Because two
// models' per-token NLLs on the same text are strongly correlated, this is
// far smaller than √(se_a² + se_b²), which is what makes small differences
// between methods decidable on a small evaluation set.
func PairedDiff(a, b []float64) (mean, stderr float64, err error) {
	if len(a) != len(b) {
		return 0, 0, fmt.Errorf("compare: paired samples of different lengths %d and %d", len(a), len(b))
	}
	n := len(a)
	if n == 0 {
		return 0, 0, fmt.Errorf("compare: no paired samples")
	}
	var s float64
	for i := range a {
		s += a[i] - b[i]
	}
	mean = s / float64(n)
	if n < 2 {
		return mean, 0, nil
	}
	// Two passes: E[d²]−E[d]² cancels badly when the differences are
	// tiny and nearly constant, which is the usual case here.
	var m2 float64
	for i := range a {
		d := a[i] - b[i] - mean
		m2 += d * d
	}
	return mean, math.Sqrt(m2/float64(n-1)) / math.Sqrt(float64(n)), nil
}

// McNemarResult is McNemar's test on paired binary outcomes: of the items
// the two classifiers disagree on, B are right only under the first
// (baseline) and C only under the second.
type McNemarResult struct {
	B, C int `json:"-"`
	// Chi2 is McNemar's statistic (C−B)²/(B+C), without continuity
	// correction (Agresti, Categorical Data Analysis, §10.1).
	Chi2 float64 `json:"chi2"`
	// P is the exact two-sided p-value: the binomial test of B against
	// Binomial(B+C, ½), min(1, 2·P(X ≤ min(B, C))). It is conservative
	// and valid for any number of discordant pairs, unlike the χ²
	// approximation.
	P float64 `json:"p"`
}

// McNemar tests whether two classifiers evaluated on the same items differ
// in accuracy, from the discordant counts b (right only under the first)
// and c (right only under the second). Concordant items carry no
// information about the difference and do not enter.
func McNemar(b, c int) McNemarResult {
	r := McNemarResult{B: b, C: c, P: 1}
	n := b + c
	if b < 0 || c < 0 || n == 0 {
		return r
	}
	d := float64(c - b)
	r.Chi2 = d * d / float64(n)
	k := min(b, c)
	// P(X ≤ k) for X ~ Binomial(n, ½), summed in log space so that
	// thousands of discordant pairs do not underflow.
	var tail float64
	for i := 0; i <= k; i++ {
		tail += math.Exp(logChoose(n, i) - float64(n)*math.Ln2)
	}
	r.P = min(1, 2*tail)
	return r
}

func logChoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// Chi2P1 is the upper-tail probability of a χ² statistic with one degree of
// freedom, erfc(√(x/2)).
func Chi2P1(x float64) float64 {
	if x <= 0 {
		return 1
	}
	return math.Erfc(math.Sqrt(x / 2))
}

// PairedBinary compares two 0/1 outcome vectors on the same items (row
// against baseline): the accuracy difference, its paired standard error and
// McNemar's test.
func PairedBinary(row, base []bool) (diff, stderr float64, mc McNemarResult, err error) {
	if len(row) != len(base) {
		return 0, 0, mc, fmt.Errorf("compare: paired outcomes of different lengths %d and %d", len(row), len(base))
	}
	n := len(row)
	if n == 0 {
		return 0, 0, mc, fmt.Errorf("compare: no paired outcomes")
	}
	var b, c int
	for i := range row {
		switch {
		case base[i] && !row[i]:
			b++
		case row[i] && !base[i]:
			c++
		}
	}
	mc = McNemar(b, c)
	diff = float64(c-b) / float64(n)
	if n > 1 {
		// d_i ∈ {−1, 0, 1}: Σd² = b+c, so the sample variance is
		// (b + c − n·diff²)/(n−1).
		v := (float64(b+c) - float64(n)*diff*diff) / float64(n-1)
		if v > 0 {
			stderr = math.Sqrt(v / float64(n))
		}
	}
	return diff, stderr, mc, nil
}
