package eval

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/ttqproject/ttq/pkg/model"
)

// Task is one evaluation by name, as `ttq eval` takes it: the dataset and
// the protocol, with the limits.
type Task struct {
	// Dataset is wikitext or piqa (built in), mc:FILE (multiple-choice
	// JSONL) or a text FILE (perplexity).
	Dataset string
	// Split of the built-in datasets: wikitext test (default) or valid;
	// piqa valid.
	Split string
	// Protocol (perplexity): gptq or llamacpp; Ctx 0 is its default
	// window, capped at the model's maximum positions.
	Protocol string
	Ctx      int
	// MaxWindows limits the windows or items (0: all).
	MaxWindows int
	// BOS policy: auto, on or off.
	BOS string
	// Ref, when set, is the reference model of a KL divergence
	// (perplexity only).
	Ref Scorer
	// Workers windows or items at once, each on its own cache.
	Workers int
	// Started, if set, hears what is about to run: a description, the
	// metric ("ppl" or "acc") and the number of windows or items.
	Started func(desc, metric string, total int)
	// Progress hears each finished window or item with the running
	// metric.
	Progress func(done, total int, value float64)
}

// Validate checks the dataset, split, BOS policy and protocol, choosing
// the built-in datasets' default split; bad values are
// *model.OptionError.
func (t *Task) Validate() error {
	bad := model.OptionErrorf
	if t.Dataset == "" {
		return bad("--dataset is empty: give wikitext, piqa, FILE or mc:FILE")
	}
	if t.Dataset == "mc:" {
		return bad("--dataset mc:FILE needs a file name")
	}
	if err := ValidateBOSAndProtocol(t.BOS, t.Protocol); err != nil {
		return err
	}
	if t.Ctx < 0 || t.MaxWindows < 0 || t.Workers < 0 {
		return bad("--ctx, --max-windows and --parallel must not be negative")
	}
	switch {
	case t.Dataset == "wikitext":
		if t.Split == "" {
			t.Split = "test"
		}
		if t.Split != "test" && t.Split != "valid" {
			return bad("--split %q: WikiText-2 has test and valid (train is not shipped)", t.Split)
		}
	case t.Dataset == "piqa":
		if t.Split == "" {
			t.Split = "valid"
		}
		if t.Split != "valid" {
			return bad("--split %q: PIQA is evaluated on its validation split (the test labels are not public)", t.Split)
		}
	case t.Split != "":
		return bad("--split applies to the built-in datasets (wikitext, piqa), not to files")
	}
	return nil
}

// IsMultipleChoice reports whether the task's dataset is scored as
// multiple choice (piqa, mc:FILE) rather than by perplexity.
func (t Task) IsMultipleChoice() bool {
	return t.Dataset == "piqa" || strings.HasPrefix(t.Dataset, "mc:")
}

// file is the dataset's file, "" for the built-in ones.
func (t Task) file() string {
	switch {
	case t.Dataset == "wikitext" || t.Dataset == "piqa":
		return ""
	case strings.HasPrefix(t.Dataset, "mc:"):
		return strings.TrimPrefix(t.Dataset, "mc:")
	}
	return t.Dataset
}

// TaskResult is a finished (or interrupted) task.
type TaskResult struct {
	// Task is "perplexity" or "multiple_choice"; Dataset names the text
	// or items evaluated, TextSHA256 hashes them.
	Task       string
	Dataset    string
	TextSHA256 string
	// BOS: whether the evaluated sequences start with BOS.
	BOS bool
	// CtxCapped: the protocol's default window was cut to the model's
	// maximum positions.
	CtxCapped       bool
	Perplexity      *PerplexityResult
	MultipleChoice  *MCResult
	Parallel        int
	TokenizeSeconds float64
}

// RunTask evaluates m, tokenized by tok, on t. On cancellation it returns
// the result of the windows or items done so far with the context's error.
func RunTask(ctx context.Context, m *model.Model, tok Tokenizer, t Task) (*TaskResult, error) {
	res := &TaskResult{}
	policy := BOSPolicy(t.BOS)
	opts := Options{Workers: t.Workers, Progress: t.Progress}
	started := func(desc, metric string, total int) {
		if t.Started != nil {
			t.Started(desc, metric, total)
		}
	}
	file := t.file()
	var runErr error
	if !t.IsMultipleChoice() {
		res.Task = "perplexity"
		p := Protocol(t.Protocol)
		var txt Text
		var err error
		if file == "" {
			txt, err = WikiText(t.Split, p)
		} else if txt, err = ReadTextFile(file, p); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("--dataset %s: not a built-in dataset (wikitext, piqa) and %w", file, err)
		}
		if err != nil {
			return nil, err
		}
		res.Dataset = txt.Name
		res.TextSHA256 = txt.SHA256()
		maxPos := m.Config.MaxPositions
		ctxLen := t.Ctx
		if ctxLen == 0 {
			ctxLen, res.CtxCapped = DefaultCtx(p, maxPos)
		} else if maxPos > 0 && ctxLen > maxPos {
			return nil, model.OptionErrorf("--ctx %d exceeds the model's maximum of %d positions", ctxLen, maxPos)
		}
		t0 := time.Now()
		toks, bos, err := TokenizeText(tok, txt.Text, p, policy)
		if err != nil {
			return nil, err
		}
		res.TokenizeSeconds = time.Since(t0).Seconds()
		res.BOS = bos >= 0 || (len(toks) > 0 && toks[0] == tok.BOS())
		w, err := MakeWindows(toks, p, ctxLen, t.MaxWindows, bos)
		if err != nil {
			return nil, err
		}
		res.Parallel = min(t.Workers, w.N)
		started(fmt.Sprintf("%s ctx %d", p, ctxLen), "ppl", w.N)
		res.Perplexity, runErr = Perplexity(ctx, FromModel(m), w, t.Ref, opts)
	} else {
		res.Task = "multiple_choice"
		var items []MCItem
		var err error
		if file == "" {
			items, err = PIQA()
			res.Dataset = "piqa/valid"
		} else {
			items, err = ReadMCFile(file)
			res.Dataset = file
		}
		if err != nil {
			return nil, err
		}
		if t.MaxWindows > 0 && t.MaxWindows < len(items) {
			items = items[:t.MaxWindows]
		}
		res.TextSHA256 = ItemsSHA256(items)
		t0 := time.Now()
		reqs, err := EncodeMC(tok, items, policy)
		if err != nil {
			return nil, err
		}
		res.TokenizeSeconds = time.Since(t0).Seconds()
		res.BOS = len(reqs) > 0 && len(reqs[0].Context) > 0 && reqs[0].Context[0] == tok.BOS()
		res.Parallel = min(t.Workers, len(reqs))
		started(filepath.Base(res.Dataset), "acc", len(reqs))
		res.MultipleChoice, runErr = MultipleChoice(ctx, FromModel(m), reqs, opts)
	}
	return res, runErr
}
