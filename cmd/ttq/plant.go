package main

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
	"github.com/ttqproject/ttq/pkg/model/transform"
	"github.com/ttqproject/ttq/pkg/quant"
)

// plantCheckpoint writes a planted-outlier copy of the checkpoint in src
// ("" = the demo) to out/model.safetensors (src may be out), recording the
// transform in the metadata; config.json, and the tokenizer files when
// copyTokenizer, come along when src is another directory.
func plantCheckpoint(src, out, spec string, seed uint64, copyTokenizer bool) (transform.Plant, error) {
	s, err := transform.ParseSpec(spec)
	if err != nil {
		return transform.Plant{}, usagef("--plant-outliers: %v", err)
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
		return transform.Plant{}, err
	}
	cfg, err := model.ParseConfig(cfgBytes)
	if err != nil {
		return transform.Plant{}, err
	}
	p, err := transform.NewPlant(s, cfg.HiddenSize)
	if err != nil {
		return p, usagef("--plant-outliers: %v", err)
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
	if err := writeFileAtomic(filepath.Join(out, "config.json"), cfgBytes); err != nil {
		return p, err
	}
	if copyTokenizer {
		for _, name := range quant.TokenizerFiles {
			if b, err := read(name); err == nil {
				if err := writeFileAtomic(filepath.Join(out, name), b); err != nil {
					return p, err
				}
			}
		}
	}
	return p, nil
}
