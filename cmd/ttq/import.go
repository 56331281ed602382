package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/ttqproject/ttq/pkg/model/hub"
	"github.com/ttqproject/ttq/pkg/model/llama2c"
)

type importOptions = llama2c.ImportOptions

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
			if err := opts.Validate(); err != nil {
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

func runImport(io *streams, opts importOptions) error {
	opts.Step = func(step string, r *llama2c.ImportResult) {
		switch step {
		case "llama2c":
			h := r.Header
			fmt.Fprintf(io.ErrOut, "ttq: imported %s: dim %d, hidden %d, %d layers, %d heads (%d KV), vocab %d, context %d\n",
				opts.Llama2c, h.Dim, h.HiddenDim, h.NLayers, h.NHeads, h.NKVHeads, h.VocabSize, h.SeqLen)
		case "tokenizer":
			fmt.Fprintf(io.ErrOut, "ttq: converted %s tokenizer %s\n", r.TokenizerKind, opts.Tokenizer)
		case "plant":
			fmt.Fprintf(io.ErrOut, "ttq: planted outliers ×%g in hidden channels %v (synthetic stress model)\n", r.Plant.Factor, r.Plant.Channels)
		}
	}
	if _, err := llama2c.Import(opts); err != nil {
		return err
	}
	fmt.Fprintf(io.ErrOut, "ttq: wrote %s\n", opts.Out)
	return nil
}
