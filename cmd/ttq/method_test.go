package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/ttqproject/ttq/pkg/quant"
)

func parseMethodFlags(t *testing.T, args ...string) methodOptions {
	t.Helper()
	var o methodOptions
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	addMethodFlags(fs, &o, "method")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestMethodFlagsDefaults(t *testing.T) {
	o := parseMethodFlags(t, "--method", "ttq")
	_, q, err := o.quantOptions()
	if err != nil {
		t.Fatal(err)
	}
	if q.Format.String() != "int4-g32-minmax-f16" || q.TTQ.Alpha != 0.5 || q.TTQ.Lambda != 0.1 || q.TTQ.Stat != quant.StatSumSq || q.TTQ.Window != 0 {
		t.Errorf("ttq defaults: %v %+v", q.Format, q.TTQ)
	}
	o = parseMethodFlags(t, "--method", "gptq", "--bits", "3", "--ttq-window", "prefix:128")
	_, q, err = o.quantOptions()
	if err != nil || q.Format.String() != "int3-g128-minmax0-f16" || q.GPTQ.Damp != 0.01 || q.GPTQ.BlockSize != 128 {
		t.Errorf("gptq: %v %+v %v", q.Format, q.GPTQ, err)
	}
}

func TestApplyMethod(t *testing.T) {
	io := &streams{In: strings.NewReader(""), Out: os.Stdout, ErrOut: os.Stderr}
	lm, err := loadModel("")
	if err != nil {
		t.Fatal(err)
	}
	defer lm.Model.Close()
	res, err := applyMethod(context.Background(), io, lm, methodOptions{})
	if err != nil || res != nil {
		t.Fatalf("no method: %v %v", res, err)
	}
	o := parseMethodFlags(t, "--method", "ttq", "--ttq-window", "prefix:16")
	if res, err = applyMethod(context.Background(), io, lm, o); err != nil {
		t.Fatal(err)
	}
	if !res.TestTime || res.Method != "ttq" || !strings.Contains(string(res.Options), `"window":"prefix:16"`) {
		t.Errorf("result %+v", res)
	}
	if _, ok := lm.Model.Layers[2].MLP.Down.(*quant.TTQLinear); !ok {
		t.Fatalf("down_proj is %T after ttq", lm.Model.Layers[2].MLP.Down)
	}
	// Static methods refuse an already quantized model.
	o = parseMethodFlags(t, "--method", "rtn")
	if _, err := applyMethod(context.Background(), io, lm, o); err == nil {
		t.Error("rtn over ttq layers accepted")
	}
}

func TestCalibrationText(t *testing.T) {
	for _, src := range []string{"wikitext:valid", "piqa"} {
		text, name, err := calibrationText(src)
		if err != nil || len(text) < 10000 || name == "" {
			t.Errorf("%s: %d bytes, %q, %v", src, len(text), name, err)
		}
	}
	p := filepath.Join(t.TempDir(), "c.jsonl")
	os.WriteFile(p, []byte(`{"text":"one"}`+"\n"+`{"text":"two"}`+"\n"), 0o644)
	if text, _, err := calibrationText(p); err != nil || text != "one\n\ntwo" {
		t.Errorf("jsonl: %q %v", text, err)
	}
	if _, _, err := calibrationText(filepath.Join(t.TempDir(), "missing.txt")); err == nil {
		t.Error("missing file accepted")
	}
}

// eval and generate register the method flags beside their own; building
// them must not panic on a duplicate name, and every method flag must be
// there.
func TestMethodFlagsCoexist(t *testing.T) {
	var want methodOptions
	ref := pflag.NewFlagSet("ref", pflag.ContinueOnError)
	addMethodFlags(ref, &want, "method")
	for _, c := range []func(*streams) interface{ Flags() *pflag.FlagSet }{
		func(io *streams) interface{ Flags() *pflag.FlagSet } { return newGenerateCmd(io) },
		func(io *streams) interface{ Flags() *pflag.FlagSet } { return newEvalCmd(io) },
	} {
		fs := c(&streams{}).Flags()
		ref.VisitAll(func(f *pflag.Flag) {
			if fs.Lookup(f.Name) == nil {
				t.Errorf("%s lacks method flag --%s", fs.Name(), f.Name)
			}
		})
	}
}

// --ttq-rank r keeps r·(in + out) float32 numbers per matrix beside the
// quantized residual; bits per weight must count them. Hand-derived from
// the demo's shapes (hidden 64, intermediate 172, 8 heads, 4 KV heads of
// 8): per layer the factors hold 8·(128+96+96+128+236·3) = 9,248 numbers
// for 45,312 weights, so rank 8 adds 32·9248/45312 bits to every weight.
func TestTTQRankCountsInBitsPerWeight(t *testing.T) {
	io := &streams{In: strings.NewReader(""), Out: os.Stdout, ErrOut: os.Stderr}
	bitsOf := func(args ...string) float64 {
		lm, err := loadModel("")
		if err != nil {
			t.Fatal(err)
		}
		defer lm.Model.Close()
		res, err := applyMethod(context.Background(), io, lm, parseMethodFlags(t, args...))
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
