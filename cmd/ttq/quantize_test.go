package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ttqproject/ttq/pkg/quant"
)

func TestQuantizeDeterministicAndLoadable(t *testing.T) {
	var files [][]byte
	var dirs []string
	for i := 0; i < 2; i++ {
		out := filepath.Join(t.TempDir(), "q")
		code, stdout, stderr := runTTQ(t, "quantize", "--method", "gptq", "--bits", "3", "--group", "32",
			"--nsamples", "4", "--calib-seqlen", "64", "--gptq-act-order", "-o", out, "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		rep := quantizeReport{MethodResult: &quant.MethodResult{}}
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Method != "gptq" || rep.Format != "int3-g32-minmax0-f16" || rep.CalibSHA256 == "" || rep.EffectiveBits <= 3 {
			t.Fatalf("report %+v", rep)
		}
		b, err := os.ReadFile(filepath.Join(out, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
		dirs = append(dirs, out)
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Fatal("identical runs wrote different checkpoints")
	}
	if !quant.IsCheckpoint(dirs[0]) {
		t.Fatal("output is not recognized as a ttq checkpoint")
	}
	lm, err := loadModel(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := lm.Model.Layers[0].Attn.Q.(*quant.QLinear); !ok {
		t.Fatalf("loaded q_proj is %T", lm.Model.Layers[0].Attn.Q)
	}
	lm.Model.Close()
	for _, args := range [][]string{
		{"generate", "--model", dirs[0], "-p", "Once upon a time", "-n", "8", "--json"},
		{"inspect", dirs[0]},
	} {
		if code, _, stderr := runTTQ(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}
	// Refuses to overwrite without --force.
	if code, _, _ := runTTQ(t, "quantize", "--method", "rtn", "-o", dirs[0]); code != 1 {
		t.Fatalf("overwrite without --force: exit %d", code)
	}
	if code, _, stderr := runTTQ(t, "quantize", "--method", "rtn", "-o", dirs[0], "--force"); code != 0 {
		t.Fatalf("--force: exit %d: %s", code, stderr)
	}
}

func TestQuantizeUsageErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "q")
	for _, args := range [][]string{
		{"quantize", "--method", "rtn"},
		{"quantize", "--method", "ttq", "-o", out},
		{"quantize", "--method", "nope", "-o", out},
		{"quantize", "--method", "rtn", "--bits", "9", "-o", out},
		{"quantize", "--method", "rtn", "--group", "-3", "-o", out},
		{"quantize", "--method", "rtn", "--grid", "max", "-o", out},
		{"quantize", "--method", "rtn", "--ragged", "drop", "-o", out},
		{"quantize", "--method", "gptq", "--gptq-damp", "0", "-o", out},
	} {
		if code, _, stderr := runTTQ(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d (%s), want %d", args, code, stderr, exitUsage)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed command created the output directory")
	}
	code, _, stderr := runTTQ(t, "quantize", "--method", "rtn", "--group", "64", "--ragged", "error", "-o", out)
	if code != exitError || !bytes.Contains([]byte(stderr), []byte("172 inputs")) {
		t.Errorf("ragged error: exit %d: %s", code, stderr)
	}
}
