package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/hub"
	"github.com/ttqproject/ttq/pkg/quant"
	"github.com/ttqproject/ttq/pkg/quant/export"
)

type exportOptions struct {
	Model  string
	Format string
	Type   string
	Out    string
	Name   string
	Force  bool
	JSON   bool
}

func (o exportOptions) validate() error {
	switch o.Format {
	case "awq":
		if o.Type != "" {
			return usagef("--type applies to --format gguf only (AutoAWQ is always 4-bit g128)")
		}
	case "gguf":
		if _, err := export.ParseGGMLType(o.typeOrDefault()); err != nil {
			return usageError{err}
		}
	case "":
		return usagef("--format is required: awq or gguf")
	default:
		return usagef("--format must be awq or gguf, got %q", o.Format)
	}
	if o.Out == "" {
		return usagef("-o is required (a directory for awq, a .gguf file for gguf)")
	}
	return nil
}

func (o exportOptions) typeOrDefault() string {
	if o.Type == "" {
		return "f16"
	}
	return o.Type
}

type exportResult struct {
	Schema string             `json:"schema"`
	Format string             `json:"format"`
	Model  string             `json:"model"`
	Output string             `json:"output"`
	Bytes  int64              `json:"bytes"`
	GGUF   *export.GGUFReport `json:"gguf,omitempty"`
	AWQ    *export.AWQReport  `json:"awq,omitempty"`
	Notes  []string           `json:"notes,omitempty"`
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
			if err := opts.validate(); err != nil {
				return err
			}
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

// checkOutput refuses an output that is, or would replace, one of the
// model's files.
func checkOutput(opts exportOptions) error {
	out, err := filepath.Abs(opts.Out)
	if err != nil {
		return err
	}
	if opts.Model != "" {
		src, err := filepath.Abs(opts.Model)
		if err != nil {
			return err
		}
		if out == src || strings.HasPrefix(src, out+string(filepath.Separator)) {
			return usagef("the output %s would replace the model directory %s; choose another -o", opts.Out, opts.Model)
		}
		if filepath.Dir(out) == src {
			if _, err := os.Stat(out); err == nil {
				return usagef("the output %s is a file of the model directory; choose another -o", opts.Out)
			}
		}
	}
	if _, err := os.Stat(out); err == nil && !opts.Force {
		return fmt.Errorf("%s already exists (use --force to replace it)", opts.Out)
	}
	return nil
}

func runExport(ctx context.Context, io *streams, opts exportOptions) error {
	if err := checkOutput(opts); err != nil {
		return err
	}
	read := func(name string) ([]byte, error) {
		if opts.Model == "" {
			return demo.ReadFile(name)
		}
		return os.ReadFile(filepath.Join(opts.Model, name))
	}
	// Load first: a damaged checkpoint is reported as such, not as the
	// wrong kind of model.
	lm, err := loadModel(opts.Model)
	if err != nil {
		return err
	}
	defer lm.Model.Close()
	if opts.Format == "awq" && (opts.Model == "" || !lm.Quantized()) {
		return usagef("--format awq exports a ttq quantized checkpoint: make one with `ttq quantize --method rtn|awq|gptq --bits 4 --group 128 --scale-type f16 --model DIR -o QDIR`, then `ttq export QDIR --format awq -o OUT`")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var bar *progress
	tick := func(done, total int) {
		if bar == nil {
			bar = newProgress(io, total, "export", "")
		}
		if bar != nil {
			_ = bar.bar.Set(done)
		}
	}
	defer func() { bar.finish() }()
	res := exportResult{Schema: "ttq.export/v1", Format: opts.Format, Model: lm.Source, Output: opts.Out}
	switch opts.Format {
	case "gguf":
		v, err := export.VocabFromTokenizer(lm.Tokenizer, lm.Model.Config.VocabSize)
		if err != nil {
			return err
		}
		typ, _ := export.ParseGGMLType(opts.typeOrDefault())
		name := opts.Name
		if name == "" {
			name = demo.Dir
			if opts.Model != "" {
				name = filepath.Base(filepath.Clean(opts.Model))
				if repo, ok := hub.RepoOf(opts.Model); ok {
					name = path.Base(repo) // not the snapshot's commit hash
				}
			}
		}
		rep, err := export.WriteGGUF(opts.Out, lm.Model, v, export.GGUFOptions{Type: typ, Name: name, Progress: tick})
		if err != nil {
			return err
		}
		res.GGUF, res.Bytes, res.Notes = rep, rep.Bytes, rep.Notes
	case "awq":
		cfg, err := read("config.json")
		if err != nil {
			return err
		}
		files := map[string][]byte{}
		for _, name := range quant.TokenizerFiles {
			if b, err := read(name); err == nil {
				files[name] = b
			}
		}
		rep, err := export.WriteAWQ(opts.Out, lm.Model, export.AWQOptions{ConfigJSON: cfg, Files: files, Force: opts.Force, Progress: tick})
		if err != nil {
			return err
		}
		res.AWQ, res.Bytes = rep, rep.Bytes
	}
	bar.finish()
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
