package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/ttqproject/ttq/pkg/model/safetensors"
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

func (o quantizeOptions) validate() error {
	if o.Out == "" {
		return usagef("give the output directory with -o")
	}
	m, err := quant.Lookup(o.Method.Method)
	if err != nil {
		return usageError{err}
	}
	if m.TestTime {
		return usagef("--method %s quantizes each prompt at inference time and has no static checkpoint: use `ttq eval --method %s` or `ttq generate --method %s`", m.Name, m.Name, m.Name)
	}
	_, _, err = o.Method.Resolve()
	return err
}

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

On a CPU, calibration costs about 3.5–5× a forward pass over the
calibration tokens for gptq and about 30× for awq (20 scale-grid points
re-running each block, plus the clip search), both in proportion to
--nsamples: gptq runs well with the default 128 (a TinyLlama-1.1B shape
takes about 37 minutes on 2 cores); for awq on a CPU pick --nsamples 32 (a
quarter of the time; the README gives the time per layer).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := modelArg(args, opts.Model)
			if err != nil {
				return err
			}
			opts.Model = dir
			if err := opts.validate(); err != nil {
				return err
			}
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
	if abs, err := filepath.Abs(opts.Out); err == nil && opts.Model != "" {
		if src, err := filepath.Abs(opts.Model); err == nil && src == abs {
			return usagef("the output directory is the model directory; choose another -o")
		}
	}
	files, err := quant.ModelFiles(opts.Model)
	if err != nil {
		return fmt.Errorf("model config: %w", err)
	}
	if !opts.Force {
		for _, name := range append([]string{safetensors.SingleFileName, safetensors.IndexFileName}, slices.Sorted(maps.Keys(files))...) {
			if _, err := os.Stat(filepath.Join(opts.Out, name)); err == nil {
				return fmt.Errorf("%s already exists (use --force to overwrite)", filepath.Join(opts.Out, name))
			}
		}
	}
	lm, err := loadModel(opts.Model)
	if err != nil {
		return err
	}
	defer lm.Model.Close()
	var resume *layerResume
	opts.Method.LayerCheckpoint = func(res *quant.MethodResult) (*quant.Checkpointer, error) {
		fp, err := resumeFingerprint(opts.Model, lm, res)
		if err != nil {
			return nil, err
		}
		if resume, err = openLayerResume(opts.Out, opts.Resume, opts.Force, fp, len(lm.Model.Layers)); err != nil {
			return nil, err
		}
		return resume.checkpointer(), nil
	}
	res, err := applyMethod(ctx, io, lm, opts.Method)
	if err != nil {
		return err
	}
	if err := quant.SaveModel(opts.Out, lm.Model, res.Metadata(lm.Source, version), files); err != nil {
		return err
	}
	if resume != nil {
		if err := resume.remove(); err != nil {
			return err
		}
	}
	rep := quantizeReport{Schema: "ttq.quantize/v1", Model: lm.Source, Out: opts.Out, MethodResult: res}
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
