package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/ttqproject/ttq/pkg/eval"
	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model/hub"
	"github.com/ttqproject/ttq/pkg/quant"
)

// evalOptions are eval.Task's (dataset, protocol, limits) and what the
// command loads, applies and prints.
type evalOptions struct {
	eval.Task
	Model    string
	KLBase   string
	JSON     bool
	Threads  int
	Parallel int
	Method   methodOptions

	// Set from cobra: whether the user gave these flags explicitly.
	protocolSet, ctxSet bool
}

func (o *evalOptions) validate() error {
	if o.Dataset == "" {
		return usagef("--dataset is empty: give wikitext, piqa, FILE or mc:FILE")
	}
	mc := o.IsMultipleChoice()
	if o.Dataset == "mc:" {
		return usagef("--dataset mc:FILE needs a file name")
	}
	if err := eval.ValidateBOSAndProtocol(o.BOS, o.Protocol); err != nil {
		return err
	}
	if o.Ctx < 0 || o.MaxWindows < 0 || o.Threads < 0 || o.Parallel < 0 {
		return usagef("--ctx, --max-windows, --threads and --parallel must not be negative")
	}
	switch {
	case o.Dataset == "wikitext":
		if o.Split == "" {
			o.Split = "test"
		}
		if o.Split != "test" && o.Split != "valid" {
			return usagef("--split %q: WikiText-2 has test and valid (train is not shipped)", o.Split)
		}
	case o.Dataset == "piqa":
		if o.Split == "" {
			o.Split = "valid"
		}
		if o.Split != "valid" {
			return usagef("--split %q: PIQA is evaluated on its validation split (the test labels are not public)", o.Split)
		}
	case o.Split != "":
		return usagef("--split applies to the built-in datasets (wikitext, piqa), not to files")
	}
	if mc {
		if o.KLBase != "" {
			return usagef("--kl-base compares next-token distributions on a perplexity dataset, not on %s", o.Dataset)
		}
		if o.protocolSet || o.ctxSet {
			return usagef("--protocol and --ctx apply to perplexity datasets, not to %s", o.Dataset)
		}
	}
	return nil
}

