package llama2c

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ttqproject/ttq/internal/atomicfile"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/tokenizer"
	"github.com/ttqproject/ttq/pkg/model/transform"
)

// ImportOptions configure Import, `ttq import` as one call: which foreign
// files become which parts of the Hugging Face model directory Out.
type ImportOptions struct {
	// Llama2c is a llama2.c checkpoint (config.json + model.safetensors);
	// Tokenizer a tokenizer file (tokenizer.json + tokenizer_config.json,
	// see tokenizer.ConvertFile) with GPT-2's Merges.
	Llama2c   string
	Tokenizer string
	Merges    string
	// Out is the model directory; Force overwrites its files.
	Out   string
	Force bool
	// PlantOutliers "K:N" writes a planted-outlier variant of the
	// imported model, or of Model (default: the demo) when nothing is
	// converted.
	PlantOutliers string
	PlantSeed     uint64
	Model         string
	// Step, if set, hears of each finished step ("llama2c", "tokenizer"
	// or "plant") with the result so far.
	Step func(step string, r *ImportResult)
}

// ImportResult says what Import converted.
type ImportResult struct {
	// Header is the llama2.c checkpoint's, when one was converted.
	Header *Header
	// TokenizerKind names what the tokenizer file was read as.
	TokenizerKind string
	// Plant is the planted-outlier transform, when one was applied.
	Plant *transform.Plant
}

// Validate checks o; bad values are *model.OptionError.
func (o ImportOptions) Validate() error {
	if o.Out == "" {
		return model.OptionErrorf("-o/--out is required")
	}
	if o.Llama2c == "" && o.Tokenizer == "" && o.PlantOutliers == "" {
		return model.OptionErrorf("nothing to import: give --llama2c FILE.bin and/or --tokenizer FILE, or --plant-outliers K:N")
	}
	if o.Model != "" && (o.PlantOutliers == "" || o.Llama2c != "") {
		return model.OptionErrorf("--model is the source model of --plant-outliers (not combined with --llama2c)")
	}
	if o.PlantOutliers != "" {
		if _, err := transform.ParseSpec(o.PlantOutliers); err != nil {
			return model.OptionErrorf("--plant-outliers: %v", err)
		}
	}
	return nil
}

// Import converts the files o names into the model directory o.Out. A
// failed import leaves no trace: a directory it created is removed again,
// and files are written atomically, so a directory that existed keeps what
// it had.
func Import(o ImportOptions) (res *ImportResult, err error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	opts := o
	res = &ImportResult{}
	step := func(name string) {
		if o.Step != nil {
			o.Step(name, res)
		}
	}
	if _, serr := os.Stat(opts.Out); os.IsNotExist(serr) {
		defer func() {
			if err != nil {
				os.RemoveAll(opts.Out)
			}
		}()
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return nil, err
	}
	var tokFiles tokenizer.Files
	var tokKind string
	if opts.Tokenizer != "" {
		// Convert first: a bad tokenizer should fail before any file is written.
		var err error
		tokFiles, tokKind, err = tokenizer.ConvertFile(opts.Tokenizer, opts.Merges)
		if err != nil {
			return nil, err
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
				return nil, fmt.Errorf("%s already exists (use --force to overwrite)", filepath.Join(opts.Out, name))
			}
		}
	}
	if opts.Llama2c != "" {
		h, err := Convert(opts.Llama2c, opts.Out)
		if err != nil {
			return nil, err
		}
		res.Header = &h
		step("llama2c")
	}
	if opts.Tokenizer != "" {
		if err := atomicfile.WriteNonEmpty(filepath.Join(opts.Out, "tokenizer.json"), tokFiles.TokenizerJSON); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteNonEmpty(filepath.Join(opts.Out, "tokenizer_config.json"), tokFiles.TokenizerConfigJSON); err != nil {
			return nil, err
		}
		res.TokenizerKind = tokKind
		step("tokenizer")
	}
	if opts.PlantOutliers != "" {
		src := opts.Model
		if opts.Llama2c != "" {
			src = opts.Out
		}
		var extra []string
		if opts.Tokenizer == "" {
			extra = model.TokenizerFiles
		}
		p, err := transform.PlantCheckpoint(src, opts.Out, opts.PlantOutliers, opts.PlantSeed, extra)
		if err != nil {
			return nil, err
		}
		res.Plant = &p
		step("plant")
	}
	return res, nil
}
