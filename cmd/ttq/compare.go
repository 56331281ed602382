package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ttqproject/ttq/pkg/compare"
	"github.com/ttqproject/ttq/pkg/eval"
	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/hub"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
	"github.com/ttqproject/ttq/pkg/model/transform"
	"github.com/ttqproject/ttq/pkg/quant"
)

// The built-in stress model: the demo with planted outliers.
const (
	plantedDemoName = "builtin:stories260K-planted"
	plantedDemoSpec = "32:8"
)

// Defaults sized so that `ttq compare` with no flags finishes in about a
// minute on two cores with the demo model: 9 rows, 4 WikiText windows of
// 512 tokens, 200 PIQA items, 16 × 128 calibration tokens for awq/gptq.
const (
	defaultCompareWindows = 4
	defaultCompareItems   = 200
	defaultCompareSamples = "16"
	defaultCompareSeqLen  = "128"
)

// Method flags compare owns itself (lists, or per-row values).
var compareOwnMethodFlags = []string{"method", "bits", "group", "calib"}

type compareOptions struct {
	Model         string
	PlantOutliers string
	PlantSeed     uint64
	Methods       []string
	Bits          []int
	Group         int
	Datasets      []string
	Baseline      string
	Calib         string
	CalibDomains  []string
	EvalDomains   []string
	Protocol      string
	Ctx           int
	BOS           string
	MaxWindows    int
	MaxItems      int
	Parallel      int
	Threads       int

	JSON     bool
	Markdown bool
	Plot     string
	CacheDir string
	NoCache  bool
	Shard    string
	Merge    bool
	Check    string
	JUnit    string
	Z        float64
	MinNLL   float64
	KLAbs    float64
	KLRel    float64

	// methodFlags are the shared method knobs (--grid, --nsamples, ...).
	methodFlags *pflag.FlagSet
	// fromCheck: settings come from a baseline report (no cache).
	fromCheck bool
}

// regressionError is a completed --check that found regressions (exit 3).
type regressionError struct{ n int }

func (e regressionError) Error() string {
	return fmt.Sprintf("regression gate failed: %d metric(s) got worse beyond tolerance", e.n)
}

func newCompareCmd(io *streams) *cobra.Command {
	opts := compareOptions{}
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
	f.StringSliceVar(&opts.Methods, "methods", []string{"fp", "rtn", "awq", "gptq", "ttq"}, "methods to compare (fp = full precision)")
	f.IntSliceVar(&opts.Bits, "bits", []int{3, 4}, "bit widths of the quantized rows")
	f.IntVar(&opts.Group, "group", 128, "inputs per quantization group for every method (-1: one group per row)")
	f.StringSliceVar(&opts.Datasets, "datasets", []string{"wikitext", "piqa"}, "evaluations: wikitext, piqa, a built-in domain, a text FILE or mc:FILE")
	f.StringVar(&opts.Baseline, "baseline", "", "method the others are compared with (default: awq if compared, else rtn, else fp)")
	f.StringVar(&opts.Calib, "calib", "wikitext:valid", "calibration text of awq/gptq: wikitext:valid, piqa, a built-in domain or FILE")
	f.StringSliceVar(&opts.CalibDomains, "calib-domains", nil, "calibrate the static methods on each of these domains (rows per domain)")
	f.StringSliceVar(&opts.EvalDomains, "eval-domains", nil, "add each domain's held-out text as a perplexity dataset")
	f.StringVar(&opts.Protocol, "protocol", "gptq", "perplexity protocol: gptq or llamacpp")
	f.IntVar(&opts.Ctx, "ctx", 0, "perplexity window (default: the protocol's, capped at the model's maximum)")
	f.StringVar(&opts.BOS, "bos", "auto", "BOS policy: auto, on or off")
	f.IntVar(&opts.MaxWindows, "max-windows", defaultCompareWindows, "perplexity windows per dataset (0 = all)")
	f.IntVar(&opts.MaxItems, "max-items", defaultCompareItems, "multiple-choice items (0 = all)")
	f.IntVar(&opts.Parallel, "parallel", 0, "windows or items evaluated at once (default: one per thread for small models; ttq always 1)")
	f.BoolVar(&opts.JSON, "json", false, `print one JSON document ("schema": "ttq.compare/v1") with every number and setting`)
	f.BoolVar(&opts.Markdown, "markdown", false, "print the table as Markdown")
	f.StringVar(&opts.Plot, "plot", "", "write a plot: FILE.svg or FILE.png (perplexity against bits per weight; FILE-domains.EXT: the domain-shift heat map)")
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
	// compare takes as lists or per row.
	knobs := pflag.NewFlagSet("method", pflag.ContinueOnError)
	var mo methodOptions
	addMethodFlags(knobs, &mo, "")
	knobs.VisitAll(func(fl *pflag.Flag) {
		if slices.Contains(compareOwnMethodFlags, fl.Name) {
			return
		}
		f.AddFlag(fl)
	})
	// Calibrating awq on 128 × 512 tokens takes minutes even on the demo.
	for name, v := range map[string]string{"nsamples": defaultCompareSamples, "calib-seqlen": defaultCompareSeqLen} {
		if fl := f.Lookup(name); fl != nil {
			_ = fl.Value.Set(v)
			fl.DefValue = v
		}
	}
	opts.methodFlags = f
	return cmd
}

