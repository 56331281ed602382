package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/quant"

	"github.com/ttqproject/ttq/internal/shareddata"
	"github.com/ttqproject/ttq/pkg/model/demo"
)

// runTTQ runs the command line in-process and returns exit code, stdout and
// stderr.
func runTTQ(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

// copyDir copies a flat directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	copyFiles(t, src, dst)
	return dst
}

// copyFiles copies the files of the flat directory src into dst.
func copyFiles(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tinyModelDir is a scratch copy of testdata/models/tiny-llama2, a random
// checkpoint without a tokenizer, for corrupting.
func tinyModelDir(t *testing.T) string {
	return copyDir(t, filepath.Join("..", "..", "testdata", "models", "tiny-llama2"))
}

func TestVersionJSON(t *testing.T) {
	code, out, _ := runTTQ(t, "version", "--json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Schema != "ttq.version/v1" || v.GoVersion == "" {
		t.Fatalf("version --json = %q (%v)", out, err)
	}
}

// TestGenerateDemoReproducesLlama2c runs the README's main command with an
// empty prompt (BOS only) and checks the streamed text against llama2.c's
// published expected output for stories260K (testdata/llama2c): run.c with
// -n 200 prints the 200 tokens generated after BOS.
func TestGenerateDemoReproducesLlama2c(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "..", "testdata", "llama2c", "stories260K.expected_stdout.txt"))
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runTTQ(t, "generate", "--max-tokens", "200")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != string(want)+"\n" {
		t.Fatalf("generate output differs from llama2.c's expected_stdout:\n got %q\nwant %q", out, want)
	}
}

func TestGenerateJSONIsDeterministic(t *testing.T) {
	args := []string{"generate", "--prompt", "Lily saw a cat", "--temperature", "0.8", "--seed", "7", "--max-tokens", "40", "--json"}
	code, a, _ := runTTQ(t, args...)
	code2, b, _ := runTTQ(t, args...)
	if code != 0 || code2 != 0 {
		t.Fatalf("exit %d, %d", code, code2)
	}
	var ra, rb generateResult
	if err := json.Unmarshal([]byte(a), &ra); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(b), &rb); err != nil {
		t.Fatal(err)
	}
	if ra.Text != rb.Text || len(ra.Tokens) == 0 || ra.Schema != "ttq.generate/v1" {
		t.Fatalf("sampling with a fixed seed is not reproducible: %q vs %q", ra.Text, rb.Text)
	}
	code, c, _ := runTTQ(t, "generate", "--prompt", "Lily saw a cat", "--temperature", "0.8", "--seed", "8", "--max-tokens", "40", "--json")
	var rc generateResult
	if code != 0 || json.Unmarshal([]byte(c), &rc) != nil || rc.Text == ra.Text {
		t.Fatalf("a different seed gave the same text (exit %d)", code)
	}
}

// generate's decode runs int8 activations unless --activations f32, and
// leaves the process-wide kernel setting as it found it.
func TestGenerateActivations(t *testing.T) {
	before := kernels.Int8Activations()
	for _, act := range []string{"int8", "f32"} {
		code, out, errOut := runTTQ(t, "generate", "--method", "rtn", "--group", "32", "--prompt", "Lily saw a cat",
			"--max-tokens", "20", "--json", "--activations", act)
		var r generateResult
		if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
			t.Fatalf("--activations %s: exit %d: %s", act, code, errOut)
		}
		if r.Activations != act || len(r.Tokens) != 20 {
			t.Fatalf("--activations %s: reported %q, %d tokens", act, r.Activations, len(r.Tokens))
		}
		if kernels.Int8Activations() != before {
			t.Fatalf("--activations %s left the int8 path switched to %v", act, !before)
		}
	}
	if code, _, _ := runTTQ(t, "generate", "--activations", "fp8"); code != 2 {
		t.Fatalf("--activations fp8: exit %d, want 2 (usage)", code)
	}
}

func TestInspectDemo(t *testing.T) {
	code, out, errOut := runTTQ(t, "inspect", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r quant.Description
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	// PROVENANCE.md: stories260K has 260,032 parameters (tied classifier).
	if r.Params != 260032 || r.Config.NumLayers != 5 || r.Tokenizer.VocabSize != 512 || len(r.Tensors) != 2+5*9 {
		t.Fatalf("inspect: params %d, layers %d, vocab %d, tensors %d", r.Params, r.Config.NumLayers, r.Tokenizer.VocabSize, len(r.Tensors))
	}
	code, out, _ = runTTQ(t, "inspect")
	if code != 0 || !strings.Contains(out, "model.layers.4.mlp.down_proj.weight") || !strings.Contains(out, "LlamaForCausalLM") {
		t.Fatalf("inspect table:\n%s", out)
	}
}

// TestImportReproducesDemoBundle converts the llama2.c originals again and
// checks that the embedded demo bundle is exactly what `ttq import` writes.
func TestImportReproducesDemoBundle(t *testing.T) {
	bin := shareddata.Path(t, "models/stories260K/stories260K.bin")
	tok := shareddata.Path(t, "models/stories260K/tok512.model")
	out := t.TempDir()
	code, _, errOut := runTTQ(t, "import", "--llama2c", bin, "--tokenizer", tok, "-o", out)
	if code != 0 {
		t.Fatalf("import: exit %d: %s", code, errOut)
	}
	for _, name := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := demo.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the embedded demo bundle: run `make demo`", name)
		}
	}
	// Importing again must not silently overwrite.
	code, _, errOut = runTTQ(t, "import", "--llama2c", bin, "-o", out)
	if code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("re-import without --force: exit %d, %q", code, errOut)
	}
}

