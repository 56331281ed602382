package eval

import (
	"math"
	"slices"
)

// KLResult compares a model's next-token distributions with a reference
// model's on the same scored positions, with the statistics
// llama-perplexity --kl-divergence prints (tools/perplexity/perplexity.cpp,
// kl_divergence()). "Base" is the reference (full precision), "Q" the
// evaluated (quantized) model. Uncertainties follow llama.cpp's
// mean_and_uncertainty: sqrt((E[x²]−E[x]²)/(n−1)), reported as 0 for n ≤ 10.
type KLResult struct {
	Tokens int `json:"tokens"`
	// KL(base ‖ Q) = Σ_v p_base(v) · (log p_base(v) − log p_Q(v)) per
	// position, in nats.
	Mean       float64 `json:"mean"`
	MeanStdErr float64 `json:"mean_stderr"`
	// Percentiles of the per-position KL divergence, interpolated linearly
	// between order statistics as llama.cpp does.
	Max    float64 `json:"max"`
	P99_9  float64 `json:"p99_9"`
	P99    float64 `json:"p99"`
	P95    float64 `json:"p95"`
	P90    float64 `json:"p90"`
	Median float64 `json:"median"`
	P10    float64 `json:"p10"`
	P5     float64 `json:"p5"`
	P1     float64 `json:"p1"`
	P0_1   float64 `json:"p0_1"`
	Min    float64 `json:"min"`
	// SameTop is the fraction of positions where both models' most likely
	// token (first index on ties) is the same.
	SameTop       float64 `json:"same_top"`
	SameTopStdErr float64 `json:"same_top_stderr"`
	// Δp = p_Q(correct token) − p_base(correct token).
	MeanDeltaP       float64 `json:"mean_delta_p"`
	MeanDeltaPStdErr float64 `json:"mean_delta_p_stderr"`
	RMSDeltaP        float64 `json:"rms_delta_p"`
	RMSDeltaPStdErr  float64 `json:"rms_delta_p_stderr"`
	// The reference model's perplexity on the same positions, and
	// ln(PPL(Q)/PPL(base)) with an uncertainty that accounts for the
	// correlation of the two models' NLLs.
	BasePPL           float64 `json:"base_ppl"`
	BasePPLStdErr     float64 `json:"base_ppl_stderr"`
	LogPPLRatio       float64 `json:"log_ppl_ratio"`
	LogPPLRatioStdErr float64 `json:"log_ppl_ratio_stderr"`
	PPLRatio          float64 `json:"ppl_ratio"`
	PPLRatioStdErr    float64 `json:"ppl_ratio_stderr"`
}

type klAccumulator struct {
	nllQ, nllBase, kld, pDiff []float64
	sameTop                   int
}

func (a *klAccumulator) add(ws *windowStats) {
	a.nllQ = append(a.nllQ, ws.nllQ...)
	a.nllBase = append(a.nllBase, ws.nllBase...)
	a.kld = append(a.kld, ws.kld...)
	a.pDiff = append(a.pDiff, ws.pDiff...)
	a.sameTop += ws.sameTop
}

// meanUncertainty is llama.cpp's mean_and_uncertainty: the mean and
// sqrt(Var/(n−1)), reported as 0 for n ≤ 10. The variance is computed in two
// passes rather than as E[x²]−E[x]², which cancels when the values are close.
func meanUncertainty(xs []float64, f func(float64) float64) (float64, float64) {
	n := len(xs)
	if n < 1 {
		return 0, 0
	}
	var s float64
	for _, x := range xs {
		s += f(x)
	}
	mean := s / float64(n)
	if n <= 10 {
		return mean, 0
	}
	var m2 float64
	for _, x := range xs {
		d := f(x) - mean
		m2 += d * d
	}
	return mean, stdErrOfMean(m2, n)
}

func identity(x float64) float64 { return x }

// covarianceOfMeans is llama.cpp's covariance(): Cov(a, b)/(n−1), 0 for
// n < 10.
func covarianceOfMeans(a, b []float64) float64 {
	n := len(a)
	if n < 10 {
		return 0
	}
	var sa, sb float64
	for i := range a {
		sa += a[i]
		sb += b[i]
	}
	ma, mb := sa/float64(n), sb/float64(n)
	var c float64
	for i := range a {
		c += (a[i] - ma) * (b[i] - mb)
	}
	return c / float64(n) / float64(n-1)
}

// percentile interpolates linearly between the order statistics of sorted
// values at fraction·(n−1), as llama.cpp's percentile lambda does; the
// median is percentile(0.5).
func percentile(sorted []float64, fraction float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	if fraction <= 0 {
		return sorted[0]
	}
	if fraction >= 1 {
		return sorted[len(sorted)-1]
	}
	p := fraction * float64(len(sorted)-1)
	i := int(p)
	p -= float64(i)
	j := min(i+1, len(sorted)-1)
	return (1-p)*sorted[i] + p*sorted[j]
}

func (a *klAccumulator) result() *KLResult {
	n := len(a.kld)
	r := &KLResult{Tokens: n}
	if n == 0 {
		return r
	}
	r.Mean, r.MeanStdErr = meanUncertainty(a.kld, identity)
	s := slices.Clone(a.kld)
	slices.Sort(s)
	r.Max, r.Min = s[n-1], s[0]
	r.P99_9, r.P99, r.P95, r.P90 = percentile(s, 0.999), percentile(s, 0.99), percentile(s, 0.95), percentile(s, 0.90)
	r.Median = percentile(s, 0.5)
	r.P10, r.P5, r.P1, r.P0_1 = percentile(s, 0.10), percentile(s, 0.05), percentile(s, 0.01), percentile(s, 0.001)

	r.SameTop = float64(a.sameTop) / float64(n)
	if n > 1 {
		r.SameTopStdErr = math.Sqrt(r.SameTop * (1 - r.SameTop) / float64(n-1))
	}
	r.MeanDeltaP, r.MeanDeltaPStdErr = meanUncertainty(a.pDiff, identity)
	mse, mseErr := meanUncertainty(a.pDiff, func(d float64) float64 { return d * d })
	r.RMSDeltaP = math.Sqrt(mse)
	if r.RMSDeltaP > 0 {
		r.RMSDeltaPStdErr = 0.5 / r.RMSDeltaP * mseErr
	}

	lq, lqErr := meanUncertainty(a.nllQ, identity)
	lb, lbErr := meanUncertainty(a.nllBase, identity)
	r.BasePPL = math.Exp(lb)
	r.BasePPLStdErr = r.BasePPL * lbErr
	cov := covarianceOfMeans(a.nllQ, a.nllBase)
	r.LogPPLRatio = lq - lb
	if v := lqErr*lqErr + lbErr*lbErr - 2*cov; v > 0 {
		r.LogPPLRatioStdErr = math.Sqrt(v)
	}
	r.PPLRatio = math.Exp(r.LogPPLRatio)
	r.PPLRatioStdErr = r.PPLRatio * r.LogPPLRatioStdErr
	return r
}