func newEvalCmd(io *streams) *cobra.Command {
	opts := evalOptions{}
	cmd := &cobra.Command{
		Use:   "eval [MODEL]",
		Short: "Measure perplexity (WikiText-2) or multiple-choice accuracy (PIQA)",
		Long: `Evaluate a model with a published protocol, so that the number means what
the same number means in a paper, llama.cpp or lm-evaluation-harness.

Perplexity (--dataset wikitext, or any UTF-8 text file / JSONL with a "text"
field) runs one of two protocols, recorded with every result and never mixed:
  gptq      (default) the GPTQ/AWQ/TTQ papers' protocol: the test rows joined
            with "\n\n", tokenized once, non-overlapping windows of --ctx
            tokens (default 2048, capped at the model's maximum positions),
            every token after the first of each window scored, the tail
            dropped.
  llamacpp  llama.cpp's llama-perplexity: chunks of --ctx tokens (default 512),
            BOS written over each chunk's first token, only the second half
            of each chunk scored. Its numbers are only comparable with
            llama.cpp's.
The result is PPL ± its standard error, with the token and window counts and
the SHA-256 of the evaluated text and of the tokenizer.json.

--kl-base DIR also compares the model's next-token distributions with those of
a reference (full-precision) model on the same positions: mean KL divergence,
its percentiles and how often both pick the same top token, as
llama-perplexity --kl-divergence reports them.

Multiple choice (--dataset piqa, or mc:FILE) follows lm-evaluation-harness:
each choice is scored by the log-likelihood of " " + choice after the context
("Question: {goal}\nAnswer:" for PIQA), giving acc and acc_norm (normalized by
the choice's length in characters) with standard errors. An mc:FILE is JSONL
with "context" (verbatim) or "goal"/"question" (wrapped like PIQA), "choices"
[...] or "sol1", "sol2", ..., and "label" (0-based) inline or one per line in
FILE-labels.lst beside it (FILE.jsonl -> FILE-labels.lst).

A progress bar with ETA and the running metric is drawn on stderr when it is a
terminal. Ctrl-C prints the result of the windows done so far and exits 130.`,
		Example: `  ttq eval                                   # demo model, WikiText-2 test, gptq
  ttq eval --protocol llamacpp --ctx 512     # llama.cpp's numbers
  ttq eval --dataset piqa --json
  ttq eval --model ./my-model --kl-base ./my-model-fp16 --max-windows 40`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := modelArg(args, opts.Model)
			if err != nil {
				return err
			}
			opts.Model = dir
			if opts.KLBase, err = hub.Resolve(opts.KLBase); err != nil {
				return err
			}
			// --threads is the root's persistent flag; eval splits those
			// threads between windows and kernels itself.
			if opts.Threads, err = cmd.Flags().GetInt("threads"); err != nil {
				return err
			}
			opts.protocolSet = cmd.Flags().Changed("protocol")
			opts.ctxSet = cmd.Flags().Changed("ctx")
			if err := opts.validate(); err != nil {
				return err
			}
			return runEval(cmd.Context(), io, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Model, "model", "", modelFlagUsage)
	f.StringVar(&opts.Dataset, "dataset", "wikitext", "wikitext, piqa, a text or JSONL FILE, or mc:FILE (multiple-choice JSONL)")
	f.StringVar(&opts.Split, "split", "", "test or valid for wikitext (default test); piqa has valid only")
	f.StringVar(&opts.Protocol, "protocol", "gptq", "perplexity protocol: gptq or llamacpp")
	f.IntVar(&opts.Ctx, "ctx", 0, "window length in tokens (default: 2048 for gptq, capped at the model's maximum; 512 for llamacpp)")
	f.IntVar(&opts.MaxWindows, "max-windows", 0, "evaluate only the first N windows (perplexity) or items (multiple choice); 0 = all")
	f.StringVar(&opts.BOS, "bos", "auto", "BOS at the start of sequences: auto (the tokenizer's policy), on or off")
	f.StringVar(&opts.KLBase, "kl-base", "", "reference (full-precision) model directory or hub cache org/name[@revision] for KL divergence")
	f.BoolVar(&opts.JSON, "json", false, `print one JSON document ("schema": "ttq.eval/v1") instead of a table`)
	addMethodFlags(f, &opts.Method, "quantize the model in memory before evaluating: rtn, awq, gptq or ttq (default: evaluate as loaded)")
	f.IntVar(&opts.Parallel, "parallel", 0, "windows or items evaluated at once, each on its own cache, sharing --threads (default: one per thread for small models, else 1)")
	return cmd
}

// evalReport is the ttq.eval/v1 document.
type evalReport struct {
	Schema          string              `json:"schema"`
	TTQVersion      string              `json:"ttq_version"`
	Task            string              `json:"task"`
	Model           string              `json:"model"`
	KLBase          string              `json:"kl_base,omitempty"`
	Quantization    *quant.MethodResult `json:"quantization,omitempty"`
	Dataset         string              `json:"dataset"`
	Split           string              `json:"split,omitempty"`
	TextSHA256      string              `json:"text_sha256"`
	TokenizerSHA256 string              `json:"tokenizer_sha256"`
	BOSPolicy       string              `json:"bos_policy"`
	// BOS: whether the evaluated sequences start with BOS under the policy.
	BOS bool `json:"bos"`
	// CtxCapped: the protocol's default context was cut to the model's
	// maximum positions.
	CtxCapped       bool                   `json:"ctx_capped,omitempty"`
	Perplexity      *eval.PerplexityResult `json:"perplexity,omitempty"`
	MultipleChoice  *eval.MCResult         `json:"multiple_choice,omitempty"`
	Threads         int                    `json:"threads"`
	Parallel        int                    `json:"parallel"`
	TokenizeSeconds float64                `json:"tokenize_seconds"`
	WallSeconds     float64                `json:"wall_seconds"`
	Interrupted     bool                   `json:"interrupted"`
	CPUFeatures     map[string]bool        `json:"cpu_features"`
}

// evalProgressHook, when set by tests, is called after each finished window
// or item with the run's context.
var evalProgressHook func(ctx context.Context, done int)

func runEval(ctx context.Context, io *streams, opts evalOptions) error {
	start := time.Now()
	lm, err := loadModel(opts.Model)
	if err != nil {
		return err
	}
	defer lm.Model.Close()
	tokSHA, err := quant.TokenizerSHA256(opts.Model)
	if err != nil {
		return err
	}
	rep := &evalReport{
		Schema: "ttq.eval/v1", TTQVersion: version, Model: lm.Source, Dataset: opts.Dataset, Split: opts.Split,
		TokenizerSHA256: tokSHA, BOSPolicy: opts.BOS, CPUFeatures: currentVersion().CPUFeatures,
	}
	mres, err := applyMethod(ctx, io, lm, opts.Method)
	if err != nil {
		return err
	}
	rep.Quantization = mres
	var ref eval.Scorer
	if opts.KLBase != "" {
		base, err := loadModel(opts.KLBase)
		if err != nil {
			return fmt.Errorf("--kl-base: %w", err)
		}
		defer base.Model.Close()
		baseSHA, err := quant.TokenizerSHA256(opts.KLBase)
		if err != nil {
			return err
		}
		if baseSHA != tokSHA || base.Model.Config.VocabSize != lm.Model.Config.VocabSize {
			return fmt.Errorf("--kl-base %s: its tokenizer or vocabulary differs from the model's; KL divergence needs the same tokens", opts.KLBase)
		}
		ref = eval.FromModel(base.Model)
		rep.KLBase = base.Source
	}

	threads, parallel := eval.SplitThreads(opts.Threads, opts.Parallel, lm.Model.Config)
	if mres != nil && mres.TestTime {
		// Test-time quantized layers hold the current request's
		// calibration, so requests must not overlap.
		parallel = 1
	}
	kernels.SetThreads(max(1, threads/parallel))
	defer kernels.SetThreads(opts.Threads)
	rep.Threads = threads

	var bar *progress
	var desc string
	task := opts.Task
	task.Ref, task.Workers = ref, parallel
	task.Started = func(d, metric string, total int) {
		desc = d
		bar = newProgress(io, total, desc, metric)
	}
	task.Progress = func(done, total int, value float64) {
		bar.update(done, value, desc)
		if evalProgressHook != nil {
			evalProgressHook(ctx, done)
		}
	}
	res, runErr := eval.RunTask(ctx, lm.Model, lm.Tokenizer, task)
	if res == nil {
		return runErr
	}
	rep.Task, rep.Dataset, rep.TextSHA256, rep.BOS, rep.CtxCapped = res.Task, res.Dataset, res.TextSHA256, res.BOS, res.CtxCapped
	rep.Perplexity, rep.MultipleChoice, rep.Parallel, rep.TokenizeSeconds = res.Perplexity, res.MultipleChoice, res.Parallel, res.TokenizeSeconds
	bar.finish()
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	rep.Interrupted = runErr != nil
	rep.WallSeconds = time.Since(start).Seconds()
	if opts.JSON {
		err = writeJSON(io.Out, rep)
	} else {
		err = renderTable(io.Out, []string{"metric", "value"}, rep.rows())
	}
	if err != nil {
		return err
	}
	if rep.Interrupted {
		return fmt.Errorf("interrupted; the result above covers %s: %w", rep.doneText(), runErr)
	}
	return nil
}

func (r *evalReport) doneText() string {
	if p := r.Perplexity; p != nil {
		return fmt.Sprintf("%d of %d windows", p.Windows, p.WindowsPlanned)
	}
	if m := r.MultipleChoice; m != nil {
		return fmt.Sprintf("%d of %d items", m.Items, m.ItemsPlanned)
	}
	return "nothing"
}

func formatMetric(metric string, v float64) string {
	if metric == "acc" {
		return fmt.Sprintf("%.2f%%", 100*v)
	}
	return fmt.Sprintf("%.4f", v)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func (r *evalReport) rows() [][]string {
	rows := [][]string{{"model", r.Model}}
	if q := r.Quantization; q != nil {
		rows = append(rows, []string{"quantization", fmt.Sprintf("%s %s (%.3f bits/weight, ragged %s)", q.Method, q.Format, q.EffectiveBits, q.Ragged)})
	}
	if r.KLBase != "" {
		rows = append(rows, []string{"reference model", r.KLBase})
	}
	ds := r.Dataset
	if p := r.Perplexity; p != nil {
		ctx := fmt.Sprint(p.Ctx)
		if r.CtxCapped {
			ctx += " (default capped at the model's maximum positions)"
		}
		rows = append(rows,
			[]string{"dataset", ds},
			[]string{"protocol", fmt.Sprintf("%s, ctx %s, BOS %s (--bos %s)", p.Protocol, ctx, onOff(r.BOS), r.BOSPolicy)},
			[]string{"perplexity", fmt.Sprintf("%.4f ± %.4f", p.PPL, p.PPLStdErr)},
			[]string{"tokens", fmt.Sprintf("%d scored, %d evaluated, %d in the text", p.ScoredTokens, p.EvaluatedTokens, p.TextTokens)},
			[]string{"windows", fmt.Sprintf("%d of %d (%d in the text)", p.Windows, p.WindowsPlanned, p.WindowsAvailable)},
			[]string{"speed", fmt.Sprintf("%.0f tokens/s (%.1f s, %d threads, %d parallel)", p.TokensPerSecond, p.Seconds, r.Threads, r.Parallel)},
		)
		if k := p.KL; k != nil {
			rows = append(rows,
				[]string{"KL divergence", fmt.Sprintf("%.6f ± %.6f (mean)", k.Mean, k.MeanStdErr)},
				[]string{"KL percentiles", fmt.Sprintf("median %.6f, 90%% %.6f, 99%% %.6f, 99.9%% %.6f, max %.6f", k.Median, k.P90, k.P99, k.P99_9, k.Max)},
				[]string{"same top token", fmt.Sprintf("%.3f ± %.3f %%", 100*k.SameTop, 100*k.SameTopStdErr)},
				[]string{"RMS Δp", fmt.Sprintf("%.3f ± %.3f %%", 100*k.RMSDeltaP, 100*k.RMSDeltaPStdErr)},
				[]string{"reference perplexity", fmt.Sprintf("%.4f ± %.4f", k.BasePPL, k.BasePPLStdErr)},
				[]string{"PPL ratio", fmt.Sprintf("%.6f ± %.6f", k.PPLRatio, k.PPLRatioStdErr)},
			)
		}
	}
	if m := r.MultipleChoice; m != nil {
		rows = append(rows,
			[]string{"dataset", ds},
			[]string{"BOS", fmt.Sprintf("%s (--bos %s)", onOff(r.BOS), r.BOSPolicy)},
			[]string{"acc", fmt.Sprintf("%.2f ± %.2f %%", 100*m.Acc, 100*m.AccStdErr)},
			[]string{"acc_norm", fmt.Sprintf("%.2f ± %.2f %%", 100*m.AccNorm, 100*m.AccNormStdErr)},
			[]string{"items", fmt.Sprintf("%d of %d", m.Items, m.ItemsPlanned)},
			[]string{"choices", fmt.Sprintf("%d from the shared prefix, %d full passes, %d longer than the context", m.SharedPrefixChoices, m.FullPassChoices, m.TruncatedChoices)},
			[]string{"speed", fmt.Sprintf("%.0f tokens/s (%.1f s, %d threads, %d parallel)", m.TokensPerSecond, m.Seconds, r.Threads, r.Parallel)},
		)
	}
	rows = append(rows,
		[]string{"data sha256", r.TextSHA256},
		[]string{"tokenizer sha256", r.TokenizerSHA256},
	)
	if r.Interrupted {
		rows = append(rows, []string{"status", "interrupted: partial result for " + r.doneText()})
	}
	return rows
}
