package compare

import (
	"context"
	"fmt"
	"os"
)

// ReadReport reads a --json report from path.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rep, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rep, nil
}

// GateResult is a finished regression gate: the recomputed report and a
// verdict per row × metric.
type GateResult struct {
	Report   *Report
	Verdicts []Verdict
	// Regressions are the failed verdicts; the gate passed when empty.
	Regressions []Regression
}

// Gate recomputes every row of the baseline report (name says where it
// came from, in errors) with the baseline's own
// settings and judges each metric with tol. The model, the datasets and the
// settings come from the baseline; base supplies the rest (threads,
// progress, version) and is never allowed to change what is measured.
// Gate fails without judging when the baseline is partial or the model's
// weights or the evaluated data differ from the baseline's; when the
// recomputation itself fails or is interrupted the result still carries
// the rows that finished.
func Gate(ctx context.Context, baseline *Report, name string, base Options, tol Tolerance) (*GateResult, error) {
	if baseline.Interrupted || baseline.Shard != "" {
		return nil, fmt.Errorf("%s is a partial report (interrupted or one shard); a gate needs every row", name)
	}
	o, err := optionsFromReport(baseline, base)
	if err != nil {
		return nil, err
	}
	cur, err := run(ctx, &o, true)
	if err != nil {
		if cur != nil {
			return &GateResult{Report: cur}, err
		}
		return nil, err
	}
	if cur.Model.SHA256 != baseline.Model.SHA256 {
		return nil, fmt.Errorf("the model's weights differ from the baseline's (sha256 %.12s, baseline %.12s): regenerate the baseline", cur.Model.SHA256, baseline.Model.SHA256)
	}
	for i := range baseline.Datasets {
		if i >= len(cur.Datasets) || cur.Datasets[i].SHA256 != baseline.Datasets[i].SHA256 || cur.Datasets[i].ScoredTokens != baseline.Datasets[i].ScoredTokens || cur.Datasets[i].Items != baseline.Datasets[i].Items {
			return nil, fmt.Errorf("dataset %s differs from the baseline's (text, tokenization or limits changed): regenerate the baseline", baseline.Datasets[i].Name)
		}
	}
	res := &GateResult{Report: cur}
	if res.Verdicts, err = Judge(baseline, cur, tol); err != nil {
		return nil, err
	}
	res.Regressions = Failures(res.Verdicts)
	return res, nil
}

// optionsFromReport rebuilds the options that produced a report.
func optionsFromReport(rep *Report, base Options) (Options, error) {
	s := rep.Settings
	o := base
	o.Model = rep.Model.Name
	o.PlantOutliers, o.PlantSeed = "", s.PlantSeed
	if rep.Model.Name != PlantedDemoName {
		o.PlantOutliers = s.PlantOutliers
	}
	o.Methods, o.Bits, o.Groups, o.Baseline = s.Methods, s.Bits, s.Groups, s.Baseline
	if len(o.Groups) == 0 && s.Group != 0 {
		o.Groups = []int{s.Group}
	}
	o.Datasets, o.Calib, o.CalibDomains, o.EvalDomains = s.Datasets, s.Calib, s.CalibDomains, s.EvalDomains
	o.Protocol, o.Ctx, o.BOS, o.MaxWindows, o.MaxItems = s.Protocol, s.Ctx, s.BOS, s.MaxWindows, s.MaxItems
	o.Shard = ""
	for name, v := range s.MethodFlags {
		if IsOwnKnob(name) {
			return o, fmt.Errorf("baseline setting --%s is unknown to this ttq", name)
		}
		if err := o.Knobs.SetKnob(name, v); err != nil {
			if _, known := o.Knobs.KnobValues()[name]; !known {
				return o, fmt.Errorf("baseline setting --%s is unknown to this ttq", name)
			}
			return o, fmt.Errorf("baseline setting --%s %q: %w", name, v, err)
		}
	}
	return o, nil
}