func (o *compareOptions) validate() error {
	if len(o.Methods) == 0 {
		return usagef("--methods is empty")
	}
	seen := map[string]bool{}
	for _, m := range o.Methods {
		if seen[m] {
			return usagef("--methods lists %s twice", m)
		}
		seen[m] = true
		if m == "fp" {
			continue
		}
		if _, err := quant.Lookup(m); err != nil {
			return usagef("--methods: %v", err)
		}
	}
	quantized := len(o.Methods) > 1 || o.Methods[0] != "fp"
	if quantized && len(o.Bits) == 0 {
		return usagef("--bits is empty")
	}
	for _, b := range o.Bits {
		if b < 2 || b > 8 {
			return usagef("--bits %d: supported 2 to 8", b)
		}
	}
	if o.Group == 0 || o.Group < -1 {
		return usagef("--group %d: want a positive group size or -1 for per-row", o.Group)
	}
	if o.Baseline == "" {
		for _, m := range []string{"awq", "rtn", "fp"} {
			if seen[m] {
				o.Baseline = m
				break
			}
		}
		if o.Baseline == "" {
			o.Baseline = o.Methods[0]
		}
	}
	if !seen[o.Baseline] {
		return usagef("--baseline %s is not among --methods %s", o.Baseline, strings.Join(o.Methods, ","))
	}
	if len(o.Datasets) == 0 && len(o.EvalDomains) == 0 {
		return usagef("--datasets is empty")
	}
	if err := validateBOSAndProtocol(o.BOS, o.Protocol); err != nil {
		return err
	}
	if o.Ctx < 0 || o.MaxWindows < 0 || o.MaxItems < 0 || o.Parallel < 0 {
		return usagef("--ctx, --max-windows, --max-items and --parallel must not be negative")
	}
	if o.JSON && o.Markdown {
		return usagef("--json and --markdown are exclusive")
	}
	if o.Plot != "" {
		if ext := strings.ToLower(filepath.Ext(o.Plot)); ext != ".svg" && ext != ".png" {
			return usagef("--plot %s: want a .svg or .png file", o.Plot)
		}
	}
	if o.PlantOutliers != "" {
		if _, err := transform.ParseSpec(o.PlantOutliers); err != nil {
			return usagef("--plant-outliers: %v", err)
		}
		if o.Model == plantedDemoName {
			return usagef("%s already has planted outliers; use --model builtin:stories260K with --plant-outliers", plantedDemoName)
		}
	}
	if _, _, err := parseShard(o.Shard); err != nil {
		return err
	}
	for _, d := range append(slices.Clone(o.CalibDomains), o.EvalDomains...) {
		if d == "" {
			return usagef("empty domain name")
		}
		if !compare.IsDomain(d) {
			if _, err := os.Stat(d); err != nil {
				return usagef("domain %q is neither built in (%s) nor a readable file", d, strings.Join(compare.Domains, ", "))
			}
		}
	}
	if !(o.Z > 0) || o.MinNLL < 0 || o.KLAbs < 0 || o.KLRel < 0 {
		return usagef("--tolerance must be > 0; --min-nll-delta, --kl-tolerance and --kl-tolerance-rel ≥ 0")
	}
	// Every method knob must be valid for every method compared.
	for _, m := range o.Methods {
		if m == "fp" {
			continue
		}
		mo, err := o.methodOptions(compare.RowSpec{Method: m, Bits: o.Bits[0], Group: o.Group, Calib: o.Calib})
		if err != nil {
			return err
		}
		if _, _, err := mo.quantOptions(); err != nil {
			return err
		}
	}
	return nil
}

// parseShard reads "i/n" (0 ≤ i < n); "" is the whole run (0/1).
func parseShard(s string) (int, int, error) {
	if s == "" {
		return 0, 1, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, usagef("--shard %q: want i/n with 0 ≤ i < n (e.g. 0/4)", s)
	}
	return i, n, nil
}

