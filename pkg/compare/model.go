package compare

import (
	"encoding/json"
	"strings"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/hub"
	"github.com/ttqproject/ttq/pkg/model/transform"
	"github.com/ttqproject/ttq/pkg/quant"
)

// sourceModel loads fresh copies of the compared model (a method quantizes
// its copy in place).
type sourceModel struct {
	info  ModelInfo
	dir   string // "" = demo
	plant *transform.Plant
	// plantSpec is the planted-outlier spec in effect ("" none).
	plantSpec string
}

// resolveModel finds o's model, hashes it, and prepares its planted
// outliers.
func resolveModel(o *Options) (*sourceModel, error) {
	sm := &sourceModel{}
	spec := o.PlantOutliers
	switch o.Model {
	case "", demo.Name:
		sm.info.Name = demo.Name
	case PlantedDemoName:
		sm.info.Name = PlantedDemoName
		spec = PlantedDemoSpec
	default:
		if strings.HasPrefix(o.Model, "builtin:") {
			return nil, model.OptionErrorf("--model %s: built in are %s and %s", o.Model, demo.Name, PlantedDemoName)
		}
		dir, err := hub.Resolve(o.Model)
		if err != nil {
			return nil, err
		}
		sm.dir = dir
		sm.info.Name = o.Model
	}
	var err error
	if sm.info.SHA256, err = quant.CheckpointSHA256(sm.dir); err != nil {
		return nil, err
	}
	if sm.info.TokenizerSHA256, err = quant.TokenizerSHA256(sm.dir); err != nil {
		return nil, err
	}
	if spec != "" {
		s, err := transform.ParseSpec(spec)
		if err != nil {
			return nil, model.OptionErrorf("--plant-outliers: %v", err)
		}
		s.Seed = o.PlantSeed
		cfg, err := modelConfig(sm.dir)
		if err != nil {
			return nil, err
		}
		p, err := transform.NewPlant(s, cfg.HiddenSize)
		if err != nil {
			return nil, model.OptionErrorf("--plant-outliers: %v", err)
		}
		sm.plant = &p
		sm.info.Synthetic = true
		sm.info.Planted, _ = json.Marshal(p)
		sm.plantSpec = spec
	}
	return sm, nil
}

func modelConfig(dir string) (model.Config, error) {
	if dir == "" {
		b, err := demo.ReadFile("config.json")
		if err != nil {
			return model.Config{}, err
		}
		return model.ParseConfig(b)
	}
	return model.LoadConfig(dir)
}

func (sm *sourceModel) load() (*quant.LoadedModel, error) {
	lm, err := quant.LoadModel(sm.dir)
	if err != nil {
		return nil, err
	}
	if sm.plant != nil {
		if err := sm.plant.Apply(lm.Model); err != nil {
			lm.Close()
			return nil, err
		}
	}
	lm.Source = sm.info.Name
	return lm, nil
}
