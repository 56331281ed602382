package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/quant"
)

type quantizeOptions struct {
	Model  string
	Out    string
	Force  bool
	Resume bool
	JSON   bool
	Method methodOptions
}

// resumeDirName holds an interrupted awq/gptq run's finished layers.
const resumeDirName = quant.ResumeDirName

// layerSavedHook, when set (by tests), runs after each layer's resume
// state is saved: the place where an interruption must lose nothing.
var layerSavedHook func(layer int)

type quantizeReport struct {
	Schema string `json:"schema"`
	Model  string `json:"model"`
	Out    string `json:"out"`
	*quant.MethodResult
}

func newQuantizeCmd(io *streams) *cobra.Command {
	opts := quantizeOptions{}
	cmd := &cobra.Command{
		Use:   "quantize [MODEL] --method rtn|awq|gptq -o OUT",
		Short: "Quantize a model's linear layers and write a quantized checkpoint",
		Long: `Quantize the decoder layers' linear weights (q/k/v/o, gate/up/down) of a
model with a static method and write a checkpoint directory (config.json,
model.safetensors with packed codes, scales and zero points, tokenizer files)
that ttq eval, generate and inspect load directly. Embeddings, norms and the
LM head stay in full precision.

Methods: rtn (round to nearest), awq (activation-aware scaling, AutoAWQ's
procedure), gptq (Hessian-based error compensation, IST-DASLab's). ttq is a
test-time method: apply it with ttq eval/generate --method ttq.

The model is processed one decoder layer at a time; the same inputs, flags
and --seed give a byte-identical checkpoint. awq and gptq save each
finished layer in OUT/.ttq-resume, so an interrupted run (Ctrl-C, a crash,
a reboot) continues with --resume from its last finished layer, refused when
the model, method, options or calibration differ; the directory is removed
when the checkpoint is written. Nothing else is written before the end.

On a CPU, calibration costs about 3–4× a forward pass over the
calibration tokens for gptq and 25–30× for awq (20 scale-grid points
re-running each block, plus the clip search), both in proportion to
--nsamples: gptq runs well with the default 128 (a TinyLlama-1.1B shape
takes about 37 minutes on 2 cores); for awq on a CPU pick --nsamples 32 (a
quarter of the time: about 300 CPU seconds a layer of that shape, 4–5
minutes on 2 shared cores; the README has the figures).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := modelArg(args, opts.Model)
			if err != nil {
				return err
			}
			opts.Model = dir
			return runQuantize(cmd.Context(), io, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Model, "model", "", "model directory (default: the built-in demo model)")
	f.StringVarP(&opts.Out, "out", "o", "", "output directory")
	f.BoolVar(&opts.Force, "force", false, "overwrite existing files in the output directory")
	f.BoolVar(&opts.Resume, "resume", false, "awq/gptq: continue an interrupted run from its last finished layer (kept in OUT/"+resumeDirName+" until the checkpoint is written)")
	f.BoolVar(&opts.JSON, "json", false, "print one JSON document describing the run on stdout")
	addMethodFlags(f, &opts.Method, "quantization method: rtn, awq or gptq")
	f.Uint64Var(&opts.Method.Seed, "seed", 0, "seed of the calibration sampling (same as --calib-seed)")
	return cmd
}

func runQuantize(ctx context.Context, io *streams, opts quantizeOptions) error {
	progress, done := blockProgress(io, opts.Method.Method)
	res, err := quant.QuantizeModel(ctx, quant.QuantizeOptions{
		Model: opts.Model, Out: opts.Out, Method: opts.Method, Force: opts.Force, Resume: opts.Resume,
		Version: version, Progress: progress,
		LayerSaved: func(l int) {
			if layerSavedHook != nil {
				layerSavedHook(l)
			}
		},
	})
	done()
	if err != nil {
		return err
	}
	source := opts.Model
	if source == "" {
		source = demo.Name
	}
	rep := quantizeReport{Schema: "ttq.quantize/v1", Model: source, Out: opts.Out, MethodResult: res}
	if opts.JSON {
		return writeJSON(io.Out, rep)
	}
	calib := ""
	if res.Calib != "" {
		calib = fmt.Sprintf(", calibrated on %d × %d tokens of %s (seed %d)", res.CalibSamples, res.CalibSeqLen, res.Calib, res.CalibSeed)
	}
	fmt.Fprintf(io.ErrOut, "ttq: %s %s (%.3f bits/weight)%s in %.1fs; wrote %s\n",
		res.Method, res.Format, res.EffectiveBits, calib, res.Seconds, opts.Out)
	return nil
}