// knobValues returns every method knob flag's value, for the report.
func (o *compareOptions) knobValues() map[string]string {
	out := map[string]string{}
	var mo methodOptions
	tmp := pflag.NewFlagSet("probe", pflag.ContinueOnError)
	addMethodFlags(tmp, &mo, "")
	tmp.VisitAll(func(fl *pflag.Flag) {
		if slices.Contains(compareOwnMethodFlags, fl.Name) {
			return
		}
		if mine := o.methodFlags.Lookup(fl.Name); mine != nil {
			out[fl.Name] = mine.Value.String()
		}
	})
	return out
}

// methodOptions builds a row's method options from the knob flags.
func (o *compareOptions) methodOptions(spec compare.RowSpec) (methodOptions, error) {
	var mo methodOptions
	tmp := pflag.NewFlagSet("row", pflag.ContinueOnError)
	addMethodFlags(tmp, &mo, "")
	for name, v := range o.knobValues() {
		if err := tmp.Set(name, v); err != nil {
			return mo, usagef("--%s %q: %v", name, v, err)
		}
	}
	mo.Method, mo.Bits, mo.Group = spec.Method, spec.Bits, spec.Group
	mo.Calib = spec.Calib
	if mo.Calib == "" {
		mo.Calib = o.Calib
	}
	return mo, nil
}

// rowSpecs expands methods × bits (× calibration domains for the static
// data-driven methods).
func (o *compareOptions) rowSpecs() []compare.RowSpec {
	var specs []compare.RowSpec
	for _, m := range o.Methods {
		if m == "fp" {
			specs = append(specs, compare.RowSpec{Method: "fp"})
			continue
		}
		meth, _ := quant.Lookup(m)
		for _, b := range o.Bits {
			s := compare.RowSpec{Method: m, Bits: b, Group: o.Group}
			switch {
			case !meth.NeedsData:
			case len(o.CalibDomains) > 0:
				for _, d := range o.CalibDomains {
					s.Calib = d
					specs = append(specs, s)
				}
				continue
			default:
				s.Calib = o.Calib
			}
			specs = append(specs, s)
		}
	}
	return specs
}

// compareModel loads fresh copies of the compared model (a method
// quantizes its copy in place).
type compareModel struct {
	info  compare.ModelInfo
	dir   string // "" = demo
	plant *transform.Plant
}

func resolveCompareModel(o *compareOptions) (*compareModel, error) {
	cm := &compareModel{}
	spec := o.PlantOutliers
	switch o.Model {
	case "", demo.Name:
		cm.info.Name = demo.Name
	case plantedDemoName:
		cm.info.Name = plantedDemoName
		spec = plantedDemoSpec
	default:
		if strings.HasPrefix(o.Model, "builtin:") {
			return nil, usagef("--model %s: built in are %s and %s", o.Model, demo.Name, plantedDemoName)
		}
		dir, err := hub.Resolve(o.Model)
		if err != nil {
			return nil, err
		}
		cm.dir = dir
		cm.info.Name = o.Model
	}
	sum, err := modelSHA256(cm.dir)
	if err != nil {
		return nil, err
	}
	cm.info.SHA256 = sum
	if cm.info.TokenizerSHA256, err = tokenizerSHA256(cm.dir); err != nil {
		return nil, err
	}
	if spec != "" {
		s, err := transform.ParseSpec(spec)
		if err != nil {
			return nil, usagef("--plant-outliers: %v", err)
		}
		s.Seed = o.PlantSeed
		cfg, err := compareModelConfig(cm.dir)
		if err != nil {
			return nil, err
		}
		p, err := transform.NewPlant(s, cfg.HiddenSize)
		if err != nil {
			return nil, usagef("--plant-outliers: %v", err)
		}
		cm.plant = &p
		cm.info.Synthetic = true
		cm.info.Planted, _ = json.Marshal(p)
		o.PlantOutliers = spec
	}
	return cm, nil
}

func compareModelConfig(dir string) (model.Config, error) {
	if dir == "" {
		b, err := demo.ReadFile("config.json")
		if err != nil {
			return model.Config{}, err
		}
		return model.ParseConfig(b)
	}
	return model.LoadConfig(dir)
}

func (cm *compareModel) load() (*loadedModel, error) {
	lm, err := loadModel(cm.dir)
	if err != nil {
		return nil, err
	}
	if cm.plant != nil {
		if err := cm.plant.Apply(lm.Model); err != nil {
			lm.Model.Close()
			return nil, err
		}
	}
	lm.Source = cm.info.Name
	return lm, nil
}

