package compare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ttqproject/ttq/pkg/eval"
)

// Dataset is one prepared evaluation, shared by every row.
type Dataset struct {
	Info DatasetInfo
	// Windows (perplexity) or Reqs (multiple choice).
	Windows *eval.Windows
	Reqs    []eval.MCRequest
}

// Prepared is one row's model, quantized and ready to evaluate.
type Prepared struct {
	Scorer eval.Scorer
	// Workers > 0 overrides the runner's (test-time methods serve one
	// request at a time: 1).
	Workers       int
	Format        string
	BitsPerWeight float64
	ModelBytes    int64
	QuantSeconds  float64
	MethodResult  json.RawMessage
	// TTQStats, for test-time methods, returns the time spent calibrating
	// and the number of calibrations so far.
	TTQStats func() (time.Duration, int)
	// Close releases the row's model.
	Close func()
}

// Event reports progress: Step is "quantize" or a dataset name; Done of
// Total windows or items of that step are finished.
type Event struct {
	Row, Rows   int
	ID          string
	Step        string
	Done, Total int
	// Cached: the row was read from the cache (no steps follow).
	Cached bool
}

// Runner computes rows.
type Runner struct {
	Datasets []Dataset
	// Ref is the full-precision reference the rows' KL divergence is
	// measured against (wrap it in a LogitCache); nil: no KL.
	Ref eval.Scorer
	// Prepare loads the model and applies a row's method.
	Prepare func(ctx context.Context, spec RowSpec) (*Prepared, error)
	// Workers evaluates windows or items in parallel (≤ 1: one at a time).
	Workers  int
	Cache    Cache
	Progress func(Event)
}

func (r *Runner) progress(e Event) {
	if r.Progress != nil {
		r.Progress(e)
	}
}

// Run computes the rows in order, reusing cached ones. On cancellation it
// returns the rows finished so far (an interrupted row is dropped) together
// with the context's error.
func (r *Runner) Run(ctx context.Context, specs []RowSpec, fingerprints []string) ([]Row, error) {
	var rows []Row
	for i, spec := range specs {
		if row, ok := r.Cache.Get(fingerprints[i]); ok {
			row.Cached = true
			rows = append(rows, row)
			r.progress(Event{Row: i, Rows: len(specs), ID: spec.ID(), Cached: true})
			continue
		}
		row, err := r.runRow(ctx, i, len(specs), spec, fingerprints[i])
		if err != nil {
			if ctx.Err() != nil {
				return rows, ctx.Err()
			}
			return rows, fmt.Errorf("%s: %w", spec.ID(), err)
		}
		// A non-finite number is a failed row, not a result to cache.
		if err := row.CheckFinite(); err != nil {
			return rows, err
		}
		if err := r.Cache.Put(row); err != nil {
			return rows, fmt.Errorf("result cache: %w", err)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (r *Runner) runRow(ctx context.Context, idx, n int, spec RowSpec, fp string) (Row, error) {
	id := spec.ID()
	r.progress(Event{Row: idx, Rows: n, ID: id, Step: "quantize"})
	p, err := r.Prepare(ctx, spec)
	if err != nil {
		return Row{}, err
	}
	if p.Close != nil {
		defer p.Close()
	}
	row := Row{RowSpec: spec, ID: id, Fingerprint: fp, Format: p.Format, BitsPerWeight: p.BitsPerWeight,
		ModelBytes: p.ModelBytes, QuantSeconds: p.QuantSeconds, MethodResult: p.MethodResult}
	workers := r.Workers
	if p.Workers > 0 {
		workers = p.Workers
	}
	var ttq0 time.Duration
	var n0 int
	if p.TTQStats != nil {
		ttq0, n0 = p.TTQStats()
	}
	var evalSeconds float64
	isFP := spec.Method == "fp"
	for _, ds := range r.Datasets {
		step := ds.Info.Name
		opts := eval.Options{Workers: workers, Progress: func(done, total int, _ float64) {
			r.progress(Event{Row: idx, Rows: n, ID: id, Step: step, Done: done, Total: total})
		}}
		res := DatasetResult{Dataset: ds.Info.Name}
		switch ds.Info.Kind {
		case KindPerplexity:
			ref := r.Ref
			if isFP {
				ref = nil
			}
			pr, ts, err := eval.PerplexityScores(ctx, p.Scorer, ds.Windows, ref, opts)
			if err != nil {
				return Row{}, err
			}
			res.PPL, res.PPLStdErr, res.MeanNLL, res.MeanNLLStdErr = pr.PPL, pr.PPLStdErr, pr.MeanNLL, pr.MeanNLLStdErr
			res.Tokens, res.Seconds, res.TokensPerSecond = pr.ScoredTokens, pr.Seconds, pr.TokensPerSecond
			res.Samples.NLL = Floats(ts.NLL).Round()
			switch {
			case pr.KL != nil:
				res.KL, res.KLStdErr = pr.KL.Mean, pr.KL.MeanStdErr
				res.Samples.KL = Floats(ts.KL).Round()
			case isFP && r.Ref != nil:
				// The reference against itself: KL is exactly 0.
				res.Samples.KL = make(Floats, len(ts.NLL))
			}
		case KindMultipleChoice:
			mr, items, err := eval.MultipleChoiceScores(ctx, p.Scorer, ds.Reqs, opts)
			if err != nil {
				return Row{}, err
			}
			res.Acc, res.AccStdErr, res.AccNorm, res.AccNormStdErr = mr.Acc, mr.AccStdErr, mr.AccNorm, mr.AccNormStdErr
			res.Items, res.Seconds, res.TokensPerSecond = mr.Items, mr.Seconds, mr.TokensPerSecond
			res.Samples.Acc = make(Bools, len(items))
			res.Samples.AccNorm = make(Bools, len(items))
			for i, it := range items {
				res.Samples.Acc[i], res.Samples.AccNorm[i] = it.Acc, it.AccNorm
			}
		default:
			return Row{}, errors.New("compare: dataset of unknown kind " + string(ds.Info.Kind))
		}
		evalSeconds += res.Seconds
		row.Results = append(row.Results, res)
	}
	if p.TTQStats != nil {
		t1, n1 := p.TTQStats()
		row.TTQCalibrations = n1 - n0
		if evalSeconds > 0 {
			o := (t1 - ttq0).Seconds() / evalSeconds
			row.TTQOverhead = &o
		}
	}
	row.Complete = true
	return row, nil
}
