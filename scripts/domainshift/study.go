package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ttqproject/ttq/internal/shareddata"
	"github.com/ttqproject/ttq/pkg/compare"
	"github.com/ttqproject/ttq/pkg/eval"
	"github.com/ttqproject/ttq/pkg/model/llama2c"
	"github.com/ttqproject/ttq/pkg/quant"
)

// Model is one model of the study: a compare --model and planted
// outliers, under a short name.
type Model struct {
	Name  string
	Model string
	Plant string
	// Prepare, if set, makes Model available (babyllama's import) under
	// the study's directory; errSkip skips the model with its message.
	Prepare func(dir string) (string, error)
}

// Study is the whole configuration: every model × calibration domain ×
// evaluation × bits × group × method, sized by MaxWindows and NSamples.
type Study struct {
	Models       []Model
	CalibDomains []string
	// Datasets are evaluated beside EvalDomains' held-out halves.
	Datasets    []string
	EvalDomains []string
	Bits        []int
	Groups      []int
	Methods     []string
	MaxWindows  int
	NSamples    int
	CalibSeqLen int
	// Identity names the code in the rows' cache keys (sourceIdentity).
	Identity string
}

// errSkip is a model the study leaves out (its data is absent).
var errSkip = errors.New("skipped")

// ttqMethods are the TTQ variants: every preset there is when the study
// runs, so that presets added later are studied without an edit.
func ttqMethods() []string {
	var out []string
	for _, p := range quant.TTQPresetNames() {
		out = append(out, "ttq:"+p)
	}
	return out
}

// FullStudy is issue #13's study, sized to about 40 minutes on two busy
// cores; Quick is a smaller one (two models, two calibration domains, two
// evaluation domains, one group) for a first look in a few minutes.
func FullStudy() Study {
	return Study{
		Models: []Model{
			{Name: "demo"},
			{Name: "babyllama", Prepare: prepareBabyllama},
			{Name: "planted-8x8", Plant: "8:8"},
			{Name: "planted-32x8", Plant: "32:8"},
			{Name: "planted-32x32", Plant: "32:32"},
		},
		CalibDomains: append([]string{"wikitext:valid"}, compare.Domains...),
		Datasets:     []string{"wikitext"},
		EvalDomains:  compare.Domains,
		Bits:         []int{3, 4},
		Groups:       []int{32, 128},
		Methods:      append([]string{"fp", "rtn", "awq", "gptq"}, ttqMethods()...),
		MaxWindows:   6,
		NSamples:     16,
		CalibSeqLen:  128,
		Identity:     sourceIdentity(),
	}
}

// QuickStudy is FullStudy cut down to a few minutes.
func QuickStudy() Study {
	s := FullStudy()
	s.Models = []Model{s.Models[0], s.Models[3]}
	s.CalibDomains = []string{"wikitext:valid", "go"}
	s.EvalDomains = []string{"go", "shakespeare"}
	s.Groups = []int{128}
	s.MaxWindows, s.NSamples = 2, 8
	return s
}

// prepareBabyllama imports babyllama (llama2.c checkpoint and SentencePiece
// tokenizer from the shared data) into dir/models/babyllama once.
func prepareBabyllama(dir string) (string, error) {
	out := filepath.Join(dir, "models", "babyllama")
	if _, err := os.Stat(filepath.Join(out, "config.json")); err == nil {
		return out, nil
	}
	data, ok := shareddata.Locate()
	src := filepath.Join(data, "models", "babyllama-tok105")
	if _, err := os.Stat(filepath.Join(src, "model5000.bin")); !ok || err != nil {
		return "", fmt.Errorf("%w: babyllama not found under %s (set %s)", errSkip, src, shareddata.EnvDir)
	}
	_, err := llama2c.Import(llama2c.ImportOptions{Llama2c: filepath.Join(src, "model5000.bin"),
		Tokenizer: filepath.Join(src, "tok105.model"), Out: out})
	return out, err
}

// options are compare's options for one model of the study.
func (s Study) options(m Model, cacheDir string) compare.Options {
	o := compare.DefaultOptions()
	o.Model, o.PlantOutliers = m.Model, m.Plant
	o.Methods, o.Bits, o.Groups, o.Baseline = s.Methods, s.Bits, s.Groups, "rtn"
	o.Datasets, o.CalibDomains, o.EvalDomains = s.Datasets, s.CalibDomains, s.EvalDomains
	o.Calib = s.CalibDomains[0]
	o.MaxWindows, o.MaxItems = s.MaxWindows, 0
	o.Knobs.NSamples, o.Knobs.CalibSeqLen = s.NSamples, s.CalibSeqLen
	o.CacheDir, o.BuildIdentity = cacheDir, s.Identity
	return o
}

// usable drops the domains whose text this model's tokenizer makes
// shorter than one evaluation window (babyllama's 105-token character
// vocabulary spells Japanese in a handful of tokens), saying so in notes;
// vocab is the model's vocabulary size.
func (s Study) usable(dir string) (calib, evals, notes []string, vocab int, err error) {
	calib, evals, notes, err = s.usableIn(dir, &vocab)
	return calib, evals, notes, vocab, err
}

