package compare

import (
	"fmt"
	"math"
)

// CheckFinite returns an error naming the first NaN or ±Inf among a row's
// numbers and samples. JSON cannot hold such values, and a NaN sample
// would turn every paired statistic computed from it into NaN, so rows
// with one are never cached, never read back from the cache and refused in
// reports.
func (r *Row) CheckFinite() error {
	bad := func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }
	fail := func(what string, x float64) error {
		return fmt.Errorf("compare: row %s: %s is %v", r.ID, what, x)
	}
	if bad(r.BitsPerWeight) {
		return fail("bits_per_weight", r.BitsPerWeight)
	}
	if bad(r.QuantSeconds) {
		return fail("quant_seconds", r.QuantSeconds)
	}
	if r.TTQOverhead != nil && bad(*r.TTQOverhead) {
		return fail("ttq_overhead", *r.TTQOverhead)
	}
	for i := range r.Results {
		d := &r.Results[i]
		for _, f := range []struct {
			name string
			v    float64
		}{
			{"ppl", d.PPL}, {"ppl_stderr", d.PPLStdErr}, {"mean_nll", d.MeanNLL}, {"mean_nll_stderr", d.MeanNLLStdErr},
			{"kl", d.KL}, {"kl_stderr", d.KLStdErr}, {"acc", d.Acc}, {"acc_stderr", d.AccStdErr},
			{"acc_norm", d.AccNorm}, {"acc_norm_stderr", d.AccNormStdErr}, {"seconds", d.Seconds},
			{"tokens_per_second", d.TokensPerSecond},
		} {
			if bad(f.v) {
				return fail(d.Dataset+" "+f.name, f.v)
			}
		}
		for name, s := range map[string]Floats{"nll": d.Samples.NLL, "kl": d.Samples.KL} {
			for j, x := range s {
				if bad(x) {
					return fail(fmt.Sprintf("%s %s sample %d", d.Dataset, name, j), x)
				}
			}
		}
	}
	return nil
}
