package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/ttqproject/ttq/pkg/model/gguf"
	"github.com/ttqproject/ttq/pkg/quant"
)

type inspectOptions struct {
	Model string
	JSON  bool
}

func newInspectCmd(io *streams) *cobra.Command {
	opts := inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect [MODEL | FILE.gguf]",
		Short: "Show a model's architecture, parameters, tensors and tokenizer, or a GGUF file's metadata and tensors",
		Long: `Show a model's architecture, parameters, tensors and tokenizer.

MODEL is a Hugging Face model directory, a hub cache org/name[@revision], or
a GGUF file (llama.cpp's format, recognized by its content): for a GGUF file,
inspect lists the metadata keys with their types and values (arrays by their
length and first items) and the tensor table (name, ggml type, dimensions
innermost first, offset into the data section, bytes). --json prints the same
as one document (schema ttq.inspect/v1, or ttq.inspect.gguf/v1 for GGUF).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := modelArg(args, opts.Model)
			if err != nil {
				return err
			}
			opts.Model = dir
			return runInspect(io, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Model, "model", "", "model directory, hub cache org/name[@revision] or GGUF file (default: the built-in demo model)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON document")
	return cmd
}

func runInspect(io *streams, opts inspectOptions) error {
	if opts.Model != "" && gguf.IsGGUF(opts.Model) {
		return runInspectGGUF(io, opts)
	}
	lm, err := loadModel(opts.Model)
	if err != nil {
		return err
	}
	defer lm.Model.Close()
	res := quant.Describe(lm)
	if opts.JSON {
		return writeJSON(io.Out, res)
	}
	c := res.Config
	w := io.Out
	fmt.Fprintf(w, "model:         %s\n", res.Model)
	fmt.Fprintf(w, "architecture:  %s\n", c.Architecture)
	fmt.Fprintf(w, "parameters:    %s (%d)\n", humanCount(res.Params), res.Params)
	fmt.Fprintf(w, "checkpoint:    %s in %d file(s)\n", humanBytes(res.Bytes), len(res.Files))
	fmt.Fprintf(w, "layers:        %d, hidden %d, intermediate %d\n", c.NumLayers, c.HiddenSize, c.IntermediateSize)
	fmt.Fprintf(w, "attention:     %d heads, %d KV heads, head_dim %d", c.NumHeads, c.NumKVHeads, c.HeadDim)
	if c.QKVBias {
		fmt.Fprint(w, ", q/k/v bias")
	}
	if c.QKNorm {
		fmt.Fprint(w, ", q/k norm")
	}
	if c.SlidingWindow > 0 {
		fmt.Fprintf(w, ", sliding window %d", c.SlidingWindow)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "rope:          %s, theta %g", c.Rope.Type, c.Rope.Theta)
	if c.Rope.Type != "default" {
		fmt.Fprintf(w, ", factor %g", c.Rope.Factor)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "vocab:         %d, context %d, rms_norm_eps %g, tied embeddings %t\n", c.VocabSize, c.MaxPositions, c.RMSNormEps, c.TieWordEmbeddings)
	t := res.Tokenizer
	fmt.Fprintf(w, "tokenizer:     %s %s, %d tokens, %d merges, %d added; BOS %s, EOS %s\n\n",
		t.Kind, t.Model, t.VocabSize, t.Merges, t.AddedTokens, tokenLabel(t.BOSToken, t.BOSID), tokenLabel(t.EOSToken, t.EOSID))
	rows := make([][]string, 0, len(res.Tensors))
	for _, tr := range res.Tensors {
		rows = append(rows, []string{tr.Name, tr.DType, shapeString(tr.Shape), humanBytes(tr.Bytes)})
	}
	return renderTable(w, []string{"tensor", "dtype", "shape", "bytes"}, rows)
}

func tokenLabel(s string, id int) string {
	if id < 0 {
		return "none"
	}
	return fmt.Sprintf("%q (%d)", s, id)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
