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

// Check compares the recomputed report cur with the committed baseline row
// by row and returns what regressed. Rows or data that cannot be paired
// (a row missing from cur, different sample counts) are errors: the gate
// cannot judge them.
func Check(base, cur *Report, tol Tolerance) ([]Regression, error) {
	var regs []Regression
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
			regs = append(regs, rs...)
		}
	}
	return regs, nil
}

func checkResult(id string, ds DatasetInfo, b, c *DatasetResult, tol Tolerance) ([]Regression, error) {
	var regs []Regression
	switch ds.Kind {
	case KindPerplexity:
		d, se, err := PairedDiff(c.Samples.NLL, b.Samples.NLL)
		if err != nil {
			return nil, fmt.Errorf("compare: row %s on %s: %w", id, ds.Name, err)
		}
		if d > tol.Z*se && d > tol.MinNLL {
			regs = append(regs, Regression{Row: id, Dataset: ds.Name, Metric: "ppl", Baseline: b.PPL, Current: c.PPL,
				Diff: d, StdErr: se, Why: fmt.Sprintf("mean NLL +%.5f ± %.5f nats, %.1f paired standard errors > %.1f; PPL %+.2f%%",
					d, se, ratio(d, se), tol.Z, 100*(math.Exp(d)-1))})
		}
		if limit := tol.KLAbs + tol.KLRel*b.KL; c.KL-b.KL > limit {
			regs = append(regs, Regression{Row: id, Dataset: ds.Name, Metric: "kl", Baseline: b.KL, Current: c.KL,
				Diff: c.KL - b.KL, StdErr: math.Hypot(b.KLStdErr, c.KLStdErr),
				Why: fmt.Sprintf("KL to fp +%.5f nats > bound %.5f (%.4g + %.0f%% of the baseline)", c.KL-b.KL, limit, tol.KLAbs, 100*tol.KLRel)})
		}
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
			if d < 0 && mc.P < pForZ(tol.Z) {
				regs = append(regs, Regression{Row: id, Dataset: ds.Name, Metric: m.name, Baseline: m.bv, Current: m.cv,
					Diff: d, StdErr: se, Why: fmt.Sprintf("%+.2f points, McNemar p = %.3g (%d items lost, %d gained)", 100*d, mc.P, mc.B, mc.C)})
			}
		}
	}
	return regs, nil
}

func ratio(d, se float64) float64 {
	if se == 0 {
		return math.Inf(1)
	}
	return d / se
}
