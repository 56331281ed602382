package transform

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

var prompt = []int{1, 45, 300, 7, 99, 12, 250, 3, 3, 180, 64, 2, 77, 31, 5, 200}

func logits(t *testing.T, m *model.Model) []float32 {
	t.Helper()
	toks := make([]int, len(prompt))
	for i, x := range prompt {
		toks[i] = x % m.Config.VocabSize
	}
	out, err := m.Forward(m.NewState(len(toks)), toks, model.AllLogits)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// maxRelDiff is max|a−b| over max|a|.
func maxRelDiff(a, b []float32) float64 {
	var d, s float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
		s = math.Max(s, math.Abs(float64(a[i])))
	}
	return d / s
}

func loadDir(t *testing.T, dir string) *model.Model {
	t.Helper()
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func loadDemo(t *testing.T) *model.Model {
	t.Helper()
	m, _, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestPlantPreservesLogits is the transform's proof: the planted model
// computes the same function. A power-of-two factor is exact in floating
// point, so the logits are bit-identical; any other factor rounds the
// scaled weights once each way and stays within float32 tolerance.
func TestPlantPreservesLogits(t *testing.T) {
	models := map[string]func(*testing.T) *model.Model{
		"demo":        loadDemo,
		"tiny-llama2": func(t *testing.T) *model.Model { return loadDir(t, "../../../testdata/models/tiny-llama2") },
		"tiny-qwen2":  func(t *testing.T) *model.Model { return loadDir(t, "../../../testdata/models/tiny-qwen2") },
		"tiny-qwen3":  func(t *testing.T) *model.Model { return loadDir(t, "../../../testdata/models/tiny-qwen3") },
	}
	for name, load := range models {
		for _, k := range []float64{64, 10} {
			ref := logits(t, load(t))
			m := load(t)
			p, err := NewPlant(Spec{Factor: k, N: 4, Seed: 1}, m.Config.HiddenSize)
			if err != nil {
				t.Fatal(err)
			}
			before := append([]float32(nil), m.Layers[0].AttnNorm...)
			if err := p.Apply(m); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			// The outliers are really there.
			for _, c := range p.Channels {
				if got := m.Layers[0].AttnNorm[c]; math.Abs(float64(got)-k*float64(before[c])) > 1e-5*math.Abs(k*float64(before[c])) {
					t.Fatalf("%s: norm channel %d = %v, want %v×%v", name, c, got, k, before[c])
				}
			}
			got := logits(t, m)
			d := maxRelDiff(ref, got)
			switch {
			case k == 64 && d != 0:
				t.Errorf("%s K=%v: logits differ by %g (relative); a power-of-two factor must be exact", name, k, d)
			case d > 1e-5:
				t.Errorf("%s K=%v: logits differ by %g (relative)", name, k, d)
			}
		}
	}
}

// TestPlantCheckpointMatchesInMemory writes a planted checkpoint (as ttq
// import --plant-outliers does) and checks it loads to the same function as
// the original and as the in-memory transform, tensor dtypes kept.
func TestPlantCheckpointMatchesInMemory(t *testing.T) {
	for _, src := range []string{"../../../testdata/models/tiny-llama2", "../../../testdata/models/tiny-qwen3"} {
		cfg, err := model.LoadConfig(src)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPlant(Spec{Factor: 32, N: 3, Seed: 7}, cfg.HiddenSize)
		if err != nil {
			t.Fatal(err)
		}
		ck, err := safetensors.OpenCheckpoint(src)
		if err != nil {
			t.Fatal(err)
		}
		tensors, err := p.CheckpointTensors(cfg, ck)
		if err != nil {
			t.Fatal(err)
		}
		dst := t.TempDir()
		if err := safetensors.WriteFile(filepath.Join(dst, "model.safetensors"), tensors, nil); err != nil {
			t.Fatal(err)
		}
		ck.Close()
		b, err := os.ReadFile(filepath.Join(src, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, "config.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		ref := logits(t, loadDir(t, src))
		mem := loadDir(t, src)
		if err := p.Apply(mem); err != nil {
			t.Fatal(err)
		}
		disk := loadDir(t, dst)
		if d := maxRelDiff(ref, logits(t, disk)); d != 0 {
			t.Errorf("%s: planted checkpoint's logits differ from the original's by %g", src, d)
		}
		if d := maxRelDiff(logits(t, mem), logits(t, disk)); d != 0 {
			t.Errorf("%s: planted checkpoint differs from the in-memory transform by %g", src, d)
		}
		if disk.Layers[1].MLPNorm[p.Channels[0]] == mem.Layers[1].MLPNorm[p.Channels[0]]/32 {
			t.Errorf("%s: the written norm was not planted", src)
		}
	}
}

func TestParseSpec(t *testing.T) {
	s, err := ParseSpec("32:4")
	if err != nil || s.Factor != 32 || s.N != 4 || s.String() != "32:4" {
		t.Fatalf("ParseSpec(32:4) = %+v, %v", s, err)
	}
	for _, bad := range []string{"", "32", "1:4", "0.5:4", "x:4", "32:0", "32:-1", "32:a", "inf:2", "NaN:2"} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("ParseSpec(%q) accepted", bad)
		}
	}
	if _, err := NewPlant(Spec{Factor: 8, N: 65}, 64); err == nil {
		t.Error("more channels than the hidden size accepted")
	}
	a, _ := NewPlant(Spec{Factor: 8, N: 4, Seed: 3}, 64)
	b, _ := NewPlant(Spec{Factor: 8, N: 4, Seed: 3}, 64)
	if len(a.Channels) != 4 || a.Channels[0] != b.Channels[0] || a.Channels[3] != b.Channels[3] {
		t.Fatalf("channel choice not reproducible: %v %v", a.Channels, b.Channels)
	}
	if err := (Plant{Factor: 2, Channels: []int{1, 1}}).Apply(loadDemo(t)); err == nil {
		t.Error("repeated channel accepted")
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"32:4", "1e3:1", "2.5:10", ":", "a:b", "9:99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseSpec(s)
		if err != nil {
			return
		}
		if !(sp.Factor > 1) || sp.N < 1 {
			t.Fatalf("ParseSpec(%q) = %+v", s, sp)
		}
		if again, err := ParseSpec(sp.String()); err != nil || again != sp {
			t.Fatalf("round trip of %q: %+v, %v", s, again, err)
		}
	})
}
