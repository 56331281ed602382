package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ttqproject/ttq/pkg/compare"
)

// compareOptions are compare.Options plus how the command presents them.
type compareOptions struct {
	compare.Options

	JSON     bool
	Markdown bool
	Plot     string
	Merge    bool
	Check    string
	JUnit    string
	Z        float64
	MinNLL   float64
	KLAbs    float64
	KLRel    float64
}

// regressionError is a completed --check that found regressions (exit 3).
type regressionError struct{ n int }

func (e regressionError) Error() string {
	return fmt.Sprintf("regression gate failed: %d metric(s) got worse beyond tolerance", e.n)
}

func newCompareCmd(io *streams) *cobra.Command {
	opts := compareOptions{Options: compare.DefaultOptions()}
	d := opts.Options
	cmd := &cobra.Command{
		Use:   "compare [--merge FILE.json...]",
		Short: "Compare quantization methods side by side on the same model and data",
		Long: `Quantize one model with several methods and bit widths, evaluate every
variant on the same windows and items, and put the results in one table: a
row per method × bits, columns per metric (perplexity ± stderr per dataset,
PIQA acc/acc_norm ± stderr, KL divergence to full precision, bits per weight,
model size, quantization time, tokens/s, TTQ's per-prompt calibration
overhead), each also as the difference to the --baseline row at the same bits.

Differences are judged from paired statistics, because every row sees the
identical data: the standard error of the per-token NLL (and KL) differences
for perplexity, McNemar's exact test for accuracy. A difference within
2 paired standard errors (p ≥ 0.046) is marked ≈ (within noise).

With no flags it runs fp, rtn, awq, gptq and ttq at 3 and 4 bits on the
built-in demo model (stories260K) with small default limits (4 WikiText-2
windows, 200 PIQA items, 16 × 128 calibration tokens), about a minute on two
cores. builtin:stories260K-planted is the same model with planted outlier
channels (--plant-outliers 32:8): a synthetic stress model on which, as in
large LLMs, round-to-nearest suffers and activation-aware methods win.

Domain shift: --calib-domains calibrates each static method (awq, gptq) on
each listed domain; --eval-domains adds each domain's held-out half as a
perplexity dataset. Built-in domains: wikipedia, c4, shakespeare, go,
japanese (or give text files). TTQ calibrates on each prompt and needs none.

TTQ variants: --methods ttq:PRESET (ttq:search, ttq:paper, any --ttq-preset
name) gives the ttq method with that preset its own rows, ttq:search-w3-g128
beside ttq-w3-g128; the other --ttq-* flags still apply to every ttq row.
--group takes a list (--group 32,128: every method at each group size).

Results are cached by a fingerprint of model, method settings, data and ttq
version (--cache DIR, default under the user cache directory), so adding a
method recomputes only the new rows. --shard i/n (0 ≤ i < n) runs every n-th
row starting at i; ttq compare --merge a.json b.json ... joins the shards'
--json outputs into one report. --check BASELINE.json recomputes a committed
report's rows and exits 3 when a metric regressed (see --tolerance); for CI,
--junit FILE also writes the verdicts as JUnit XML, and under GitHub Actions
(GITHUB_ACTIONS=true) each regression is an ::error annotation (docs/ci.md).

Ctrl-C stops after the current row's step and prints the finished rows
(exit 130).`,
		Example: `  ttq compare                                      # the demo, ~1 minute
  ttq compare --model builtin:stories260K-planted  # synthetic outliers
  ttq compare --model ./Llama-3.2-1B --methods fp,rtn,awq,ttq --bits 4 --max-windows 40
  ttq compare --methods fp,awq,ttq --bits 4 --calib-domains wikipedia,shakespeare,go --eval-domains wikipedia,shakespeare,go --plot shift.svg
  ttq compare --shard 0/4 --json > part0.json; ttq compare --merge part*.json --markdown
  ttq compare --check testdata/regress/baseline.json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.Threads, err = cmd.Flags().GetInt("threads"); err != nil {
				return err
			}
			opts.Version, opts.BuildIdentity, opts.CPUFeatures = version, compare.BuildIdentity(version), currentVersion().CPUFeatures
			if opts.Merge {
				if len(args) == 0 {
					return usagef("--merge needs the JSON reports to join as arguments")
				}
				return runCompareMerge(io, opts, args)
			}
			if len(args) > 0 {
				return usagef("compare takes no arguments (did you mean --merge %s?)", strings.Join(args, " "))
			}
			if opts.Check != "" {
				return runCompareCheck(cmd.Context(), io, opts, cmd.Flags())
			}
			if opts.JUnit != "" {
				return usagef("--junit reports the regression gate: use it with --check BASELINE.json")
			}
			if err := opts.validate(); err != nil {
				return err
			}
			return runCompare(cmd.Context(), io, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Model, "model", "", "model directory, hub cache org/name[@revision], builtin:stories260K or builtin:stories260K-planted (default: the demo)")
	f.StringVar(&opts.PlantOutliers, "plant-outliers", "", "plant outliers K:N into the model first (N hidden channels ×K in every RMSNorm, matching input columns ÷K; same function)")
	f.Uint64Var(&opts.PlantSeed, "plant-seed", 0, "seed choosing the planted channels")
	f.StringSliceVar(&opts.Methods, "methods", d.Methods, "methods to compare (fp = full precision; ttq:PRESET = a TTQ variant, e.g. ttq:search, with rows of its own)")
	f.IntSliceVar(&opts.Bits, "bits", d.Bits, "bit widths of the quantized rows")
	f.IntSliceVar(&opts.Groups, "group", d.Groups, "inputs per quantization group for every method, one or a list (e.g. 32,128; -1: one group per row)")
	f.StringSliceVar(&opts.Datasets, "datasets", d.Datasets, "evaluations: wikitext, piqa, a built-in domain, a text FILE or mc:FILE")
	f.StringVar(&opts.Baseline, "baseline", "", "method the others are compared with (default: awq if compared, else rtn, else fp)")
	f.StringVar(&opts.Calib, "calib", d.Calib, "calibration text of awq/gptq: wikitext:valid, piqa, a built-in domain or FILE")
	f.StringSliceVar(&opts.CalibDomains, "calib-domains", nil, "calibrate the static methods on each of these domains (rows per domain; also wikitext:valid, wikitext:test or piqa)")
	f.StringSliceVar(&opts.EvalDomains, "eval-domains", nil, "add each domain's held-out text as a perplexity dataset")
	f.StringVar(&opts.Protocol, "protocol", d.Protocol, "perplexity protocol: gptq or llamacpp")
	f.IntVar(&opts.Ctx, "ctx", 0, "perplexity window (default: the protocol's, capped at the model's maximum)")
	f.StringVar(&opts.BOS, "bos", d.BOS, "BOS policy: auto, on or off")
	f.IntVar(&opts.MaxWindows, "max-windows", d.MaxWindows, "perplexity windows per dataset (0 = all)")
	f.IntVar(&opts.MaxItems, "max-items", d.MaxItems, "multiple-choice items (0 = all)")
	f.Float64Var(&opts.MatchedBitsTol, "matched-bits-tol", d.MatchedBitsTol, "line each ttq row up against every static row within this many bits/weight of its own (0: no such table)")
	f.IntVar(&opts.Parallel, "parallel", 0, "windows or items evaluated at once (default: one per thread for small models; ttq always 1)")
	f.BoolVar(&opts.JSON, "json", false, `print one JSON document ("schema": "ttq.compare/v1") with every number and setting`)
	f.BoolVar(&opts.Markdown, "markdown", false, "print the table as Markdown")
	f.StringVar(&opts.Plot, "plot", "", "write plots: FILE.svg or FILE.png (perplexity against bits per weight; with --eval-domains FILE-domains.EXT: every row on every perplexity dataset against fp; with ttq and --calib-domains FILE-ttq.EXT: ttq against the best and worst static calibration)")
	f.StringVar(&opts.CacheDir, "cache", "", "result cache directory (default: ttq/compare under the user cache directory)")
	f.BoolVar(&opts.NoCache, "no-cache", false, "compute every row, reading and writing no cache")
	f.StringVar(&opts.Shard, "shard", "", "run only rows i, i+n, i+2n, ... (i/n with 0 ≤ i < n; e.g. $JOB_COMPLETION_INDEX/4)")
	f.BoolVar(&opts.Merge, "merge", false, "join --json reports given as arguments (shards) into one")
	f.StringVar(&opts.Check, "check", "", "regression gate: recompute this baseline report's rows; exit 3 if any got worse beyond tolerance")
	f.StringVar(&opts.JUnit, "junit", "", "--check: also write the verdicts as JUnit XML to this file (one test case per row and metric)")
	f.Float64Var(&opts.Z, "tolerance", compare.DefaultZ, "--check: paired standard errors a metric may worsen by (accuracy: McNemar at the same level)")
	f.Float64Var(&opts.MinNLL, "min-nll-delta", compare.DefaultTolerance().MinNLL, "--check: smallest mean per-token NLL increase (nats) that counts as a regression")
	f.Float64Var(&opts.KLAbs, "kl-tolerance", compare.DefaultTolerance().KLAbs, "--check: allowed KL increase in nats, plus --kl-tolerance-rel × the baseline KL")
	f.Float64Var(&opts.KLRel, "kl-tolerance-rel", compare.DefaultTolerance().KLRel, "--check: allowed KL increase as a fraction of the baseline KL")

	// The method knobs are ttq quantize's / eval's, except the ones
	// compare takes as lists or per row; compare's defaults differ in
	// the calibration size.
	knobs := pflag.NewFlagSet("method", pflag.ContinueOnError)
	addMethodFlags(knobs, &opts.Knobs, "")
	knobs.VisitAll(func(fl *pflag.Flag) {
		if compare.IsOwnKnob(fl.Name) {
			return
		}
		if v := d.Knobs.KnobValues()[fl.Name]; v != fl.DefValue {
			_ = fl.Value.Set(v)
			fl.DefValue = v
		}
		f.AddFlag(fl)
	})
	return cmd
}

// validate checks the options before anything is loaded.
func (o *compareOptions) validate() error {
	if err := o.validatePresentation(); err != nil {
		return err
	}
	return o.Options.Validate()
}

// validatePresentation checks how the report is to be presented and
// judged, the flags a --check baseline does not fix.
func (o *compareOptions) validatePresentation() error {
	if o.JSON && o.Markdown {
		return usagef("--json and --markdown are exclusive")
	}
	if o.Plot != "" {
		if ext := strings.ToLower(filepath.Ext(o.Plot)); ext != ".svg" && ext != ".png" {
			return usagef("--plot %s: want a .svg or .png file", o.Plot)
		}
	}
	if !(o.Z > 0) || o.MinNLL < 0 || o.KLAbs < 0 || o.KLRel < 0 {
		return usagef("--tolerance must be > 0; --min-nll-delta, --kl-tolerance and --kl-tolerance-rel ≥ 0")
	}
	return nil
}

func runCompare(ctx context.Context, io *streams, o compareOptions) error {
	rep, err := computeCompare(ctx, io, &o, compare.Run)
	if rep == nil {
		return err
	}
	if werr := writeCompare(io, &o, rep); werr != nil {
		return werr
	}
	if err != nil {
		return fmt.Errorf("interrupted; the table shows the %d finished rows: %w", len(rep.Rows), err)
	}
	return nil
}

// computeCompare runs o through compute (compare.Run, or a gate) with a
// progress display: a line naming the limits and one bar over all rows,
// or on a pipe a line per finished row.
func computeCompare[T any](ctx context.Context, io *streams, o *compareOptions, compute func(context.Context, compare.Options) (T, error)) (T, error) {
	var bar *compareProgress
	o.Planned = func(p compare.Plan) {
		if !o.JSON {
			fmt.Fprintf(io.ErrOut, "ttq: compare %d rows on %s; %s\n", p.Rows, p.Model, limitsText(o, p.Datasets))
		}
		bar = newCompareProgress(io, p.Rows, p.Datasets)
	}
	o.Progress = func(e compare.Event) { bar.event(e) }
	res, err := compute(ctx, o.Options)
	if bar != nil {
		bar.finish(err == nil)
	}
	return res, err
}

func limitsText(o *compareOptions, ds []compare.DatasetInfo) string {
	var parts []string
	for _, d := range ds {
		switch d.Kind {
		case compare.KindPerplexity:
			parts = append(parts, fmt.Sprintf("%s %d×%d-token windows", d.Name, d.Windows, d.Ctx))
		case compare.KindMultipleChoice:
			parts = append(parts, fmt.Sprintf("%s %d items", d.Name, d.Items))
		}
	}
	return fmt.Sprintf("%s (--max-windows %d, --max-items %d); calibration %d × %d tokens",
		strings.Join(parts, ", "), o.MaxWindows, o.MaxItems, o.Knobs.NSamples, o.Knobs.CalibSeqLen)
}

// compareProgress draws one bar over all rows' steps (quantize + one per
// dataset) with an ETA on a terminal; elsewhere it prints one line per
// finished row.
type compareProgress struct {
	io       *streams
	bar      *progressbar.ProgressBar
	steps    int // per row
	lastRow  int
	rowStart time.Time
	started  bool
	names    []string // dataset steps in order
}

func newCompareProgress(io *streams, rows int, datasets []compare.DatasetInfo) *compareProgress {
	p := &compareProgress{io: io, steps: len(datasets) + 1, lastRow: -1}
	for _, d := range datasets {
		p.names = append(p.names, d.Name)
	}
	if io.ErrTTY && rows > 0 {
		p.bar = progressbar.NewOptions(rows*p.steps*100,
			progressbar.OptionSetWriter(io.ErrOut),
			progressbar.OptionSetVisibility(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetWidth(25),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *compareProgress) event(e compare.Event) {
	if e.Row != p.lastRow {
		p.rowDone()
		p.lastRow, p.rowStart, p.started = e.Row, time.Now(), true
	}
	if e.Cached {
		if p.bar == nil {
			fmt.Fprintf(p.io.ErrOut, "ttq: compare [%d/%d] %s: cached\n", e.Row+1, e.Rows, e.ID)
		}
		p.started = false
	}
	if p.bar == nil {
		return
	}
	step := 0
	frac := 0.0
	if !e.Cached && e.Step != "quantize" {
		step = p.stepIndex(e)
		if e.Total > 0 {
			frac = float64(e.Done) / float64(e.Total)
		}
	}
	if e.Cached {
		step, frac = p.steps, 0
	}
	_ = p.bar.Set((e.Row*p.steps+step)*100 + int(100*frac))
	desc := fmt.Sprintf("[%d/%d] %s: %s", e.Row+1, e.Rows, e.ID, e.Step)
	if e.Total > 0 {
		desc += fmt.Sprintf(" %d/%d", e.Done, e.Total)
	}
	p.bar.Describe(desc)
}

// stepIndex maps a dataset step to 1…datasets.
func (p *compareProgress) stepIndex(e compare.Event) int {
	return 1 + max(0, slices.Index(p.names, e.Step))
}

func (p *compareProgress) rowDone() {
	if p.bar == nil && p.started && p.lastRow >= 0 {
		fmt.Fprintf(p.io.ErrOut, "ttq: compare row %d done in %.1fs\n", p.lastRow+1, time.Since(p.rowStart).Seconds())
	}
	p.started = false
}

func (p *compareProgress) finish(ok bool) {
	if ok {
		p.rowDone()
	}
	if p.bar != nil {
		_ = p.bar.Clear()
	}
}

// writeCompare prints the report in the chosen form and writes the plot.
func writeCompare(io *streams, o *compareOptions, rep *compare.Report) error {
	if o.Plot != "" && len(rep.Rows) > 0 {
		files, err := compare.WritePlots(rep, o.Plot)
		if err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
		if !o.JSON {
			fmt.Fprintf(io.ErrOut, "ttq: wrote %s\n", strings.Join(files, ", "))
		}
	}
	if o.JSON {
		return writeJSON(io.Out, rep)
	}
	header, rows, notes := rep.Table()
	sections := rep.Sections()
	if o.Markdown {
		if err := compare.WriteMarkdown(io.Out, header, rows); err != nil {
			return err
		}
		for _, sec := range sections {
			fmt.Fprintln(io.Out, "\n"+sec.Title+":")
			if err := compare.WriteMarkdown(io.Out, sec.Header, sec.Rows); err != nil {
				return err
			}
		}
		fmt.Fprintln(io.Out)
		for _, n := range notes {
			fmt.Fprintf(io.Out, "- %s\n", n)
		}
		return nil
	}
	if err := renderTable(io.Out, header, rows); err != nil {
		return err
	}
	for _, sec := range sections {
		fmt.Fprintln(io.Out, sec.Title+":")
		if err := renderTable(io.Out, sec.Header, sec.Rows); err != nil {
			return err
		}
	}
	for _, n := range notes {
		fmt.Fprintf(io.Out, "  %s\n", n)
	}
	return nil
}
