package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

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
