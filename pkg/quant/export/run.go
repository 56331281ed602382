package export

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/hub"
	"github.com/ttqproject/ttq/pkg/quant"
)

// Options configure Run, `ttq export` as one call.
type Options struct {
	// Model is a model directory or ttq checkpoint ("" = the demo, GGUF
	// only).
	Model string
	// Format is awq or gguf; Type the GGUF tensor type of the matrices
	// (f32, f16 (""), q8_0, q4_0).
	Format string
	Type   string
	// Out is a directory (awq) or a .gguf file (gguf).
	Out string
	// Name is GGUF's general.name ("": the model directory's name).
	Name  string
	Force bool
	// Progress hears each tensor written.
	Progress func(done, total int)
}

// Validate checks o; bad values are *model.OptionError.
func (o Options) Validate() error {
	switch o.Format {
	case "awq":
		if o.Type != "" {
			return model.OptionErrorf("--type applies to --format gguf only (AutoAWQ is always 4-bit g128)")
		}
	case "gguf":
		if _, err := ParseGGMLType(o.typeOrDefault()); err != nil {
			return &model.OptionError{Err: err}
		}
	case "":
		return model.OptionErrorf("--format is required: awq or gguf")
	default:
		return model.OptionErrorf("--format must be awq or gguf, got %q", o.Format)
	}
	if o.Out == "" {
		return model.OptionErrorf("-o is required (a directory for awq, a .gguf file for gguf)")
	}
	return nil
}

func (o Options) typeOrDefault() string {
	if o.Type == "" {
		return "f16"
	}
	return o.Type
}

// Result is what Run wrote, as `ttq export --json` prints it (schema
// ttq.export/v1).
type Result struct {
	Schema string      `json:"schema"`
	Format string      `json:"format"`
	Model  string      `json:"model"`
	Output string      `json:"output"`
	Bytes  int64       `json:"bytes"`
	GGUF   *GGUFReport `json:"gguf,omitempty"`
	AWQ    *AWQReport  `json:"awq,omitempty"`
	Notes  []string    `json:"notes,omitempty"`
}

// checkOutput refuses an output that is, or would replace, one of the
// model's files.
func checkOutput(opts Options) error {
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
			return model.OptionErrorf("the output %s would replace the model directory %s; choose another -o", opts.Out, opts.Model)
		}
		if filepath.Dir(out) == src {
			if _, err := os.Stat(out); err == nil {
				return model.OptionErrorf("the output %s is a file of the model directory; choose another -o", opts.Out)
			}
		}
	}
	if _, err := os.Stat(out); err == nil && !opts.Force {
		return fmt.Errorf("%s already exists (use --force to replace it)", opts.Out)
	}
	return nil
}

// Run loads opts.Model ("" = the demo) and writes it in opts.Format.
// The output appears whole under its name or not at all; an existing one
// is replaced only with Force, and never one of the model's own files.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := checkOutput(opts); err != nil {
		return nil, err
	}
	read := func(name string) ([]byte, error) {
		if opts.Model == "" {
			return demo.ReadFile(name)
		}
		return os.ReadFile(filepath.Join(opts.Model, name))
	}
	// Load first: a damaged checkpoint is reported as such, not as the
	// wrong kind of model.
	lm, err := quant.LoadModel(opts.Model)
	if err != nil {
		return nil, err
	}
	defer lm.Close()
	if opts.Format == "awq" && (opts.Model == "" || !lm.Quantized()) {
		return nil, model.OptionErrorf("--format awq exports a ttq quantized checkpoint: make one with `ttq quantize --method rtn|awq|gptq --bits 4 --group 128 --scale-type f16 --model DIR -o QDIR`, then `ttq export QDIR --format awq -o OUT`")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tick := opts.Progress
	res := &Result{Schema: "ttq.export/v1", Format: opts.Format, Model: lm.Source, Output: opts.Out}
	switch opts.Format {
	case "gguf":
		v, err := VocabFromTokenizer(lm.Tokenizer, lm.Model.Config.VocabSize)
		if err != nil {
			return nil, err
		}
		typ, _ := ParseGGMLType(opts.typeOrDefault())
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
		rep, err := WriteGGUF(opts.Out, lm.Model, v, GGUFOptions{Type: typ, Name: name, Progress: tick})
		if err != nil {
			return nil, err
		}
		res.GGUF, res.Bytes, res.Notes = rep, rep.Bytes, rep.Notes
	case "awq":
		cfg, err := read("config.json")
		if err != nil {
			return nil, err
		}
		files := map[string][]byte{}
		for _, name := range model.TokenizerFiles {
			if b, err := read(name); err == nil {
				files[name] = b
			}
		}
		rep, err := WriteAWQ(opts.Out, lm.Model, AWQOptions{ConfigJSON: cfg, Files: files, Force: opts.Force, Progress: tick})
		if err != nil {
			return nil, err
		}
		res.AWQ, res.Bytes = rep, rep.Bytes
	}
	return res, nil
}
