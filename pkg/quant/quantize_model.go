package quant

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

// QuantizeOptions configure QuantizeModel, `ttq quantize` as one call.
type QuantizeOptions struct {
	// Model is the source directory ("" = the demo); Out the directory
	// the quantized model is written to.
	Model string
	Out   string
	// Method is a static method (rtn, awq, gptq) with its knobs.
	Method MethodOptions
	// Force overwrites Out's files (and discards a saved resume state);
	// Resume continues an interrupted awq or gptq run from the last layer
	// it saved in Out/ResumeDirName.
	Force  bool
	Resume bool
	// Version is recorded in the checkpoint's metadata.
	Version string
	// Progress hears each finished decoder layer; LayerSaved each layer
	// whose resume state is on disk.
	Progress   Progress
	LayerSaved func(layer int)
}

// QuantizeModel loads o.Model, quantizes it with o.Method and writes the
// model directory o.Out (SaveModel), which LoadModel opens. Nothing but the
// resume state is written before the end, and that is removed once the
// checkpoint is complete.
func QuantizeModel(ctx context.Context, o QuantizeOptions) (*MethodResult, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	files, err := ModelFiles(o.Model)
	if err != nil {
		return nil, fmt.Errorf("model config: %w", err)
	}
	if !o.Force {
		for _, name := range append([]string{safetensors.SingleFileName, safetensors.IndexFileName}, slices.Sorted(maps.Keys(files))...) {
			if _, err := os.Stat(filepath.Join(o.Out, name)); err == nil {
				return nil, fmt.Errorf("%s already exists (use --force to overwrite)", filepath.Join(o.Out, name))
			}
		}
	}
	lm, err := LoadModel(o.Model)
	if err != nil {
		return nil, err
	}
	defer lm.Close()
	var resume *layerResume
	mo := o.Method
	mo.LayerCheckpoint = func(res *MethodResult) (*Checkpointer, error) {
		fp, err := resumeFingerprint(o.Model, lm, res)
		if err != nil {
			return nil, err
		}
		if resume, err = openLayerResume(o.Out, o.Resume, o.Force, fp, len(lm.Model.Layers)); err != nil {
			return nil, err
		}
		resume.saved = o.LayerSaved
		return resume.checkpointer(), nil
	}
	res, err := ApplyMethod(ctx, lm, mo, o.Progress)
	if err != nil {
		return nil, err
	}
	if err := SaveModel(o.Out, lm.Model, res.Metadata(lm.Source, o.Version), files); err != nil {
		return nil, err
	}
	if resume != nil {
		if err := resume.remove(); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func (o QuantizeOptions) validate() error {
	if o.Out == "" {
		return model.OptionErrorf("give the output directory with -o")
	}
	m, err := Lookup(o.Method.Method)
	if err != nil {
		return &model.OptionError{Err: err}
	}
	if m.TestTime {
		return model.OptionErrorf("--method %s quantizes each prompt at inference time and has no static checkpoint: use `ttq eval --method %s` or `ttq generate --method %s`", m.Name, m.Name, m.Name)
	}
	if _, _, err := o.Method.Resolve(); err != nil {
		return err
	}
	if abs, err := filepath.Abs(o.Out); err == nil && o.Model != "" {
		if src, err := filepath.Abs(o.Model); err == nil && src == abs {
			return model.OptionErrorf("the output directory is the model directory; choose another -o")
		}
	}
	return nil
}
