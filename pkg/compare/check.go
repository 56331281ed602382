package compare

import (
	"fmt"
	"math"
)

// Tolerance says how much worse a recomputed row may get before the
// regression gate fails.
type Tolerance struct {
	// Z: a metric regresses when it is worse by more than Z paired
	// standard errors (perplexity: of the per-token NLL differences;
	// accuracy: McNemar's exact test at the matching two-sided level).
	Z float64
	// MinNLL is the smallest mean per-token NLL increase that counts
	// (nats; 0.001 ≈ +0.1 % perplexity), so that a last-digit change of
	// a deterministic recomputation, whose standard error is ~0, does not
	// fail the gate.
	MinNLL float64
	// KLAbs and KLRel bound the KL increase: it regresses when
	// KL_now − KL_base > KLAbs + KLRel·KL_base.
	KLAbs, KLRel float64
}

// DefaultTolerance is the gate's default.
func DefaultTolerance() Tolerance {
	return Tolerance{Z: DefaultZ, MinNLL: 0.001, KLAbs: 0.001, KLRel: 0.10}
}

// Regression is one metric of one row that got worse beyond tolerance.
type Regression struct {
	Row      string  `json:"row"`
	Dataset  string  `json:"dataset"`
	Metric   string  `json:"metric"`
	Baseline float64 `json:"baseline"`
	Current  float64 `json:"current"`
	// Diff ± StdErr is the paired quantity judged (see DeltaStat).
	Diff   float64 `json:"diff"`
	StdErr float64 `json:"stderr"`
	Why    string  `json:"why"`
}

func (r Regression) String() string {
	return fmt.Sprintf("%s %s %s: %.6g → %.6g (%s)", r.Row, r.Dataset, r.Metric, r.Baseline, r.Current, r.Why)
}

// Verdict is one metric of one row as the gate judged it: the numbers of a
// Regression (Why describes the change whether or not it failed), the bound
// applied in words, and whether it was exceeded.
type Verdict struct {
	Regression
	Bound  string `json:"bound"`
	Failed bool   `json:"failed"`
}

// Check compares the recomputed report cur with the committed baseline row
// by row and returns what regressed. Rows or data that cannot be paired
// (a row missing from cur, different sample counts) are errors: the gate
// cannot judge them.
func Check(base, cur *Report, tol Tolerance) ([]Regression, error) {
	vs, err := Judge(base, cur, tol)
	if err != nil {
		return nil, err
	}
	return Failures(vs), nil
}

// Failures returns the regressions among verdicts, nil when there are none.
func Failures(verdicts []Verdict) []Regression {
	var regs []Regression
	for _, v := range verdicts {
		if v.Failed {
			regs = append(regs, v.Regression)
		}
	}
	return regs
}

// Judge is Check returning every metric judged, passed or failed, in
// baseline row order (the test cases of a CI report).
func Judge(base, cur *Report, tol Tolerance) ([]Verdict, error) {
	var vs []Verdict
	for i := range base.Rows {
		b := &base.Rows[i]
		var c *Row
		for j := range cur.Rows {
			if cur.Rows[j].ID == b.ID {
				c = &cur.Rows[j]
			}
		}
		if c == nil {
			return nil, fmt.Errorf("compare: baseline row %s was not recomputed", b.ID)
		}
		for _, ds := range base.Datasets {
			br, cr := b.Result(ds.Name), c.Result(ds.Name)
			if br == nil {
				continue
			}
			if cr == nil {
				return nil, fmt.Errorf("compare: row %s has no result on %s", b.ID, ds.Name)
			}
			rs, err := checkResult(b.ID, ds, br, cr, tol)
			if err != nil {
				return nil, err
			}
			vs = append(vs, rs...)
		}
	}
	return vs, nil
}

func checkResult(id string, ds DatasetInfo, b, c *DatasetResult, tol Tolerance) ([]Verdict, error) {
	var vs []Verdict
	switch ds.Kind {
	case KindPerplexity:
		d, se, err := PairedDiff(c.Samples.NLL, b.Samples.NLL)
		if err != nil {
			return nil, fmt.Errorf("compare: row %s on %s: %w", id, ds.Name, err)
		}
		v := Verdict{Regression: Regression{Row: id, Dataset: ds.Name, Metric: "ppl", Baseline: b.PPL, Current: c.PPL, Diff: d, StdErr: se},
			Bound:  fmt.Sprintf("mean NLL increase <= %.1f paired standard errors (%.5f nats) or <= %.4g nats", tol.Z, tol.Z*se, tol.MinNLL),
			Failed: d > tol.Z*se && d > tol.MinNLL}
		v.Why = fmt.Sprintf("mean NLL %+.5f ± %.5f nats, %.1f paired standard errors; PPL %+.2f%%", d, se, ratio(d, se), 100*(math.Exp(d)-1))
		if v.Failed {
			v.Why = fmt.Sprintf("mean NLL +%.5f ± %.5f nats, %.1f paired standard errors > %.1f; PPL %+.2f%%",
				d, se, ratio(d, se), tol.Z, 100*(math.Exp(d)-1))
		}
		vs = append(vs, v)
		limit := tol.KLAbs + tol.KLRel*b.KL
		v = Verdict{Regression: Regression{Row: id, Dataset: ds.Name, Metric: "kl", Baseline: b.KL, Current: c.KL,
			Diff: c.KL - b.KL, StdErr: math.Hypot(b.KLStdErr, c.KLStdErr)},
			Bound:  fmt.Sprintf("KL increase <= %.5f nats (%.4g + %.0f%% of the baseline)", limit, tol.KLAbs, 100*tol.KLRel),
			Failed: c.KL-b.KL > limit}
		v.Why = fmt.Sprintf("KL to fp %+.5f nats", c.KL-b.KL)
		if v.Failed {
			v.Why = fmt.Sprintf("KL to fp +%.5f nats > bound %.5f (%.4g + %.0f%% of the baseline)", c.KL-b.KL, limit, tol.KLAbs, 100*tol.KLRel)
		}
		vs = append(vs, v)
	case KindMultipleChoice:
		for _, m := range []struct {
			name   string
			cs, bs Bools
			cv, bv float64
		}{{"acc", c.Samples.Acc, b.Samples.Acc, c.Acc, b.Acc}, {"acc_norm", c.Samples.AccNorm, b.Samples.AccNorm, c.AccNorm, b.AccNorm}} {
			d, se, mc, err := PairedBinary(m.cs, m.bs)
			if err != nil {
				return nil, fmt.Errorf("compare: row %s on %s: %w", id, ds.Name, err)
			}
			vs = append(vs, Verdict{Regression: Regression{Row: id, Dataset: ds.Name, Metric: m.name, Baseline: m.bv, Current: m.cv,
				Diff: d, StdErr: se, Why: fmt.Sprintf("%+.2f points, McNemar p = %.3g (%d items lost, %d gained)", 100*d, mc.P, mc.B, mc.C)},
				Bound:  fmt.Sprintf("no drop with McNemar p < %.3g", pForZ(tol.Z)),
				Failed: d < 0 && mc.P < pForZ(tol.Z)})
		}
	}
	return vs, nil
}

func ratio(d, se float64) float64 {
	if se == 0 {
		return math.Inf(1)
	}
	return d / se
}
