package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ttqproject/ttq/pkg/quant/export"
)

// exportOptions are export.Options and how the result is printed.
type exportOptions struct {
	export.Options
	JSON bool
}

func newExportCmd(io *streams) *cobra.Command {
	opts := exportOptions{}
	cmd := &cobra.Command{
		Use:   "export [MODEL] --format awq|gguf -o OUT",
		Short: "Write a model in a format other tools load (AutoAWQ, GGUF)",
		Long: `Export a model for other inference engines.

  --format awq   AutoAWQ GEMM checkpoint directory (transformers, vLLM, SGLang)
                 from a ttq quantized checkpoint made with 4-bit, --group 128
                 and f16 scales (ttq quantize --method rtn|awq|gptq). Lossless:
                 the same codes, zeros and scales.
  --format gguf  GGUF v3 file for llama.cpp with the tokenizer; --type f32, f16
                 (default), q8_0 or q4_0, quantized natively with ggml's
                 reference rounding. Matrices whose rows are not a multiple of
                 32 stay F16 and the output says so.

MODEL is a Hugging Face model directory or a ttq checkpoint; without it the
built-in demo model is used (GGUF only). The output is written to a temporary
name and renamed into place; an existing output needs --force, and an input
file is never overwritten.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := modelArg(args, opts.Model)
			if err != nil {
				return err
			}
			opts.Model = dir
			return runExport(cmd.Context(), io, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Model, "model", "", modelFlagUsage)
	f.StringVar(&opts.Format, "format", "", "output format: awq or gguf")
	f.StringVar(&opts.Type, "type", "", "GGUF tensor type of the matrices: f32, f16, q8_0 or q4_0 (default f16)")
	f.StringVarP(&opts.Out, "out", "o", "", "output: a directory (awq) or a .gguf file (gguf)")
	f.StringVar(&opts.Name, "name", "", "GGUF general.name (default: the model directory's name)")
	f.BoolVar(&opts.Force, "force", false, "replace an existing output")
	f.BoolVar(&opts.JSON, "json", false, "print one JSON document describing the export on stdout")
	return cmd
}

func runExport(ctx context.Context, io *streams, opts exportOptions) error {
	var bar *progress
	opts.Progress = func(done, total int) {
		if bar == nil {
			bar = newProgress(io, total, "export", "")
		}
		if bar != nil {
			_ = bar.bar.Set(done)
		}
	}
	res, err := export.Run(ctx, opts.Options)
	bar.finish()
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(io.Out, res)
	}
	switch {
	case res.GGUF != nil:
		fmt.Fprintf(io.Out, "wrote %s: GGUF v3, %s, %s, %d tensors, %d keys, %.2f MiB\n", opts.Out, res.GGUF.Architecture,
			res.GGUF.Type, len(res.GGUF.Tensors), len(res.GGUF.Keys), float64(res.Bytes)/(1<<20))
	case res.AWQ != nil:
		fmt.Fprintf(io.Out, "wrote %s: AutoAWQ GEMM (4-bit g128, from %s), %d quantized linears, %d tensors, %.2f MiB\n",
			opts.Out, res.AWQ.Format, res.AWQ.Quantized, res.AWQ.Tensors, float64(res.Bytes)/(1<<20))
	}
	for _, n := range res.Notes {
		fmt.Fprintf(io.Out, "note: %s\n", n)
	}
	return nil
}
