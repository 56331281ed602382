package quant

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/ttqproject/ttq/internal/atomicfile"
	"github.com/ttqproject/ttq/pkg/model"
)

// A layer-sequential quantization (awq, gptq) keeps its finished layers in
// OUT/.ttq-resume until the checkpoint is written: state.json (what the
// run is, how far it got) and one safetensors file per finished layer, each
// written atomically, the state after its layer file. `ttq quantize
// --resume` continues from the last finished layer when the model, method,
// options and calibration tokens are those of the saved run.
const ResumeDirName = ".ttq-resume"

// resumeState is state.json.
type resumeState struct {
	Schema string `json:"schema"`
	// Fingerprint identifies the run: a SHA-256 over the model source (its
	// config.json and the names, sizes and modification times of its
	// weight files), the method with every option, and the calibration
	// tokens.
	Fingerprint string `json:"fingerprint"`
	Layers      int    `json:"layers"`
	Done        int    `json:"done"`
}

// resumeSchema names the state.json format; another is never resumed.
const resumeSchema = "ttq.quantize-resume/v1"

// resumeFingerprint is resumeState.Fingerprint for this run.
func resumeFingerprint(modelDir string, lm *LoadedModel, res *MethodResult) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "source %q\n", lm.Source)
	if modelDir != "" {
		cfg, err := os.ReadFile(filepath.Join(modelDir, "config.json"))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "config %x\n", sha256.Sum256(cfg))
		files, err := filepath.Glob(filepath.Join(modelDir, "*.safetensors"))
		if err != nil {
			return "", err
		}
		sort.Strings(files)
		for _, f := range files {
			st, err := os.Stat(f)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "file %q %d %d\n", filepath.Base(f), st.Size(), st.ModTime().UnixNano())
		}
	}
	fmt.Fprintf(h, "method %s format %s ragged %s options %s\n", res.Method, res.Format, res.Ragged, res.Options)
	fmt.Fprintf(h, "calib %s %s tokens %s\n", res.Calib, res.CalibSHA256, res.CalibTokensSHA256)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// layerResume manages OUT/.ttq-resume for one run.
type layerResume struct {
	dir   string
	state resumeState
	// saved, if set, runs after each layer's state is saved: the place
	// where an interruption must lose nothing.
	saved func(layer int)
}

// openLayerResume prepares the resume directory under out: with resume
// set it continues a saved run with the same fingerprint (and refuses one
// with another); without it a saved run is an error unless force discards
// it.
func openLayerResume(out string, resume, force bool, fingerprint string, layers int) (*layerResume, error) {
	r := &layerResume{dir: filepath.Join(out, ResumeDirName),
		state: resumeState{Schema: resumeSchema, Fingerprint: fingerprint, Layers: layers}}
	b, err := os.ReadFile(filepath.Join(r.dir, "state.json"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if _, serr := os.Stat(r.dir); serr == nil && !resume && !force {
			return nil, fmt.Errorf("%s holds the state of an interrupted run: add --resume to continue it or --force to start over", r.dir)
		}
	case err != nil:
		return nil, err
	case !resume && !force:
		return nil, fmt.Errorf("%s holds the state of an interrupted run: add --resume to continue it or --force to start over", r.dir)
	case resume:
		var saved resumeState
		if err := json.Unmarshal(b, &saved); err != nil || saved.Schema != resumeSchema {
			return nil, fmt.Errorf("%s/state.json is not a ttq resume state (%v); use --force to start over", r.dir, err)
		}
		if saved.Fingerprint != fingerprint || saved.Layers != layers {
			return nil, fmt.Errorf("%s was saved by a run with another model, method, options or calibration: rerun those flags, or use --force without --resume to start over", r.dir)
		}
		if saved.Done < 0 || saved.Done > layers {
			return nil, fmt.Errorf("%s/state.json: %d of %d layers done; use --force to start over", r.dir, saved.Done, layers)
		}
		r.state.Done = saved.Done
		return r, nil
	}
	// A fresh start: whatever an earlier run left goes.
	if err := os.RemoveAll(r.dir); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *layerResume) layerPath(l int) string {
	return filepath.Join(r.dir, fmt.Sprintf("layer-%04d.safetensors", l))
}

// checkpointer connects the run to the directory.
func (r *layerResume) checkpointer() *Checkpointer {
	return &Checkpointer{
		Done: r.state.Done,
		Restore: func(m *model.Model, l int) error {
			return LoadLayer(r.layerPath(l), m, l)
		},
		Save: func(m *model.Model, l int) error {
			if err := os.MkdirAll(r.dir, 0o755); err != nil {
				return err
			}
			if err := SaveLayer(r.layerPath(l), m, l); err != nil {
				return err
			}
			st := r.state
			st.Done = l + 1
			b, err := json.MarshalIndent(st, "", "  ")
			if err != nil {
				return err
			}
			if err := atomicfile.WriteFile(filepath.Join(r.dir, "state.json"), append(b, '\n')); err != nil {
				return err
			}
			if r.saved != nil {
				r.saved(l)
			}
			return nil
		},
	}
}

// remove deletes the directory once the checkpoint is written.
func (r *layerResume) remove() error { return os.RemoveAll(r.dir) }
