package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/ttqproject/ttq/internal/atomicfile"
	"github.com/ttqproject/ttq/pkg/compare"
)

func (o compareOptions) tolerance() compare.Tolerance {
	return compare.Tolerance{Z: o.Z, MinNLL: o.MinNLL, KLAbs: o.KLAbs, KLRel: o.KLRel}
}

// reportGate tells CI how a --check run went, after it ran: the JUnit
// report of --junit (written atomically), and under GitHub Actions one
// ::error line per regression, or one for a gate that could not judge the
// rows. The lines go to stdout, or to stderr with --json so that stdout
// stays one JSON document (the runner reads commands from both). It returns
// err, or the error of writing the report when err is nil.
func reportGate(io *streams, o compareOptions, baseline *compare.Report, verdicts []compare.Verdict, took time.Duration, err error) error {
	var re regressionError
	gateErr := err
	if errors.As(err, &re) {
		gateErr = nil
	}
	if os.Getenv("GITHUB_ACTIONS") == "true" {
		w := io.Out
		if o.JSON {
			w = io.ErrOut
		}
		file := ""
		if rel := filepath.ToSlash(filepath.Clean(o.Check)); !filepath.IsAbs(o.Check) && !strings.HasPrefix(rel, "../") {
			file = rel
		}
		if gateErr != nil {
			_ = compare.GitHubError(w, file, "ttq compare --check", gateErr.Error())
		} else {
			_ = compare.GitHubAnnotations(w, file, verdicts)
		}
	}
	if o.JUnit == "" {
		return err
	}
	tol := o.tolerance()
	suite := compare.GateSuite{Name: "ttq compare --check " + o.Check, Seconds: took.Seconds(), Err: gateErr, Properties: []compare.Property{
		{Name: "baseline", Value: o.Check},
		{Name: "model", Value: baseline.Model.Name},
		{Name: "model_sha256", Value: baseline.Model.SHA256},
		{Name: "tolerance", Value: fmt.Sprintf("z=%g min_nll=%g kl_abs=%g kl_rel=%g", tol.Z, tol.MinNLL, tol.KLAbs, tol.KLRel)},
	}}
	var buf bytes.Buffer
	werr := compare.WriteJUnit(&buf, suite, verdicts)
	if werr == nil {
		werr = atomicfile.WriteFile(o.JUnit, buf.Bytes())
	}
	if werr == nil {
		return err
	}
	werr = fmt.Errorf("--junit %s: %w", o.JUnit, werr)
	if err == nil {
		return werr
	}
	fmt.Fprintf(io.ErrOut, "ttq: %v\n", werr)
	return err
}

func runCompareMerge(io *streams, o compareOptions, files []string) error {
	if o.JSON && o.Markdown {
		return usagef("--json and --markdown are exclusive")
	}
	var reps []*compare.Report
	for _, f := range files {
		rep, err := compare.ReadReport(f)
		if err != nil {
			return err
		}
		reps = append(reps, rep)
	}
	rep, err := compare.Merge(reps, compare.DefaultZ)
	if err != nil {
		return err
	}
	return writeCompare(io, &o, rep)
}

// runCompareCheck is the regression gate: compare.Gate with the baseline's
// settings, which no flag may contradict.
func runCompareCheck(ctx context.Context, io *streams, base compareOptions, fs *pflag.FlagSet) (err error) {
	for _, name := range []string{"methods", "bits", "group", "datasets", "baseline", "calib", "calib-domains", "eval-domains", "model", "max-windows", "max-items", "protocol", "ctx", "bos", "plant-outliers", "shard"} {
		if fs.Changed(name) {
			return usagef("--%s cannot be combined with --check: the baseline report fixes it", name)
		}
	}
	baseline, err := compare.ReadReport(base.Check)
	if err != nil {
		return err
	}
	var verdicts []compare.Verdict
	defer func(start time.Time) { err = reportGate(io, base, baseline, verdicts, time.Since(start), err) }(time.Now())
	for name, v := range baseline.Settings.MethodFlags {
		if fl := fs.Lookup(name); fl != nil && fs.Changed(name) && fl.Value.String() != v {
			return usagef("--%s conflicts with the baseline's setting %q: --check reproduces the baseline's settings", name, v)
		}
	}
	if err := base.validatePresentation(); err != nil {
		return err
	}
	tol := base.tolerance()
	res, err := computeCompare(ctx, io, &base, func(ctx context.Context, o compare.Options) (*compare.GateResult, error) {
		return compare.Gate(ctx, baseline, base.Check, o, tol)
	})
	if err != nil {
		if res != nil {
			_ = writeCompare(io, &base, res.Report)
		}
		return err
	}
	verdicts = res.Verdicts
	regs := res.Regressions
	if base.JSON {
		if err := writeJSON(io.Out, map[string]any{"schema": "ttq.compare-check/v1", "baseline": base.Check,
			"tolerance": tol, "regressions": regs, "report": res.Report}); err != nil {
			return err
		}
	} else if err := writeCompare(io, &base, res.Report); err != nil {
		return err
	}
	if len(regs) == 0 {
		fmt.Fprintf(io.ErrOut, "ttq: compare --check: %d rows match %s within tolerance (%.1f paired s.e.; KL +%.4g nats + %.0f%%)\n",
			len(baseline.Rows), base.Check, tol.Z, tol.KLAbs, 100*tol.KLRel)
		return nil
	}
	fmt.Fprintf(io.ErrOut, "ttq: compare --check: regressions against %s:\n", base.Check)
	for _, r := range regs {
		fmt.Fprintf(io.ErrOut, "  %s\n", r)
	}
	return regressionError{n: len(regs)}
}
