package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/ttqproject/ttq/pkg/eval"
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
	if o.Ctx < 0 || o.MaxWindows < 0 || o.Threads < 0 || o.Parallel < 0 {
		return usagef("--ctx, --max-windows, --threads and --parallel must not be negative")
	}
	if err := o.Task.Validate(); err != nil {
		return err
	}
	if o.IsMultipleChoice() {
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

// evalProgressHook, when set by tests, is called after each finished window
// or item with the run's context.
var evalProgressHook func(ctx context.Context, done int)

func runEval(ctx context.Context, io *streams, opts evalOptions) error {
	var bar *progress
	var desc string
	progress, methodDone := blockProgress(io, opts.Method.Method)
	o := quant.EvalOptions{Model: opts.Model, KLBase: opts.KLBase, Task: opts.Task, Method: opts.Method,
		MethodProgress: func(done, total int) {
			progress(done, total)
			if done == total {
				methodDone()
			}
		},
		Threads: opts.Threads, Parallel: opts.Parallel, Version: version, CPUFeatures: currentVersion().CPUFeatures}
	o.Task.Started = func(d, metric string, total int) {
		desc = d
		bar = newProgress(io, total, desc, metric)
	}
	o.Task.Progress = func(done, total int, value float64) {
		bar.update(done, value, desc)
		if evalProgressHook != nil {
			evalProgressHook(ctx, done)
		}
	}
	rep, runErr := quant.Evaluate(ctx, o)
	methodDone()
	bar.finish()
	if rep == nil {
		return runErr
	}
	var err error
	if opts.JSON {
		err = writeJSON(io.Out, rep)
	} else {
		err = renderTable(io.Out, []string{"metric", "value"}, evalRows(rep))
	}
	if err != nil {
		return err
	}
	if rep.Interrupted {
		return fmt.Errorf("interrupted; the result above covers %s: %w", doneText(rep), runErr)
	}
	return nil
}

func doneText(r *quant.EvalReport) string {
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

func evalRows(r *quant.EvalReport) [][]string {
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
		if p.Windows > 0 && p.Windows < p.WindowsAvailable {
			rows = append(rows, []string{"whole text", fmt.Sprintf("%d windows ≈ %s at this rate", p.WindowsAvailable, roundDuration(p.FullTextSeconds()))})
		}
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
		rows = append(rows, []string{"status", "interrupted: partial result for " + doneText(r)})
	}
	return rows
}

// roundDuration writes seconds at a precision a reader can use.
func roundDuration(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d >= time.Hour:
		d = d.Round(time.Minute)
	case d >= time.Minute:
		d = d.Round(time.Second)
	default:
		d = d.Round(100 * time.Millisecond)
	}
	return d.String()
}
