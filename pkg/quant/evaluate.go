package quant

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ttqproject/ttq/pkg/eval"
	"github.com/ttqproject/ttq/pkg/kernels"
)

// EvalReport is the result of Evaluate, the ttq.eval/v1 document.
type EvalReport struct {
	Schema          string        `json:"schema"`
	TTQVersion      string        `json:"ttq_version"`
	Task            string        `json:"task"`
	Model           string        `json:"model"`
	KLBase          string        `json:"kl_base,omitempty"`
	Quantization    *MethodResult `json:"quantization,omitempty"`
	Dataset         string        `json:"dataset"`
	Split           string        `json:"split,omitempty"`
	TextSHA256      string        `json:"text_sha256"`
	TokenizerSHA256 string        `json:"tokenizer_sha256"`
	BOSPolicy       string        `json:"bos_policy"`
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

// EvalOptions configure Evaluate, `ttq eval` as one call.
type EvalOptions struct {
	// Model is a model directory or ttq checkpoint ("" = the demo);
	// KLBase, when set, the reference model of a KL divergence, which
	// must share the model's tokenizer.
	Model  string
	KLBase string
	// Task is the evaluation; its Ref and Workers are set by Evaluate.
	Task eval.Task
	// Method, when it names one, quantizes the model in memory first;
	// MethodProgress hears its layers.
	Method         MethodOptions
	MethodProgress Progress
	// Threads for the kernels in all (0: every core) and Parallel windows
	// or items at once (0: one per thread for small models; test-time
	// methods always 1).
	Threads  int
	Parallel int
	// Version and CPUFeatures are recorded in the report.
	Version     string
	CPUFeatures map[string]bool
}

// Evaluate loads o.Model, applies o.Method and runs o.Task. On
// cancellation it returns the report of the windows or items done so far
// (Interrupted set) with the context's error. It sets the kernels' thread
// count for its duration and restores o.Threads after.
func Evaluate(ctx context.Context, o EvalOptions) (*EvalReport, error) {
	start := time.Now()
	lm, err := LoadModel(o.Model)
	if err != nil {
		return nil, err
	}
	defer lm.Close()
	tokSHA, err := TokenizerSHA256(o.Model)
	if err != nil {
		return nil, err
	}
	rep := &EvalReport{
		Schema: "ttq.eval/v1", TTQVersion: o.Version, Model: lm.Source, Dataset: o.Task.Dataset, Split: o.Task.Split,
		TokenizerSHA256: tokSHA, BOSPolicy: o.Task.BOS, CPUFeatures: o.CPUFeatures,
	}
	mres, err := ApplyMethod(ctx, lm, o.Method, o.MethodProgress)
	if err != nil {
		return nil, err
	}
	rep.Quantization = mres
	task := o.Task
	if o.KLBase != "" {
		base, err := LoadModel(o.KLBase)
		if err != nil {
			return nil, fmt.Errorf("--kl-base: %w", err)
		}
		defer base.Close()
		baseSHA, err := TokenizerSHA256(o.KLBase)
		if err != nil {
			return nil, err
		}
		if baseSHA != tokSHA || base.Model.Config.VocabSize != lm.Model.Config.VocabSize {
			return nil, fmt.Errorf("--kl-base %s: its tokenizer or vocabulary differs from the model's; KL divergence needs the same tokens", o.KLBase)
		}
		task.Ref = eval.FromModel(base.Model)
		rep.KLBase = base.Source
	}

	threads, parallel := eval.SplitThreads(o.Threads, o.Parallel, lm.Model.Config)
	if mres != nil && mres.TestTime {
		// Test-time quantized layers hold the current request's
		// calibration, so requests must not overlap.
		parallel = 1
	}
	kernels.SetThreads(max(1, threads/parallel))
	defer kernels.SetThreads(o.Threads)
	rep.Threads = threads
	task.Workers = parallel
	res, runErr := eval.RunTask(ctx, lm.Model, lm.Tokenizer, task)
	if res == nil {
		return nil, runErr
	}
	rep.Task, rep.Dataset, rep.TextSHA256, rep.BOS, rep.CtxCapped = res.Task, res.Dataset, res.TextSHA256, res.BOS, res.CtxCapped
	rep.Perplexity, rep.MultipleChoice, rep.Parallel, rep.TokenizeSeconds = res.Perplexity, res.MultipleChoice, res.Parallel, res.TokenizeSeconds
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return nil, runErr
	}
	rep.Interrupted = runErr != nil
	rep.WallSeconds = time.Since(start).Seconds()
	return rep, runErr
}