func (s Study) usableIn(dir string, vocab *int) (calib, evals, notes []string, err error) {
	lm, err := quant.LoadModel(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	defer lm.Close()
	*vocab = lm.Model.Config.VocabSize
	window, _ := eval.DefaultCtx(eval.ProtocolGPTQ, lm.Model.Config.MaxPositions)
	short := map[string]bool{}
	for _, d := range append(slices.Clone(s.CalibDomains), s.EvalDomains...) {
		if !compare.IsDomain(d) || short[d] {
			continue
		}
		for _, part := range []string{"calib", "eval"} {
			text, err := compare.DomainText(d, part)
			if err != nil {
				return nil, nil, nil, err
			}
			toks, _, err := eval.TokenizeText(lm.Tokenizer, text, eval.ProtocolGPTQ, eval.BOSPolicy("auto"))
			if err != nil {
				return nil, nil, nil, err
			}
			if len(toks) < window {
				short[d] = true
				notes = append(notes, fmt.Sprintf("%s: its %s half is %d tokens, less than one %d-token window", d, part, len(toks), window))
				break
			}
		}
	}
	keep := func(ds []string) []string {
		return slices.DeleteFunc(slices.Clone(ds), func(d string) bool { return short[d] })
	}
	return keep(s.CalibDomains), keep(s.EvalDomains), notes, nil
}

// Result is one model's report.
type Result struct {
	Model  string
	Report *compare.Report
	// Vocab is the model's vocabulary size: a dataset on which full
	// precision does worse than a uniform guess (PPL ≥ Vocab) is left out
	// of the summary (0: none is).
	Vocab int
	// Plots are the files Write drew for it, relative to the study's
	// directory.
	Plots []string
}

// prepare makes m's model available and checks the domains against its
// tokenizer; skip is set when the model is left out.
func (s Study) prepare(m Model, dir string) (_ Model, ms Study, vocab int, notes []string, err error) {
	if m.Prepare != nil {
		p, err := m.Prepare(dir)
		if err != nil {
			return m, s, 0, nil, err
		}
		m.Model = p
	}
	ms = s
	ms.CalibDomains, ms.EvalDomains, notes, vocab, err = s.usable(m.Model)
	return m, ms, vocab, notes, err
}

// Run runs the study into dir: a compare report per model (dir/NAME.json,
// rows cached under dir/cache), then dir/report.md and dir/summary.json.
// log hears progress.
func Run(ctx context.Context, s Study, dir string, log io.Writer) ([]Result, error) {
	start := time.Now()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var results []Result
	var skipped []string
	for _, m := range s.Models {
		m, ms, vocab, notes, err := s.prepare(m, dir)
		if errors.Is(err, errSkip) {
			fmt.Fprintf(log, "domainshift: %s: %v\n", m.Name, err)
			skipped = append(skipped, fmt.Sprintf("%s (%v)", m.Name, err))
			continue
		}
		if err != nil {
			return results, fmt.Errorf("%s: %w", m.Name, err)
		}
		for _, n := range notes {
			fmt.Fprintf(log, "domainshift: %s: left out %s\n", m.Name, n)
			skipped = append(skipped, m.Name+": "+n)
		}
		o := ms.options(m, filepath.Join(dir, "cache"))
		t0 := time.Now()
		o.Planned = func(p compare.Plan) {
			fmt.Fprintf(log, "domainshift: %s: %d rows\n", m.Name, p.Rows)
		}
		o.Progress = func(e compare.Event) {
			switch {
			case e.Cached:
				fmt.Fprintf(log, "domainshift: %s [%d/%d] %s cached\n", m.Name, e.Row+1, e.Rows, e.ID)
			case e.Step == "quantize":
				fmt.Fprintf(log, "domainshift: %s [%d/%d] %s (%.0fs)\n", m.Name, e.Row+1, e.Rows, e.ID, time.Since(t0).Seconds())
			}
		}
		rep, err := compare.Run(ctx, o)
		if err != nil {
			return results, fmt.Errorf("%s: %w", m.Name, err)
		}
		b, err := json.Marshal(rep)
		if err != nil {
			return results, err
		}
		if err := os.WriteFile(filepath.Join(dir, m.Name+".json"), b, 0o644); err != nil {
			return results, err
		}
		results = append(results, Result{Model: m.Name, Report: rep, Vocab: vocab})
	}
	return results, Write(dir, s, results, time.Since(start), skipped)
}

// Render reads the reports a Run wrote into dir (the study's models that
// have one) and writes report.md and summary.json anew, computing nothing.
func Render(dir string, s Study) ([]Result, error) {
	var results []Result
	var skipped []string
	for _, m := range s.Models {
		rep, err := compare.ReadReport(filepath.Join(dir, m.Name+".json"))
		if errors.Is(err, os.ErrNotExist) {
			skipped = append(skipped, m.Name+" (no report in "+dir+")")
			continue
		}
		if err != nil {
			return nil, err
		}
		_, _, vocab, notes, err := s.prepare(m, dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		for _, n := range notes {
			skipped = append(skipped, m.Name+": "+n)
		}
		results = append(results, Result{Model: m.Name, Report: rep, Vocab: vocab})
	}
	return results, Write(dir, s, results, 0, skipped)
}

// Write writes dir/summary.json, dir/report.md and each model's plots
// (compare.WritePlots: dir/NAME.svg, NAME-domains.svg, NAME-ttq.svg); wall
// is how long the run took (0: not known).
func Write(dir string, s Study, results []Result, wall time.Duration, skipped []string) error {
	for i := range results {
		files, err := compare.WritePlots(results[i].Report, filepath.Join(dir, results[i].Model+".svg"))
		if err != nil {
			return fmt.Errorf("%s: %w", results[i].Model, err)
		}
		for _, f := range files {
			results[i].Plots = append(results[i].Plots, filepath.Base(f))
		}
	}
	sum := Summarize(results)
	sum.WallSeconds, sum.Skipped = wall.Seconds(), skipped
	b, err := json.MarshalIndent(sum, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), b, 0o644); err != nil {
		return err
	}
	var md strings.Builder
	if err := WriteMarkdown(&md, s, results, sum); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(md.String()), 0o644)
}