// TestBadInputIsOneLine checks that broken inputs give one clear error line
// and exit code 1 (2 for usage errors), never a panic.
func TestBadInputIsOneLine(t *testing.T) {
	truncated := tinyModelDir(t)
	st := filepath.Join(truncated, "model.safetensors")
	b, _ := os.ReadFile(st)
	os.WriteFile(st, b[:len(b)/2], 0o644)

	garbage := tinyModelDir(t)
	os.WriteFile(filepath.Join(garbage, "model.safetensors"), []byte("\x10\x00\x00\x00\x00\x00\x00\x00{not json}      "), 0o644)

	arch := tinyModelDir(t)
	cfg, _ := os.ReadFile(filepath.Join(arch, "config.json"))
	os.WriteFile(filepath.Join(arch, "config.json"), bytes.Replace(cfg, []byte("LlamaForCausalLM"), []byte("GPTNeoXForCausalLM"), 1), 0o644)

	shape := tinyModelDir(t)
	os.WriteFile(filepath.Join(shape, "config.json"), bytes.Replace(cfg, []byte(`"intermediate_size": `), []byte(`"intermediate_size": 1`), 1), 0o644)

	noTok := tinyModelDir(t)

	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"generate", filepath.Join(t.TempDir(), "missing")}, 1, "no such file"},
		{[]string{"inspect", truncated}, 1, "model.safetensors"},
		{[]string{"inspect", garbage}, 1, "model.safetensors"},
		{[]string{"inspect", arch}, 1, `"GPTNeoXForCausalLM" is not supported; supported: LlamaForCausalLM`},
		{[]string{"inspect", shape}, 1, "shape"},
		{[]string{"generate", noTok}, 1, "no tokenizer.json"},
		{[]string{"generate", "--max-tokens", "0"}, 2, "--max-tokens"},
		{[]string{"generate", "--no-such-flag"}, 2, "unknown flag"},
		{[]string{"import", "-o", t.TempDir()}, 2, "nothing to import"},
		{[]string{"import", "--tokenizer", filepath.Join("..", "..", "testdata", "models", "tiny-llama2", "config.json"), "-o", t.TempDir()}, 1, "config.json"},
		{[]string{"no-such-command"}, 2, "unknown command"},
		{[]string{"eval", "--dataset", filepath.Join(t.TempDir(), "nope.txt")}, 1, "not a built-in dataset (wikitext, piqa)"},
	}
	for _, tc := range cases {
		code, _, errOut := runTTQ(t, tc.args...)
		lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
		if code != tc.code || len(lines) != 1 || !strings.HasPrefix(errOut, "ttq: ") || !strings.Contains(errOut, tc.want) {
			t.Errorf("ttq %s: exit %d, stderr %q; want exit %d and one line containing %q", strings.Join(tc.args, " "), code, errOut, tc.code, tc.want)
		}
	}
}

// TestCobraUsageErrorsAreTyped: every way cobra refuses a command line
// (argument validators, flags, unknown commands) reaches exit code 2 as a
// usageError, whatever cobra's message says.
func TestCobraUsageErrorsAreTyped(t *testing.T) {
	for _, args := range [][]string{
		{"no-such-command"},
		{"version", "extra"},
		{"import", "extra", "-o", t.TempDir()},
		{"inspect", "a", "b"},
		{"quantize", "a", "b"},
		{"eval", "--max-windows", "many"},
		{"generate", "--no-such-flag"},
		{"generate", "-Z"},
		{"bench", "--m"},
		{"--threads", "x", "version"},
	} {
		var out, errOut bytes.Buffer
		err := execute(t.Context(), newRootCmd(&streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}), args)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("ttq %s: error %v (%T), want a usageError", strings.Join(args, " "), err, err)
		}
	}
	var out bytes.Buffer
	if err := execute(t.Context(), newRootCmd(&streams{In: strings.NewReader(""), Out: &out, ErrOut: &out}), []string{"help", "exit-codes"}); err != nil {
		t.Errorf("help exit-codes: %v", err)
	}
}
