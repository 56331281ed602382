package quant

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// knobs sets method options the way the command line does, from
// "--name", "value" pairs over the defaults.
func knobs(t *testing.T, args ...string) MethodOptions {
	t.Helper()
	o := DefaultMethodOptions()
	for i := 0; i+1 < len(args); i += 2 {
		if err := o.SetKnob(strings.TrimPrefix(args[i], "--"), args[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

func TestApplyMethod(t *testing.T) {
	lm, err := LoadModel("")
	if err != nil {
		t.Fatal(err)
	}
	defer lm.Model.Close()
	res, err := ApplyMethod(context.Background(), lm, MethodOptions{}, nil)
	if err != nil || res != nil {
		t.Fatalf("no method: %v %v", res, err)
	}
	o := knobs(t, "--method", "ttq", "--ttq-window", "prefix:16")
	if res, err = ApplyMethod(context.Background(), lm, o, nil); err != nil {
		t.Fatal(err)
	}
	if !res.TestTime || res.Method != "ttq" || !strings.Contains(string(res.Options), `"window":"prefix:16"`) {
		t.Errorf("result %+v", res)
	}
	if _, ok := lm.Model.Layers[2].MLP.Down.(*TTQLinear); !ok {
		t.Fatalf("down_proj is %T after ttq", lm.Model.Layers[2].MLP.Down)
	}
	// Static methods refuse an already quantized model.
	o = knobs(t, "--method", "rtn")
	if _, err := ApplyMethod(context.Background(), lm, o, nil); err == nil {
		t.Error("rtn over ttq layers accepted")
	}
}

func TestCalibrationText(t *testing.T) {
	for _, src := range []string{"wikitext:valid", "piqa"} {
		text, name, err := CalibrationText(src)
		if err != nil || len(text) < 10000 || name == "" {
			t.Errorf("%s: %d bytes, %q, %v", src, len(text), name, err)
		}
	}
	p := filepath.Join(t.TempDir(), "c.jsonl")
	os.WriteFile(p, []byte(`{"text":"one"}`+"\n"+`{"text":"two"}`+"\n"), 0o644)
	if text, _, err := CalibrationText(p); err != nil || text != "one\n\ntwo" {
		t.Errorf("jsonl: %q %v", text, err)
	}
	if _, _, err := CalibrationText(filepath.Join(t.TempDir(), "missing.txt")); err == nil {
		t.Error("missing file accepted")
	}
}

// --ttq-rank r keeps r·(in + out) float32 numbers per matrix beside the
// quantized residual; bits per weight must count them. Hand-derived from
// the demo's shapes (hidden 64, intermediate 172, 8 heads, 4 KV heads of
// 8): per layer the factors hold 8·(128+96+96+128+236·3) = 9,248 numbers
// for 45,312 weights, so rank 8 adds 32·9248/45312 bits to every weight.
func TestTTQRankCountsInBitsPerWeight(t *testing.T) {
	bitsOf := func(args ...string) float64 {
		lm, err := LoadModel("")
		if err != nil {
			t.Fatal(err)
		}
		defer lm.Model.Close()
		res, err := ApplyMethod(context.Background(), lm, knobs(t, args...), nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.EffectiveBits
	}
	plain := bitsOf("--method", "ttq", "--bits", "3")
	ranked := bitsOf("--method", "ttq", "--bits", "3", "--ttq-rank", "8")
	want := plain + 32.0*9248/45312
	if math.Abs(ranked-want) > 1e-9 {
		t.Fatalf("rank 8: %.6f bits/weight, want %.6f (plain %.6f + the factors)", ranked, want, plain)
	}
}
