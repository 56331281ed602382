package main

import (
	"context"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/pflag"

	"github.com/ttqproject/ttq/pkg/quant"
)

// methodOptions are the flags that choose and configure a quantization
// method, shared by quantize (static methods) and by eval and generate
// (any method, applied in memory after loading).
type methodOptions = quant.MethodOptions

// loadedModel is a model with its tokenizer and where it came from.
type loadedModel = quant.LoadedModel

// loadModel opens a Hugging Face model directory, a ttq-quantized one, or
// the built-in demo model when dir is empty.
func loadModel(dir string) (*loadedModel, error) { return quant.LoadModel(dir) }

// addMethodFlags registers the method knobs on fs with their defaults,
// except that o's Method and TTQPrefill stay the command's defaults;
// methodHelp describes --method for this command.
func addMethodFlags(fs *pflag.FlagSet, o *methodOptions, methodHelp string) {
	d := quant.DefaultMethodOptions()
	d.Method, d.TTQPrefill = o.Method, o.TTQPrefill
	*o = d
	for _, k := range o.Knobs() {
		usage := k.Usage
		if k.Name == "method" {
			usage = methodHelp
		}
		switch v := k.Value.(type) {
		case *string:
			fs.StringVar(v, k.Name, *v, usage)
		case *int:
			fs.IntVar(v, k.Name, *v, usage)
		case *uint64:
			fs.Uint64Var(v, k.Name, *v, usage)
		case *float64:
			fs.Float64Var(v, k.Name, *v, usage)
		case *bool:
			fs.BoolVar(v, k.Name, *v, usage)
		}
	}
}

// applyMethod quantizes lm's model in place (quant.ApplyMethod), drawing
// one step per decoder layer on a terminal's stderr.
func applyMethod(ctx context.Context, io *streams, lm *loadedModel, o methodOptions) (*quant.MethodResult, error) {
	progress, done := blockProgress(io, o.Method)
	res, err := quant.ApplyMethod(ctx, lm, o, progress)
	done()
	return res, err
}

// blockProgress is a quant.Progress drawing the bar of newBlockBar once
// the first layer is done, and the function that clears it (again and
// again if need be).
func blockProgress(io *streams, method string) (quant.Progress, func()) {
	var bar *progressbar.ProgressBar
	progress := func(done, total int) {
		if bar == nil {
			bar = newBlockBar(io, total, method)
		}
		if bar != nil {
			_ = bar.Set(done)
		}
	}
	return progress, func() {
		if bar != nil {
			_ = bar.Clear()
			bar = nil
		}
	}
}

// newBlockBar draws one step per decoder layer with an ETA, on stderr and
// only when stderr is a terminal.
func newBlockBar(io *streams, blocks int, desc string) *progressbar.ProgressBar {
	if !io.ErrTTY || blocks <= 0 {
		return nil
	}
	return progressbar.NewOptions(blocks,
		progressbar.OptionSetWriter(io.ErrOut),
		progressbar.OptionSetVisibility(true),
		progressbar.OptionSetDescription(desc+" blocks"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionClearOnFinish(),
	)
}