// modelSHA256 hashes config.json and the safetensors files, the bytes the
// weights come from.
func modelSHA256(dir string) (string, error) {
	h := sha256.New()
	if dir == "" {
		for _, name := range []string{"config.json", "model.safetensors"} {
			b, err := demo.ReadFile(name)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "%s:%d:", name, len(b))
			h.Write(b)
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return "", err
	}
	slices.Sort(files)
	for _, p := range append([]string{filepath.Join(dir, "config.json")}, files...) {
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s:", filepath.Base(p))
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// buildDatasets tokenizes the evaluations once for all rows.
func buildDatasets(o *compareOptions, lm *loadedModel) ([]compare.Dataset, error) {
	policy := eval.BOSPolicy(o.BOS)
	p := eval.Protocol(o.Protocol)
	var out []compare.Dataset
	ppl := func(name, source string, text eval.Text, domain bool) error {
		ctxLen := o.Ctx
		if ctxLen == 0 {
			ctxLen, _ = eval.DefaultCtx(p, lm.Model.Config.MaxPositions)
		} else if m := lm.Model.Config.MaxPositions; m > 0 && ctxLen > m {
			return usagef("--ctx %d exceeds the model's maximum of %d positions", ctxLen, m)
		}
		toks, bos, err := eval.TokenizeText(lm.Tokenizer, text.Text, p, policy)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		w, err := eval.MakeWindows(toks, p, ctxLen, o.MaxWindows, bos)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, compare.Dataset{Windows: w, Info: compare.DatasetInfo{
			Name: name, Kind: compare.KindPerplexity, Source: source, SHA256: text.SHA256(), Protocol: string(p),
			Ctx: ctxLen, Windows: w.N, WindowsAvailable: w.Available, ScoredTokens: w.N * w.ScoredPerWindow(),
			BOS: o.BOS, Domain: domain}})
		return nil
	}
	mc := func(name, source string, items []eval.MCItem) error {
		avail := len(items)
		if o.MaxItems > 0 && o.MaxItems < len(items) {
			items = items[:o.MaxItems]
		}
		reqs, err := eval.EncodeMC(lm.Tokenizer, items, policy)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, compare.Dataset{Reqs: reqs, Info: compare.DatasetInfo{
			Name: name, Kind: compare.KindMultipleChoice, Source: source, SHA256: itemsSHA256(items),
			Items: len(items), ItemsAvailable: avail, BOS: o.BOS}})
		return nil
	}
	domainText := func(d string) (eval.Text, string, error) {
		if compare.IsDomain(d) {
			s, err := compare.DomainText(d, "eval")
			return eval.Text{Name: "builtin:" + d + "/eval", Text: s}, "builtin:" + d + "/eval", err
		}
		t, err := eval.ReadTextFile(d, p)
		return t, d, err
	}
	names := map[string]bool{}
	add := func(name string, domain bool) error {
		if names[name] {
			return nil
		}
		names[name] = true
		switch {
		case name == "wikitext":
			t, err := eval.WikiText("test", p)
			if err != nil {
				return err
			}
			return ppl(name, t.Name, t, domain)
		case name == "piqa":
			items, err := eval.PIQA()
			if err != nil {
				return err
			}
			return mc(name, "piqa/valid", items)
		case strings.HasPrefix(name, "mc:"):
			items, err := eval.ReadMCFile(strings.TrimPrefix(name, "mc:"))
			if err != nil {
				return err
			}
			return mc(name, strings.TrimPrefix(name, "mc:"), items)
		}
		t, src, err := domainText(name)
		if err != nil {
			return err
		}
		return ppl(name, src, t, domain)
	}
	for _, d := range o.Datasets {
		if err := add(d, false); err != nil {
			return nil, err
		}
	}
	for _, d := range o.EvalDomains {
		if names[d] {
			// Listed in both: it is a domain column too.
			for i := range out {
				if out[i].Info.Name == d {
					out[i].Info.Domain = true
				}
			}
			continue
		}
		if err := add(d, true); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// modelBytes is the resident size of all weights: embedding, LM head (when
// not tied), norms and every linear layer as it is now stored. fpBytes
// gives the full-precision size of layers compare cannot see inside
// (test-time layers keep their full-precision weights).
func modelBytes(m *model.Model, fpBytes map[model.Site]int64) int64 {
	n := int64(m.Embed.Bytes())
	if d, ok := m.LMHead.(*model.Dense); !ok || len(d.W.Data) == 0 || &d.W.Data[0] != &m.Embed.Data[0] {
		n += linearBytes(m.LMHead, fpBytes[model.Site{Layer: -1, Name: "lm_head"}])
	}
	n += 4 * int64(len(m.Norm))
	for i, l := range m.Layers {
		n += 4 * int64(len(l.AttnNorm)+len(l.MLPNorm)+len(l.Attn.QNorm)+len(l.Attn.KNorm))
		for _, name := range model.LayerLinearNames {
			s := model.Site{Layer: i, Name: name}
			lin, err := m.Linear(s)
			if err == nil {
				n += linearBytes(lin, fpBytes[s])
			}
		}
	}
	return n
}

func linearBytes(l model.Linear, fp int64) int64 {
	switch q := l.(type) {
	case *model.Dense:
		return int64(q.W.Bytes()) + 4*int64(len(q.Bias))
	case *quant.QLinear:
		return q.Format.StorageBytes(q.Rows, q.Cols) + 4*int64(len(q.GIdx)+len(q.InScale)+len(q.Bias))
	}
	return fp
}

func siteBytes(m *model.Model) map[model.Site]int64 {
	out := map[model.Site]int64{}
	for _, s := range m.Sites() {
		if l, err := m.Linear(s); err == nil {
			out[s] = linearBytes(l, 0)
		}
	}
	return out
}

// fpBitsPerWeight is the stored element width of the decoder's linear
// weights.
func fpBitsPerWeight(m *model.Model) float64 {
	var bits, n float64
	for i := range m.Layers {
		for _, name := range model.LayerLinearNames {
			if l, err := m.Linear(model.Site{Layer: i, Name: name}); err == nil {
				if d, ok := l.(*model.Dense); ok {
					w := float64(d.W.Rows * d.W.Cols)
					bits += 8 * float64(d.W.Elem.Size()) * w
					n += w
				}
			}
		}
	}
	if n == 0 {
		return 0
	}
	return bits / n
}

// calibFile resolves a calibration domain to what applyMethod reads: a
// built-in domain's calibration half is written to a scratch file.
type calibFiles struct {
	dir   string
	paths map[string]string
}

func (c *calibFiles) resolve(name string) (string, error) {
	if !compare.IsDomain(name) {
		return name, nil
	}
	if p, ok := c.paths[name]; ok {
		return p, nil
	}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "ttq-compare-calib-")
		if err != nil {
			return "", err
		}
		c.dir, c.paths = d, map[string]string{}
	}
	txt, err := compare.DomainText(name, "calib")
	if err != nil {
		return "", err
	}
	p := filepath.Join(c.dir, name+".calib.txt")
	if err := os.WriteFile(p, []byte(txt), 0o644); err != nil {
		return "", err
	}
	c.paths[name] = p
	return p, nil
}

