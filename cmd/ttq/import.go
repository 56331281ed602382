package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/ttqproject/ttq/internal/atomicfile"
	"github.com/ttqproject/ttq/pkg/model/hub"
	"github.com/ttqproject/ttq/pkg/model/llama2c"
	"github.com/ttqproject/ttq/pkg/model/tokenizer"
	"github.com/ttqproject/ttq/pkg/model/transform"
	"github.com/ttqproject/ttq/pkg/quant"
)

type importOptions struct {
	Llama2c   string
	Tokenizer string
	Merges    string
	Out       string
	Force     bool
	// PlantOutliers "K:N" writes a planted-outlier variant of the
	// imported model, or of Model (default: the demo) when nothing is
	// converted.
	PlantOutliers string
	PlantSeed     uint64
	Model         string
}

func (o importOptions) validate() error {
	if o.Out == "" {
		return usagef("-o/--out is required")
	}
	if o.Llama2c == "" && o.Tokenizer == "" && o.PlantOutliers == "" {
		return usagef("nothing to import: give --llama2c FILE.bin and/or --tokenizer FILE, or --plant-outliers K:N")
	}
	if o.Model != "" && (o.PlantOutliers == "" || o.Llama2c != "") {
		return usagef("--model is the source model of --plant-outliers (not combined with --llama2c)")
	}
	if o.PlantOutliers != "" {
		if _, err := transform.ParseSpec(o.PlantOutliers); err != nil {
			return usagef("--plant-outliers: %v", err)
		}
	}
	return nil
}

func newImportCmd(io *streams) *cobra.Command {
	opts := importOptions{}
	cmd := &cobra.Command{
		Use:   "import (--llama2c MODEL.bin | --tokenizer FILE)... -o DIR",
		Short: "Convert llama2.c checkpoints and tokenizer files to a Hugging Face model directory",
		Long: `Convert foreign formats into the Hugging Face layout that ttq (and
transformers) load:

  --llama2c MODEL.bin   llama2.c checkpoint (legacy v0 layout) → config.json +
                        model.safetensors (F32; q/k rows permuted from llama2.c's
                        adjacent-pair RoPE to Hugging Face's rotate-half layout)
  --tokenizer FILE      → tokenizer.json + tokenizer_config.json, from any of:
                        SentencePiece .model, llama2.c tokenizer .bin, tiktoken
                        ranks (Llama-3 tokenizer.model), GPT-2 vocab.json (with
                        merges.txt beside it or given by --merges)

Existing files in DIR are not overwritten unless --force is given.`,
		Example: `  ttq import --llama2c stories260K.bin --tokenizer tok512.model -o stories260K-hf
  ttq import --tokenizer Meta-Llama-3-8B/tokenizer.model -o llama3-tok`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.validate(); err != nil {
				return err
			}
			var err error
			if opts.Model, err = hub.Resolve(opts.Model); err != nil {
				return err
			}
			return runImport(io, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Llama2c, "llama2c", "", "llama2.c checkpoint to convert")
	f.StringVar(&opts.Tokenizer, "tokenizer", "", "tokenizer file to convert (.model, .bin, tiktoken ranks, vocab.json)")
	f.StringVar(&opts.Merges, "merges", "", "GPT-2 merges.txt (default: beside vocab.json)")
	f.StringVarP(&opts.Out, "out", "o", "", "output directory")
	f.BoolVar(&opts.Force, "force", false, "overwrite existing files in the output directory")
	f.StringVar(&opts.PlantOutliers, "plant-outliers", "", "write a synthetic stress variant: N hidden channels of every RMSNorm ×K, the matching input columns of q/k/v and gate/up ÷K (same function; see ttq compare)")
	f.Uint64Var(&opts.PlantSeed, "plant-seed", 0, "seed choosing the planted channels")
	f.StringVar(&opts.Model, "model", "", "source model directory of --plant-outliers when no --llama2c is converted (default: the demo)")
	return cmd
}

func runImport(io *streams, opts importOptions) (err error) {
	// A failed import leaves no trace: an output directory it created is
	// removed again (files are written atomically, so a directory that
	// existed before keeps what it had).
	if _, serr := os.Stat(opts.Out); errors.Is(serr, fs.ErrNotExist) {
		defer func() {
			if err != nil {
				os.RemoveAll(opts.Out)
			}
		}()
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return err
	}
	var tokFiles tokenizer.Files
	var tokKind string
	if opts.Tokenizer != "" {
		// Convert first: a bad tokenizer should fail before any file is written.
		var err error
		tokFiles, tokKind, err = tokenizer.ConvertFile(opts.Tokenizer, opts.Merges)
		if err != nil {
			return err
		}
	}
	targets := []string{}
	if opts.Llama2c != "" || opts.PlantOutliers != "" {
		targets = append(targets, "config.json", "model.safetensors")
	}
	if opts.Tokenizer != "" {
		targets = append(targets, "tokenizer.json", "tokenizer_config.json")
	}
	if !opts.Force {
		for _, name := range targets {
			if _, err := os.Stat(filepath.Join(opts.Out, name)); err == nil {
				return fmt.Errorf("%s already exists (use --force to overwrite)", filepath.Join(opts.Out, name))
			}
		}
	}
	if opts.Llama2c != "" {
		h, err := llama2c.Convert(opts.Llama2c, opts.Out)
		if err != nil {
			return err
		}
		fmt.Fprintf(io.ErrOut, "ttq: imported %s: dim %d, hidden %d, %d layers, %d heads (%d KV), vocab %d, context %d\n",
			opts.Llama2c, h.Dim, h.HiddenDim, h.NLayers, h.NHeads, h.NKVHeads, h.VocabSize, h.SeqLen)
	}
	if opts.Tokenizer != "" {
		if err := writeFileAtomic(filepath.Join(opts.Out, "tokenizer.json"), tokFiles.TokenizerJSON); err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(opts.Out, "tokenizer_config.json"), tokFiles.TokenizerConfigJSON); err != nil {
			return err
		}
		fmt.Fprintf(io.ErrOut, "ttq: converted %s tokenizer %s\n", tokKind, opts.Tokenizer)
	}
	if opts.PlantOutliers != "" {
		src := opts.Model
		if opts.Llama2c != "" {
			src = opts.Out
		}
		var extra []string
		if opts.Tokenizer == "" {
			extra = quant.TokenizerFiles
		}
		p, err := transform.PlantCheckpoint(src, opts.Out, opts.PlantOutliers, opts.PlantSeed, extra)
		if err != nil {
			return err
		}
		fmt.Fprintf(io.ErrOut, "ttq: planted outliers ×%g in hidden channels %v (synthetic stress model)\n", p.Factor, p.Channels)
	}
	fmt.Fprintf(io.ErrOut, "ttq: wrote %s\n", opts.Out)
	return nil
}

// writeFileAtomic writes a command's small output files (configs,
// tokenizers) so that an interrupted run never leaves half a file.
func writeFileAtomic(path string, data []byte) error {
	if len(data) == 0 {
		return errors.New("internal: empty file for " + path)
	}
	return atomicfile.WriteFile(path, data)
}
