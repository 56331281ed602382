package main

import "github.com/schollz/progressbar/v3"

// progress draws a bar with a count, ETA and a running metric on stderr. It
// is drawn only when stderr is a terminal: piped stderr gets nothing, so logs
// stay clean. All methods are safe on a nil *progress.
type progress struct {
	bar    *progressbar.ProgressBar
	metric string // "ppl", "acc": the running value's label
}

func newProgress(io *streams, total int, desc, metric string) *progress {
	if !io.ErrTTY || total <= 0 {
		return nil
	}
	// progressbar's NewOptions writes to stdout unless told otherwise,
	// which would corrupt --json output.
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(io.ErrOut),
		progressbar.OptionSetVisibility(true),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionClearOnFinish(),
	)
	return &progress{bar: bar, metric: metric}
}

// update reports done of total finished with the running metric, like
// llama-perplexity's running [chunk]ppl.
func (p *progress) update(done int, value float64, desc string) {
	if p == nil {
		return
	}
	// Unthrottled, so that the count and the metric drawn last always
	// belong together; one window takes far longer than a redraw.
	_ = p.bar.Set(done)
	p.bar.Describe(desc + " " + p.metric + " " + formatMetric(p.metric, value))
}

// finish erases the bar, finished or interrupted, so that the result table
// starts on a clean line.
func (p *progress) finish() {
	if p == nil {
		return
	}
	_ = p.bar.Clear()
}