func (c *calibFiles) cleanup() {
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

// calibSHA256 identifies a calibration source for the fingerprint.
func calibSHA256(name string) string {
	var b []byte
	switch {
	case name == "":
		return ""
	case compare.IsDomain(name):
		s, _ := compare.DomainText(name, "calib")
		b = []byte(s)
	default:
		t, _, err := calibrationText(name)
		if err != nil {
			return "unreadable:" + name
		}
		b = []byte(t)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func runCompare(ctx context.Context, io *streams, o compareOptions) error {
	rep, err := computeCompare(ctx, io, &o)
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

// computeCompare runs the rows of o. On cancellation it returns the
// report of the finished rows with the context's error.
func computeCompare(ctx context.Context, io *streams, o *compareOptions) (*compare.Report, error) {
	start := time.Now()
	cm, err := resolveCompareModel(o)
	if err != nil {
		return nil, err
	}
	fpModel, err := cm.load()
	if err != nil {
		return nil, err
	}
	defer fpModel.Model.Close()
	cm.info.Params = fpModel.Model.NumParams()
	datasets, err := buildDatasets(o, fpModel)
	if err != nil {
		return nil, err
	}

	threads := o.Threads
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	parallel := o.Parallel
	if parallel == 0 {
		parallel = 1
		if fpModel.Model.Config.HiddenSize <= 512 {
			parallel = threads
		}
	}
	kernels.SetThreads(max(1, threads/parallel))
	defer kernels.SetThreads(o.Threads)

	specs := o.rowSpecs()
	shardI, shardN, _ := parseShard(o.Shard)
	var mine []compare.RowSpec
	for i, s := range specs {
		if i%shardN == shardI {
			mine = append(mine, s)
		}
	}
	infos := make([]compare.DatasetInfo, len(datasets))
	for i, d := range datasets {
		infos[i] = d.Info
	}
	knobs := o.knobValues()
	fps := make([]string, len(mine))
	for i, s := range mine {
		mo, _ := o.methodOptions(s)
		// Only the knobs that reach the method matter; fp has none.
		var settings any
		if s.Method != "fp" {
			meth, qo, err := mo.quantOptions()
			if err != nil {
				return nil, err
			}
			settings = map[string]any{"options": qo, "test_time": meth.TestTime, "calib": calibSHA256(s.Calib),
				"nsamples": mo.NSamples, "calib_seqlen": mo.CalibSeqLen, "seed": mo.Seed}
		}
		fps[i] = compare.Fingerprint(compare.Schema, buildIdentity(), cm.info, s, settings, infos)
	}

	rep := &compare.Report{
		Schema: compare.Schema, TTQVersion: version, Model: cm.info, Datasets: infos,
		Settings: compare.Settings{
			Methods: o.Methods, Bits: o.Bits, Group: o.Group, Baseline: o.Baseline, Datasets: o.Datasets,
			Calib: o.Calib, CalibDomains: o.CalibDomains, EvalDomains: o.EvalDomains, Protocol: o.Protocol,
			Ctx: o.Ctx, BOS: o.BOS, MaxWindows: o.MaxWindows, MaxItems: o.MaxItems, MethodFlags: knobs,
			PlantOutliers: o.PlantOutliers, PlantSeed: o.PlantSeed,
		},
		Threads: threads, CPUFeatures: currentVersion().CPUFeatures,
	}
	if shardN > 1 {
		rep.Shard = o.Shard
	}
	if !o.JSON {
		fmt.Fprintf(io.ErrOut, "ttq: compare %d rows on %s; %s\n", len(mine), cm.info.Name, limitsText(o, datasets))
	}

	cache := compare.Cache{}
	if !o.NoCache && !o.fromCheck {
		dir := o.CacheDir
		if dir == "" {
			if dir, err = compare.DefaultCacheDir(); err != nil {
				dir = ""
			}
		}
		cache.Dir = dir
	}
	calib := &calibFiles{}
	defer calib.cleanup()
	quiet := &streams{In: io.In, Out: io.Out, ErrOut: io.ErrOut}
	fpSites := siteBytes(fpModel.Model)
	ref := compare.NewLogitCache(eval.FromModel(fpModel.Model), 1<<30)
	windowLens := map[int]bool{}
	for _, d := range datasets {
		if d.Windows != nil {
			windowLens[d.Windows.Ctx] = true
		}
	}
	ref.Keep = func(tokens []int) bool { return windowLens[len(tokens)] }
	runner := &compare.Runner{
		Datasets: datasets, Ref: ref, Workers: parallel, Cache: cache,
		Prepare: func(ctx context.Context, s compare.RowSpec) (*compare.Prepared, error) {
			if s.Method == "fp" {
				return &compare.Prepared{Scorer: ref, BitsPerWeight: fpBitsPerWeight(fpModel.Model),
					ModelBytes: modelBytes(fpModel.Model, fpSites)}, nil
			}
			mo, err := o.methodOptions(s)
			if err != nil {
				return nil, err
			}
			if mo.Calib, err = calib.resolve(mo.Calib); err != nil {
				return nil, err
			}
			lm, err := cm.load()
			if err != nil {
				return nil, err
			}
			res, err := applyMethod(ctx, quiet, lm, mo)
			if err != nil {
				lm.Model.Close()
				return nil, err
			}
			if compare.IsDomain(s.Calib) {
				res.Calib = "builtin:" + s.Calib + "/calib"
			}
			mr, _ := json.Marshal(res)
			p := &compare.Prepared{Scorer: eval.FromModel(lm.Model), Format: res.Format, BitsPerWeight: res.EffectiveBits,
				ModelBytes: modelBytes(lm.Model, fpSites), QuantSeconds: res.Seconds, MethodResult: mr,
				Close: func() { lm.Model.Close() }}
			if res.TestTime {
				p.Workers = 1
				p.TTQStats = func() (time.Duration, int) { return quant.TTQStats(lm.Model) }
			}
			return p, nil
		},
	}
	bar := newCompareProgress(io, len(mine), datasets)
	runner.Progress = bar.event
	rows, runErr := runner.Run(ctx, mine, fps)
	bar.finish(runErr == nil)
	rep.Rows = rows
	rep.WallSeconds = time.Since(start).Seconds()
	compare.SortRows(rep)
	compare.ComputeDeltas(rep, compare.DefaultZ)
	if runErr != nil {
		if errors.Is(runErr, context.Canceled) || ctx.Err() != nil {
			rep.Interrupted = true
			return rep, runErr
		}
		return nil, runErr
	}
	return rep, nil
}

func limitsText(o *compareOptions, ds []compare.Dataset) string {
	var parts []string
	for _, d := range ds {
		switch d.Info.Kind {
		case compare.KindPerplexity:
			parts = append(parts, fmt.Sprintf("%s %d×%d-token windows", d.Info.Name, d.Info.Windows, d.Info.Ctx))
		case compare.KindMultipleChoice:
			parts = append(parts, fmt.Sprintf("%s %d items", d.Info.Name, d.Info.Items))
		}
	}
	return fmt.Sprintf("%s (--max-windows %d, --max-items %d); calibration %s × %s tokens",
		strings.Join(parts, ", "), o.MaxWindows, o.MaxItems, o.methodFlags.Lookup("nsamples").Value, o.methodFlags.Lookup("calib-seqlen").Value)
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

func newCompareProgress(io *streams, rows int, datasets []compare.Dataset) *compareProgress {
	p := &compareProgress{io: io, steps: len(datasets) + 1, lastRow: -1}
	for _, d := range datasets {
		p.names = append(p.names, d.Info.Name)
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
	mh, mrows := rep.DomainMatrix()
	if o.Markdown {
		if err := compare.WriteMarkdown(io.Out, header, rows); err != nil {
			return err
		}
		if mh != nil {
			fmt.Fprintln(io.Out, "\nPerplexity by calibration domain (rows) and evaluation domain (columns):")
			if err := compare.WriteMarkdown(io.Out, mh, mrows); err != nil {
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
	if mh != nil {
		fmt.Fprintln(io.Out, "Perplexity by calibration domain (rows) and evaluation domain (columns):")
		if err := renderTable(io.Out, mh, mrows); err != nil {
			return err
		}
	}
	for _, n := range notes {
		fmt.Fprintf(io.Out, "  %s\n", n)
	}
	return nil
}

func readReport(path string) (*compare.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rep, err := compare.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rep, nil
}

func runCompareMerge(io *streams, o compareOptions, files []string) error {
	if o.JSON && o.Markdown {
		return usagef("--json and --markdown are exclusive")
	}
	var reps []*compare.Report
	for _, f := range files {
		rep, err := readReport(f)
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

// optionsFromReport rebuilds the options that produced a report.
func optionsFromReport(rep *compare.Report, base compareOptions, fs *pflag.FlagSet) (compareOptions, error) {
	s := rep.Settings
	o := base
	o.Model = rep.Model.Name
	o.PlantOutliers, o.PlantSeed = "", s.PlantSeed
	if rep.Model.Name != plantedDemoName {
		o.PlantOutliers = s.PlantOutliers
	}
	o.Methods, o.Bits, o.Group, o.Baseline = s.Methods, s.Bits, s.Group, s.Baseline
	o.Datasets, o.Calib, o.CalibDomains, o.EvalDomains = s.Datasets, s.Calib, s.CalibDomains, s.EvalDomains
	o.Protocol, o.Ctx, o.BOS, o.MaxWindows, o.MaxItems = s.Protocol, s.Ctx, s.BOS, s.MaxWindows, s.MaxItems
	o.Shard, o.Plot, o.fromCheck = "", base.Plot, true
	for name, v := range s.MethodFlags {
		fl := fs.Lookup(name)
		if fl == nil {
			return o, fmt.Errorf("baseline setting --%s is unknown to this ttq", name)
		}
		if fs.Changed(name) && fl.Value.String() != v {
			return o, usagef("--%s conflicts with the baseline's setting %q: --check reproduces the baseline's settings", name, v)
		}
		if err := fl.Value.Set(v); err != nil {
			return o, fmt.Errorf("baseline setting --%s %q: %w", name, v, err)
		}
	}
	return o, nil
}

func runCompareCheck(ctx context.Context, io *streams, base compareOptions, fs *pflag.FlagSet) (err error) {
	for _, name := range []string{"methods", "bits", "group", "datasets", "baseline", "calib", "calib-domains", "eval-domains", "model", "max-windows", "max-items", "protocol", "ctx", "bos", "plant-outliers", "shard"} {
		if fs.Changed(name) {
			return usagef("--%s cannot be combined with --check: the baseline report fixes it", name)
		}
	}
	baseline, err := readReport(base.Check)
	if err != nil {
		return err
	}
	var verdicts []compare.Verdict
	defer func(start time.Time) { err = reportGate(io, base, baseline, verdicts, time.Since(start), err) }(time.Now())
	if baseline.Interrupted || baseline.Shard != "" {
		return fmt.Errorf("%s is a partial report (interrupted or one shard); a gate needs every row", base.Check)
	}
	o, err := optionsFromReport(baseline, base, fs)
	if err != nil {
		return err
	}
	o.JSON = base.JSON
	if err := o.validate(); err != nil {
		return err
	}
	cur, err := computeCompare(ctx, io, &o)
	if err != nil {
		if cur != nil {
			_ = writeCompare(io, &o, cur)
		}
		return err
	}
	if cur.Model.SHA256 != baseline.Model.SHA256 {
		return fmt.Errorf("the model's weights differ from the baseline's (sha256 %.12s, baseline %.12s): regenerate the baseline", cur.Model.SHA256, baseline.Model.SHA256)
	}
	for i := range baseline.Datasets {
		if i >= len(cur.Datasets) || cur.Datasets[i].SHA256 != baseline.Datasets[i].SHA256 || cur.Datasets[i].ScoredTokens != baseline.Datasets[i].ScoredTokens || cur.Datasets[i].Items != baseline.Datasets[i].Items {
			return fmt.Errorf("dataset %s differs from the baseline's (text, tokenization or limits changed): regenerate the baseline", baseline.Datasets[i].Name)
		}
	}
	tol := base.tolerance()
	if verdicts, err = compare.Judge(baseline, cur, tol); err != nil {
		return err
	}
	regs := compare.Failures(verdicts)
	if base.JSON {
		if err := writeJSON(io.Out, map[string]any{"schema": "ttq.compare-check/v1", "baseline": base.Check,
			"tolerance": tol, "regressions": regs, "report": cur}); err != nil {
			return err
		}
	} else if err := writeCompare(io, &o, cur); err != nil {
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

// plantCheckpoint writes a planted-outlier copy of the checkpoint in src
// ("" = the demo) to out/model.safetensors (src may be out), recording the
// transform in the metadata; config.json, and the tokenizer files when
// copyTokenizer, come along when src is another directory.
func plantCheckpoint(src, out, spec string, seed uint64, copyTokenizer bool) (transform.Plant, error) {
	s, err := transform.ParseSpec(spec)
	if err != nil {
		return transform.Plant{}, usagef("--plant-outliers: %v", err)
	}
	s.Seed = seed
	read := func(name string) ([]byte, error) {
		if src == "" {
			return demo.ReadFile(name)
		}
		return os.ReadFile(filepath.Join(src, name))
	}
	cfgBytes, err := read("config.json")
	if err != nil {
		return transform.Plant{}, err
	}
	cfg, err := model.ParseConfig(cfgBytes)
	if err != nil {
		return transform.Plant{}, err
	}
	p, err := transform.NewPlant(s, cfg.HiddenSize)
	if err != nil {
		return p, usagef("--plant-outliers: %v", err)
	}
	var ck *safetensors.Checkpoint
	if src == "" {
		b, err := demo.ReadFile(safetensors.SingleFileName)
		if err != nil {
			return p, err
		}
		f, err := safetensors.FromBytes("demo", b)
		if err != nil {
			return p, err
		}
		if ck, err = safetensors.CheckpointFromFiles(f); err != nil {
			return p, err
		}
	} else if ck, err = safetensors.OpenCheckpoint(src); err != nil {
		return p, err
	}
	defer ck.Close()
	tensors, err := p.CheckpointTensors(cfg, ck)
	if err != nil {
		return p, err
	}
	meta := map[string]string{}
	for k, v := range ck.Metadata() {
		meta[k] = v
	}
	pj, _ := json.Marshal(p)
	meta["ttq.planted_outliers"] = string(pj)
	meta["ttq.synthetic"] = "planted outliers " + s.String() + ": same function as the source, not a trained model"
	if err := safetensors.WriteFile(filepath.Join(out, safetensors.SingleFileName), tensors, meta); err != nil {
		return p, err
	}
	if filepath.Clean(src) == filepath.Clean(out) {
		return p, nil
	}
	// A stale index would shadow the new single-file checkpoint.
	if err := os.Remove(filepath.Join(out, safetensors.IndexFileName)); err != nil && !os.IsNotExist(err) {
		return p, err
	}
	if err := writeFileAtomic(filepath.Join(out, "config.json"), cfgBytes); err != nil {
		return p, err
	}
	if copyTokenizer {
		for _, name := range tokenizerFiles {
			if b, err := read(name); err == nil {
				if err := writeFileAtomic(filepath.Join(out, name), b); err != nil {
					return p, err
				}
			}
		}
	}
	return p, nil
}

// buildIdentity names the code that computes cached rows. A release's
// version says it; a development build ("dev", the same string for every
// local change) is identified by the hash of its own executable, so that
// editing the code never serves rows computed by an older binary.
func buildIdentity() string {
	if version != "dev" {
		return version
	}
	buildIdentityOnce.Do(func() {
		buildIdentityValue = "dev"
		exe, err := os.Executable()
		if err != nil {
			return
		}
		f, err := os.Open(exe)
		if err != nil {
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err == nil {
			buildIdentityValue = "dev+" + hex.EncodeToString(h.Sum(nil))[:16]
		}
	})
	return buildIdentityValue
}

var (
	buildIdentityOnce  sync.Once
	buildIdentityValue string
)
