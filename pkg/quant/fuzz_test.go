package quant

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{"int4-g128-minmax-f16", "int3-perrow-minmax0-f32", "int8-g32-sym-f16", "int4-g-1-minmax-f32", "int0-g1-minmax-f32"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseFormat(s)
		if err != nil {
			return
		}
		if err := v.Validate(); err != nil {
			t.Fatalf("ParseFormat(%q) returned an invalid format: %v", s, err)
		}
		if w, err := ParseFormat(v.String()); err != nil || w != v {
			t.Fatalf("%q → %v → %q does not round-trip", s, v, v.String())
		}
	})
}

// FuzzLoadCheckpoint feeds mutated quantized checkpoints to the loader:
// it must return an error or a model whose every layer validates, never
// panic.
func FuzzLoadCheckpoint(f *testing.F) {
	m, _, err := demo.Load()
	if err != nil {
		f.Fatal(err)
	}
	o, _ := DefaultOptions("rtn")
	o.Format.Group = 32
	if err := (&RTN{Opts: o}).Apply(f.Context(), m, nil, nil); err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	if err := Save(dir, m, nil); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(filepath.Join(dir, safetensors.SingleFileName))
	if err != nil {
		f.Fatal(err)
	}
	cfgJSON, _ := demo.ReadFile("config.json")
	cfg, err := model.ParseConfig(cfgJSON)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := safetensors.FromBytes("fuzz", data)
		if err != nil {
			return
		}
		ck, err := safetensors.CheckpointFromFiles(file)
		if err != nil {
			return
		}
		lm, _, err := FromCheckpoint(cfg, ck)
		if err != nil {
			ck.Close()
			return
		}
		defer lm.Close()
		for _, s := range lm.Sites() {
			l, _ := lm.Linear(s)
			if q, ok := l.(*QLinear); ok {
				if err := q.Validate(); err != nil {
					t.Fatalf("%s loaded but invalid: %v", s, err)
				}
			}
		}
		// Finite but huge scales may overflow: that must be reported,
		// anything else is a bug.
		if _, err := lm.Forward(lm.NewState(4), []int{1, 2, 3}, model.LastLogits); err != nil && !errors.Is(err, model.ErrNonFinite) {
			t.Fatal(err)
		}
	})
}
