package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/gguf"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
	"github.com/ttqproject/ttq/pkg/quant/export"
)

func TestExportGGUFDemo(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo.gguf")
	code, stdout, stderr := runTTQ(t, "export", "--format", "gguf", "--type", "q4_0", "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "GGUF v3, llama, Q4_0, 47 tensors") || !strings.Contains(stdout, "note: 5 matrices stay F16, their rows of 172 elements not being a multiple of 32: blk.0.ffn_down.weight, blk.1.ffn_down.weight") {
		t.Errorf("stdout:\n%s", stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil || string(b[:4]) != "GGUF" || binary.LittleEndian.Uint32(b[4:]) != 3 {
		t.Fatalf("not a GGUF v3 file (%v)", err)
	}
	// An existing output needs --force; --json is one document.
	if code, _, stderr := runTTQ(t, "export", "--format", "gguf", "-o", out); code != 1 || !strings.Contains(stderr, "--force") {
		t.Errorf("overwrite without --force: exit %d: %s", code, stderr)
	}
	code, stdout, stderr = runTTQ(t, "export", "--format", "gguf", "--type", "f32", "-o", out, "--force", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res export.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if res.Schema != "ttq.export/v1" || res.GGUF == nil || res.GGUF.Type != "F32" || res.Model != demo.Name || res.Bytes <= 0 {
		t.Errorf("result %+v", res)
	}
	if st, _ := os.Stat(out); st.Size() != res.Bytes {
		t.Errorf("file %d bytes, report %d", st.Size(), res.Bytes)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*tmp*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func TestExportUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export", "-o", filepath.Join(dir, "x")}, 2, "--format is required"},
		{[]string{"export", "--format", "onnx", "-o", filepath.Join(dir, "x")}, 2, "awq or gguf"},
		{[]string{"export", "--format", "gguf"}, 2, "-o is required"},
		{[]string{"export", "--format", "gguf", "--type", "q4_k", "-o", filepath.Join(dir, "x")}, 2, "q4_k"},
		{[]string{"export", "--format", "awq", "--type", "q8_0", "-o", filepath.Join(dir, "x")}, 2, "--type applies to --format gguf"},
		{[]string{"export", "--format", "awq", "-o", filepath.Join(dir, "x")}, 2, "ttq quantize"},
	} {
		code, _, stderr := runTTQ(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line with %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

// writeAWQSizedModel writes a random model with the demo's tokenizer whose
// widths (128, 256) fit AutoAWQ's g128 layout.
func writeAWQSizedModel(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	const hidden, inter, vocab = 128, 256, 512
	cfg := fmt.Sprintf(`{"architectures":["LlamaForCausalLM"],"hidden_size":%d,"intermediate_size":%d,"num_attention_heads":4,
"num_key_value_heads":2,"num_hidden_layers":1,"vocab_size":%d,"max_position_embeddings":64,"rms_norm_eps":1e-5,
"rope_theta":10000.0,"tie_word_embeddings":true,"bos_token_id":1,"eos_token_id":2,"torch_dtype":"float32"}`, hidden, inter, vocab)
	rng := rand.New(rand.NewPCG(3, 4))
	var ts []safetensors.Tensor
	add := func(name string, shape ...int64) {
		n := int64(1)
		for _, s := range shape {
			n *= s
		}
		b := make([]byte, 4*n)
		for i := int64(0); i < n; i++ {
			v := float32(rng.NormFloat64() * 0.1)
			if len(shape) == 1 {
				v += 1
			}
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		ts = append(ts, safetensors.Tensor{TensorInfo: safetensors.TensorInfo{Name: name, DType: safetensors.F32, Shape: shape, End: int64(len(b))}, Data: b})
	}
	add("model.embed_tokens.weight", vocab, hidden)
	add("model.norm.weight", hidden)
	p := "model.layers.0."
	add(p+"input_layernorm.weight", hidden)
	add(p+"post_attention_layernorm.weight", hidden)
	add(p+"self_attn.q_proj.weight", hidden, hidden)
	add(p+"self_attn.k_proj.weight", 64, hidden)
	add(p+"self_attn.v_proj.weight", 64, hidden)
	add(p+"self_attn.o_proj.weight", hidden, hidden)
	add(p+"mlp.gate_proj.weight", inter, hidden)
	add(p+"mlp.up_proj.weight", inter, hidden)
	add(p+"mlp.down_proj.weight", hidden, inter)
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"config.json": []byte(cfg)}
	for _, n := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := demo.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		files[n] = b
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestExportAWQ(t *testing.T) {
	src := writeAWQSizedModel(t)
	qdir := filepath.Join(t.TempDir(), "q")
	if code, _, stderr := runTTQ(t, "quantize", "--method", "rtn", "--group", "128", "--model", src, "-o", qdir); code != 0 {
		t.Fatalf("quantize: exit %d: %s", code, stderr)
	}
	out := filepath.Join(t.TempDir(), "awq")
	code, stdout, stderr := runTTQ(t, "export", qdir, "--format", "awq", "-o", out)
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "AutoAWQ GEMM (4-bit g128, from int4-g128-minmax-f16), 7 quantized linears") {
		t.Errorf("stdout: %s", stdout)
	}
	for _, n := range []string{"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"} {
		if _, err := os.Stat(filepath.Join(out, n)); err != nil {
			t.Error(err)
		}
	}
	m, err := export.ReadAWQ(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, ok := m.Layers[0].MLP.Down.(*model.Dense); !ok {
		t.Errorf("read back down_proj is %T", m.Layers[0].MLP.Down)
	}
	// Never into the input, never over an existing output without --force.
	if code, _, stderr := runTTQ(t, "export", qdir, "--format", "awq", "-o", qdir); code != 2 || !strings.Contains(stderr, "model directory") {
		t.Errorf("output = input: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runTTQ(t, "export", qdir, "--format", "gguf", "-o", filepath.Join(qdir, "config.json")); code != 2 {
		t.Errorf("output = input file: exit %d: %s", code, stderr)
	}
	if code, _, _ := runTTQ(t, "export", qdir, "--format", "awq", "-o", out); code != 1 {
		t.Errorf("existing output without --force: exit %d", code)
	}
	if code, _, stderr := runTTQ(t, "export", qdir, "--format", "awq", "-o", out, "--force"); code != 0 {
		t.Errorf("--force: exit %d: %s", code, stderr)
	}
	// A ttq checkpoint exports to GGUF too (dequantized first).
	if code, stdout, stderr := runTTQ(t, "export", qdir, "--format", "gguf", "--type", "q8_0", "-o", filepath.Join(t.TempDir(), "q.gguf")); code != 0 || !strings.Contains(stdout, "Q8_0") {
		t.Errorf("gguf from a quantized checkpoint: exit %d: %s%s", code, stdout, stderr)
	}
}

// The demo's widths (64, 172) do not fit g128: the export names the layer.
func TestExportAWQRefusesRaggedDemo(t *testing.T) {
	qdir := filepath.Join(t.TempDir(), "q")
	if code, _, stderr := runTTQ(t, "quantize", "--method", "rtn", "--group", "128", "-o", qdir); code != 0 {
		t.Fatalf("quantize: exit %d: %s", code, stderr)
	}
	code, _, stderr := runTTQ(t, "export", qdir, "--format", "awq", "-o", filepath.Join(t.TempDir(), "awq"))
	if code != 1 || !strings.Contains(stderr, "model.layers.0.self_attn.q_proj has 64 inputs") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

// TestInspectGGUF inspects what ttq export writes: the metadata and tensor
// table agree with the export's own report, and a damaged file is an error.
func TestInspectGGUF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.gguf")
	code, out, errOut := runTTQ(t, "export", "--format", "gguf", "--type", "q4_0", "-o", path, "--json")
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	var ex export.Result
	if err := json.Unmarshal([]byte(out), &ex); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runTTQ(t, "inspect", path, "--json")
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, errOut)
	}
	var r gguf.Description
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Schema != "ttq.inspect.gguf/v1" || r.Version != 3 || r.Bytes != ex.Bytes || r.Elements != 260032 || len(r.Metadata) != len(ex.GGUF.Keys) || len(r.Tensors) != len(ex.GGUF.Tensors) {
		t.Fatalf("inspect: %+v", r)
	}
	for i, tr := range r.Tensors {
		want := ex.GGUF.Tensors[i]
		if tr.Name != want.Name || tr.Type != want.Type || !slices.Equal(tr.Dims, want.Dims) || tr.Offset != want.Offset || tr.Bytes != want.Bytes {
			t.Errorf("tensor %d: %+v, export wrote %+v", i, tr, want)
		}
	}
	for _, kv := range r.Metadata {
		if kv.Key == "tokenizer.ggml.tokens" {
			if a, _ := kv.Value.(map[string]any); a["len"] != 512.0 || a["elem"] != "string" || len(a["head"].([]any)) != gguf.ArrayHead {
				t.Errorf("tokens summarized as %v", kv.Value)
			}
		}
	}

	code, out, errOut = runTTQ(t, "inspect", "--model", path)
	for _, want := range []string{"GGUF v3", "general.architecture", `"llama"`, "string[512]", `"<unk>", "<s>"`, "… (512)", "blk.0.ffn_down.weight", "[172, 64]", "Q4_0"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("inspect table (exit %d, %s) lacks %q:\n%s", code, errOut, want, out)
		}
	}

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:len(b)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runTTQ(t, "inspect", path)
	if code != exitError || !strings.Contains(errOut, "truncated") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("truncated GGUF: exit %d, %q", code, errOut)
	}
	code, _, errOut = runTTQ(t, "eval", "--model", path)
	if code != exitError || !strings.Contains(errOut, "is a GGUF file") {
		t.Errorf("eval on GGUF: exit %d, %q", code, errOut)
	}
}
