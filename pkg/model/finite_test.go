package model_test

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

// demoWith loads the demo model with v written over the
// f32 element at index i of the named tensor.
func demoWith(t *testing.T, name string, i int, v float32) (*model.Model, error) {
	t.Helper()
	cfgJSON, err := demo.ReadFile("config.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := model.ParseConfig(cfgJSON)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := demo.ReadFile(safetensors.SingleFileName)
	if err != nil {
		t.Fatal(err)
	}
	raw = append([]byte(nil), raw...)
	f, err := safetensors.FromBytes("demo", raw)
	if err != nil {
		t.Fatal(err)
	}
	info, ok := f.Info(name)
	if !ok || info.DType != safetensors.F32 {
		t.Fatalf("demo has no F32 tensor %s", name)
	}
	off := int(f.DataOffset()+info.Begin) + 4*i
	binary.LittleEndian.PutUint32(raw[off:], math.Float32bits(v))
	ck, err := safetensors.CheckpointFromFiles(f)
	if err != nil {
		t.Fatal(err)
	}
	return model.New(cfg, ck, ck)
}

func TestNonFiniteWeightsAreRefusedAtLoad(t *testing.T) {
	for _, c := range []struct {
		name string
		i    int
		want string
	}{
		{"model.layers.1.self_attn.k_proj.weight", 64*3 + 5, "element [3, 5] is NaN"},
		{"model.layers.0.input_layernorm.weight", 7, "element 7 is +Inf"},
		{"model.embed_tokens.weight", 0, "element [0, 0] is -Inf"},
	} {
		v := float32(math.NaN())
		if strings.Contains(c.want, "+Inf") {
			v = float32(math.Inf(1))
		} else if strings.Contains(c.want, "-Inf") {
			v = float32(math.Inf(-1))
		}
		_, err := demoWith(t, c.name, c.i, v)
		if !errors.Is(err, model.ErrNonFinite) || !strings.Contains(err.Error(), c.name+": "+c.want) {
			t.Errorf("%s[%d] = %v: %v", c.name, c.i, v, err)
		}
	}
}

// Finite weights whose product overflows make Forward fail naming the
// position instead of returning NaN logits.
func TestForwardReportsNonFiniteLogits(t *testing.T) {
	m, err := demoWith(t, "model.norm.weight", 3, 3e38)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = m.Forward(m.NewState(8), []int{1, 2, 3}, model.AllLogits)
	if !errors.Is(err, model.ErrNonFinite) || !strings.Contains(err.Error(), "at position 0") {
		t.Fatalf("Forward: %v", err)
	}
}
