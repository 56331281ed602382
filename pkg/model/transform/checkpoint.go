package transform

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/ttqproject/ttq/internal/atomicfile"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

// PlantCheckpoint writes a planted-outlier copy (spec as ParseSpec reads
// it, channels chosen by seed) of the checkpoint in src ("" = the demo) to
// out/model.safetensors (src may be out), recording the transform in the
// metadata; config.json, and those of extraFiles src has (its tokenizer
// files, say), come along when src is another directory.
func PlantCheckpoint(src, out, spec string, seed uint64, extraFiles []string) (Plant, error) {
	s, err := ParseSpec(spec)
	if err != nil {
		return Plant{}, model.OptionErrorf("--plant-outliers: %v", err)
	}
	s.Seed = seed
	read := func(name string) ([]byte, error) {
		if src == "" {
			return demo.ReadFile(name)
		}
		return os.ReadFile(filepath.Join(src, name))
	}
	cfgBytes, err := read("config.json")
	if err != nil {
		return Plant{}, err
	}
	cfg, err := model.ParseConfig(cfgBytes)
	if err != nil {
		return Plant{}, err
	}
	p, err := NewPlant(s, cfg.HiddenSize)
	if err != nil {
		return p, model.OptionErrorf("--plant-outliers: %v", err)
	}
	var ck *safetensors.Checkpoint
	if src == "" {
		b, err := demo.ReadFile(safetensors.SingleFileName)
		if err != nil {
			return p, err
		}
		f, err := safetensors.FromBytes("demo", b)
		if err != nil {
			return p, err
		}
		if ck, err = safetensors.CheckpointFromFiles(f); err != nil {
			return p, err
		}
	} else if ck, err = safetensors.OpenCheckpoint(src); err != nil {
		return p, err
	}
	defer ck.Close()
	tensors, err := p.CheckpointTensors(cfg, ck)
	if err != nil {
		return p, err
	}
	meta := map[string]string{}
	for k, v := range ck.Metadata() {
		meta[k] = v
	}
	pj, _ := json.Marshal(p)
	meta["ttq.planted_outliers"] = string(pj)
	meta["ttq.synthetic"] = "planted outliers " + s.String() + ": same function as the source, not a trained model"
	if err := safetensors.WriteFile(filepath.Join(out, safetensors.SingleFileName), tensors, meta); err != nil {
		return p, err
	}
	if filepath.Clean(src) == filepath.Clean(out) {
		return p, nil
	}
	// A stale index would shadow the new single-file checkpoint.
	if err := os.Remove(filepath.Join(out, safetensors.IndexFileName)); err != nil && !os.IsNotExist(err) {
		return p, err
	}
	if err := atomicfile.WriteNonEmpty(filepath.Join(out, "config.json"), cfgBytes); err != nil {
		return p, err
	}
	for _, name := range extraFiles {
		if b, err := read(name); err == nil {
			if err := atomicfile.WriteNonEmpty(filepath.Join(out, name), b); err != nil {
				return p, err
			}
		}
	}
	return p, nil
}
