package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ttqproject/ttq/pkg/eval"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/quant"
)

func evalJSON(t *testing.T, args ...string) quant.EvalReport {
	t.Helper()
	code, out, errOut := runTTQ(t, append([]string{"eval", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("ttq eval %v: exit %d: %s", args, code, errOut)
	}
	if errOut != "" {
		t.Fatalf("stderr is not a terminal, yet something was written there: %q", errOut)
	}
	var r quant.EvalReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out)
	}
	if r.Schema != "ttq.eval/v1" {
		t.Fatalf("schema %q", r.Schema)
	}
	return r
}

func TestEvalUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--protocol", "wikitext"},
		{"--bos", "yes"},
		{"--split", "train"},
		{"--dataset", "piqa", "--split", "test"},
		{"--dataset", "piqa", "--kl-base", "x"},
		{"--dataset", "piqa", "--ctx", "64"},
		{"--dataset", "piqa", "--protocol", "llamacpp"},
		{"--dataset", ""},
		{"--dataset", "mc:"},
		{"--dataset", "some.txt", "--split", "valid"},
		{"--max-windows", "-1"},
		{"--ctx", "4096"}, // the demo model has 512 positions
		{"--ctx", "x"},
		{"a", "b"},
	} {
		code, out, errOut := runTTQ(t, append([]string{"eval"}, args...)...)
		if code != exitUsage || out != "" || !strings.HasPrefix(errOut, "ttq: ") {
			t.Errorf("eval %v: exit %d, stdout %q, stderr %q; want a usage error (2)", args, code, out, errOut)
		}
	}
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// The README's commands reproduce the torch reference (testdata/eval, see
// scripts/golden/eval/ref_ppl.py) end to end, and record what they did.
func TestEvalWikiTextMatchesReference(t *testing.T) {
	tokJSON, err := demo.ReadFile("tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		protocol string
		capped   bool
		textSHA  string
	}{
		{"gptq", true, "696cca6b65a171b0a358a4be6732cdfdf2dd6164a32e20fd70e3c13fc4dfae83"},
		{"llamacpp", false, ""},
	} {
		r := evalJSON(t, "--protocol", c.protocol, "--max-windows", "8")
		var g struct {
			PPL, PPLStdErr float64
			ScoredTokens   int    `json:"scored_tokens"`
			TextSHA256     string `json:"text_sha256"`
		}
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "eval", "stories260K.wikitext-test."+c.protocol+".golden.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &g); err != nil {
			t.Fatal(err)
		}
		p := r.Perplexity
		if p == nil || p.Protocol != eval.Protocol(c.protocol) || p.Ctx != 512 || r.CtxCapped != c.capped || p.Windows != 8 || !p.Complete {
			t.Fatalf("%s: %+v %+v", c.protocol, r, p)
		}
		if math.Abs(p.PPL-g.PPL) > 1e-4*g.PPL || p.ScoredTokens != g.ScoredTokens || r.TextSHA256 != g.TextSHA256 {
			t.Errorf("%s: PPL %v over %d tokens of %s; reference %v over %d of %s", c.protocol, p.PPL, p.ScoredTokens, r.TextSHA256, g.PPL, g.ScoredTokens, g.TextSHA256)
		}
		if c.textSHA != "" && r.TextSHA256 != c.textSHA {
			t.Errorf("%s: text sha256 %s, want %s", c.protocol, r.TextSHA256, c.textSHA)
		}
		if r.TokenizerSHA256 != sha256Hex(tokJSON) || !r.BOS || r.BOSPolicy != "auto" || r.Model != demo.Name || r.Split != "test" ||
			p.TokensPerSecond <= 0 || r.Interrupted || r.Threads < 1 {
			t.Errorf("%s: report %+v", c.protocol, r)
		}
	}
}

func TestEvalTable(t *testing.T) {
	code, out, errOut := runTTQ(t, "eval", "--protocol", "llamacpp", "--ctx", "128", "--max-windows", "3", "--bos", "off", "--split", "valid")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"perplexity", " ± ", "llamacpp, ctx 128, BOS off (--bos off)", "3 of 3", "tokens/s", "wikitext-2-raw/valid", "tokenizer sha256"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if errOut != "" {
		t.Errorf("stderr: %q", errOut)
	}
}

func TestEvalPIQA(t *testing.T) {
	r := evalJSON(t, "--dataset", "piqa", "--max-windows", "20", "--threads", "1")
	m := r.MultipleChoice
	if m == nil || m.Items != 20 || !m.Complete || m.SharedPrefixChoices != 40 || r.Task != "multiple_choice" || r.Split != "valid" ||
		r.Threads != 1 || r.Parallel != 1 {
		t.Fatalf("%+v %+v", r, m)
	}
	// lm-evaluation-harness's stderr of a 0/1 mean: sqrt(p(1−p)/(n−1)).
	if want := math.Sqrt(m.Acc * (1 - m.Acc) / 19); math.Abs(m.AccStdErr-want) > 1e-12 {
		t.Errorf("acc stderr %v, want %v", m.AccStdErr, want)
	}
}

func TestEvalMCFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "stories.jsonl")
	data := `{"context": "Once upon a time, there was a little", "choices": ["girl", "the", "ball ball ball"]}
{"goal": "How do you play with a ball?", "sol1": "You throw it.", "sol2": "You eat it."}
`
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runTTQ(t, "eval", "--dataset", "mc:"+path)
	if code != exitError || !strings.Contains(errOut, "stories-labels.lst") {
		t.Fatalf("no labels: exit %d, %q", code, errOut)
	}
	if err := os.WriteFile(filepath.Join(dir, "stories-labels.lst"), []byte("0\n0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := evalJSON(t, "--dataset", "mc:"+path)
	if m := r.MultipleChoice; m == nil || m.Items != 2 || r.Dataset != path {
		t.Fatalf("%+v", r)
	}
}

func TestEvalTextFiles(t *testing.T) {
	dir := t.TempDir()
	story := strings.Repeat("Once upon a time, there was a little girl named Lily. She liked to play with her ball in the park. ", 30)
	txt := filepath.Join(dir, "story.txt")
	if err := os.WriteFile(txt, []byte(story), 0o644); err != nil {
		t.Fatal(err)
	}
	r := evalJSON(t, "--dataset", txt, "--ctx", "128")
	if p := r.Perplexity; p == nil || p.Windows < 2 || p.PPL <= 1 || r.TextSHA256 != sha256Hex([]byte(story)) {
		t.Fatalf("text file: %+v", r)
	}
	jl := filepath.Join(dir, "story.jsonl")
	line, _ := json.Marshal(map[string]string{"text": story})
	if err := os.WriteFile(jl, append(append(line, '\n'), line...), 0o644); err != nil {
		t.Fatal(err)
	}
	r = evalJSON(t, "--dataset", jl, "--ctx", "128", "--protocol", "llamacpp")
	if r.TextSHA256 != sha256Hex([]byte(story+"\n\n"+story)) {
		t.Fatalf("jsonl: %+v", r)
	}
	short := filepath.Join(dir, "short.txt")
	if err := os.WriteFile(short, []byte("Lily had a ball."), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runTTQ(t, "eval", "--dataset", short, "--ctx", "64")
	if code != exitError || !strings.Contains(errOut, "fewer than one window") {
		t.Fatalf("short text: exit %d, %q", code, errOut)
	}
	code, _, errOut = runTTQ(t, "eval", "--dataset", filepath.Join(dir, "missing.txt"))
	if code != exitError || !strings.Contains(errOut, "missing.txt") {
		t.Fatalf("missing file: exit %d, %q", code, errOut)
	}
}

// demoDir writes the demo bundle into a model directory.
func demoDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
		b, err := demo.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestEvalKLBase(t *testing.T) {
	dir := demoDir(t)
	r := evalJSON(t, "--model", dir, "--kl-base", dir, "--protocol", "llamacpp", "--ctx", "128", "--max-windows", "2")
	p := r.Perplexity
	if p == nil || p.KL == nil || r.KLBase != dir {
		t.Fatalf("%+v", r)
	}
	if k := p.KL; k.Mean != 0 || k.SameTop != 1 || k.Tokens != 2*63 || k.PPLRatio != 1 || math.Abs(k.BasePPL-p.PPL) > 1e-9*p.PPL {
		t.Fatalf("model against itself: %+v", k)
	}
	code, out, _ := runTTQ(t, "eval", "--model", dir, "--kl-base", dir, "--ctx", "64", "--max-windows", "1")
	if code != 0 || !strings.Contains(out, "KL divergence") || !strings.Contains(out, "same top token") {
		t.Fatalf("table: exit %d\n%s", code, out)
	}
	// A reference with another tokenizer cannot be compared token by token.
	other := demoDir(t)
	tj := filepath.Join(other, "tokenizer.json")
	b, _ := os.ReadFile(tj)
	if err := os.WriteFile(tj, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runTTQ(t, "eval", "--model", dir, "--kl-base", other, "--max-windows", "1")
	if code != exitError || !strings.Contains(errOut, "tokenizer") {
		t.Fatalf("different tokenizer: exit %d, %q", code, errOut)
	}
}

func TestEvalProgressOnTerminal(t *testing.T) {
	var out, errOut bytes.Buffer
	io := &streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, ErrTTY: true}
	code := run([]string{"eval", "--json", "--protocol", "llamacpp", "--ctx", "64", "--max-windows", "3", "--parallel", "1"}, io)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var r quant.EvalReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("stdout is not only the JSON document: %v\n%s", err, out.String())
	}
	bar := errOut.String()
	for _, want := range []string{"llamacpp ctx 64 ppl ", "/3", "%"} {
		if !strings.Contains(bar, want) {
			t.Errorf("progress bar lacks %q: %q", want, bar)
		}
	}
}

// Ctrl-C (SIGINT) in the middle of a run prints the result of the windows
// done so far and exits 130.
func TestEvalInterruptPrintsPartialResult(t *testing.T) {
	evalProgressHook = func(ctx context.Context, done int) {
		if done != 2 {
			return
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
			t.Error(err)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Error("SIGINT did not cancel the run")
		}
	}
	defer func() { evalProgressHook = nil }()
	code, out, errOut := runTTQ(t, "eval", "--json", "--protocol", "llamacpp", "--ctx", "64", "--max-windows", "10", "--parallel", "1")
	if code != exitInterrupted {
		t.Fatalf("exit %d, want 130: %s", code, errOut)
	}
	var r quant.EvalReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("partial JSON: %v\n%s", err, out)
	}
	if p := r.Perplexity; !r.Interrupted || p == nil || p.Windows != 2 || p.WindowsPlanned != 10 || p.Complete || p.PPL <= 1 {
		t.Fatalf("partial result %+v %+v", r, r.Perplexity)
	}
	if !strings.Contains(errOut, "interrupted") || !strings.Contains(errOut, "2 of 10 windows") {
		t.Fatalf("stderr %q", errOut)
	}
}
