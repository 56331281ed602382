package quant

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ttqproject/ttq/pkg/model"
)

// An AWQ or GPTQ run stopped after some layers and resumed from the layers
// it saved writes the same checkpoint, byte for byte, as the run that was
// never stopped (including AWQ with a kept ragged matrix, whose layer is
// saved in full precision, and its rescaled norms).
func TestResumeMatchesUninterrupted(t *testing.T) {
	calib := [][]int{demoTokens(48, 30), demoTokens(48, 31)}
	save := func(t *testing.T, m *model.Model) []byte {
		dir := t.TempDir()
		if err := Save(dir, m, nil); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	type run struct {
		method string
		edit   func(*Options)
	}
	for _, r := range []run{
		{"gptq", func(o *Options) { o.Format.Group = 32; o.GPTQ.ActOrder = true }},
		{"awq", func(o *Options) { o.Format.Bits = 3; o.Format.Group = 32 }},
		{"awq", func(o *Options) { o.Format.Group = 64; o.Ragged = RaggedKeep }},
	} {
		o, _ := DefaultOptions(r.method)
		r.edit(&o)
		t.Run(fmt.Sprintf("%s-%v-%s", r.method, o.Format, o.Ragged), func(t *testing.T) {
			m := loadDemo(t)
			apply(t, m, r.method, o, calib)
			want := save(t, m)
			nl := len(m.Layers)

			// Stop after two layers: Save has written them when the
			// context is cancelled, and Apply reports the cancellation.
			state := t.TempDir()
			path := func(l int) string { return filepath.Join(state, fmt.Sprintf("layer-%d.safetensors", l)) }
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stopAfter := 2
			o1 := o
			o1.Checkpoint = &Checkpointer{Save: func(m *model.Model, l int) error {
				if err := SaveLayer(path(l), m, l); err != nil {
					return err
				}
				if l+1 == stopAfter {
					cancel()
				}
				return nil
			}}
			c, err := New(r.method, o1)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Apply(ctx, loadDemo(t), calib, nil); !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted Apply returned %v, want context.Canceled", err)
			}
			for l := 0; l < nl; l++ {
				if _, err := os.Stat(path(l)); (err == nil) != (l < stopAfter) {
					t.Fatalf("layer %d saved = %v after stopping at %d", l, err == nil, stopAfter)
				}
			}

			o2 := o
			var saved []int
			o2.Checkpoint = &Checkpointer{Done: stopAfter,
				Restore: func(m *model.Model, l int) error { return LoadLayer(path(l), m, l) },
				Save:    func(_ *model.Model, l int) error { saved = append(saved, l); return nil }}
			m2 := loadDemo(t)
			apply(t, m2, r.method, o2, calib)
			if got := save(t, m2); !bytes.Equal(got, want) {
				t.Fatalf("resumed run wrote a different checkpoint (%d vs %d bytes)", len(got), len(want))
			}
			if len(saved) != nl-stopAfter || saved[0] != stopAfter {
				t.Errorf("resumed run saved layers %v, want %d…%d", saved, stopAfter, nl-1)
			}
		})
	}
}

// A layer file that is not there, or is truncated, stops the resumed run
// with an error naming the layer; nothing is half-installed.
func TestLoadLayerErrors(t *testing.T) {
	m := loadDemo(t)
	apply(t, m, "rtn", mustDefault("rtn"), nil)
	dir := t.TempDir()
	p := filepath.Join(dir, "layer-0.safetensors")
	if err := SaveLayer(p, m, 0); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := loadDemo(t)
	before := fresh.Layers[0]
	if err := LoadLayer(p, fresh, 0); err == nil {
		t.Fatal("truncated layer file loaded")
	}
	if fresh.Layers[0].Attn.Q != before.Attn.Q || &fresh.Layers[0].AttnNorm[0] != &before.AttnNorm[0] {
		t.Error("a failed LoadLayer changed the model")
	}
	if err := LoadLayer(filepath.Join(dir, "missing"), fresh, 0); err == nil {
		t.Fatal("missing layer file loaded")
	}
	if err := LoadLayer(p, fresh, len(fresh.Layers)); err == nil {
		t.Fatal("layer index out of range accepted")
	}
}
