package eval

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ttqproject/ttq/pkg/model/demo"
)

var updateIDs = flag.Bool("update-ids", false, "rewrite testdata/eval/*.ids.json from the demo tokenizer (then rerun scripts/golden/eval/ref_ppl.py)")

// goldenWindows keeps the torch reference and this test to a few seconds.
const goldenWindows = 8

// idsFile is the input of scripts/golden/eval/ref_ppl.py: the first windows
// of the tokenized WikiText-2 test text exactly as ttq evaluates them.
type idsFile struct {
	Comment    string `json:"comment"`
	Model      string `json:"model"`
	Dataset    string `json:"dataset"`
	Protocol   string `json:"protocol"`
	Ctx        int    `json:"ctx"`
	Windows    int    `json:"windows"`
	BOS        int    `json:"bos"`
	TextSHA256 string `json:"text_sha256"`
	TextTokens int    `json:"text_tokens"`
	Tokens     []int  `json:"tokens"`
}

// goldenFile is ref_ppl.py's output.
type goldenFile struct {
	Reference    string    `json:"reference"`
	Protocol     string    `json:"protocol"`
	Ctx          int       `json:"ctx"`
	Windows      int       `json:"windows"`
	ScoredTokens int       `json:"scored_tokens"`
	MeanNLL      float64   `json:"mean_nll"`
	PPL          float64   `json:"ppl"`
	PPLStdErr    float64   `json:"ppl_stderr"`
	WindowPPL    []float64 `json:"window_ppl"`
}

func goldenPath(name string) string { return filepath.Join("..", "..", "testdata", "eval", name) }

// The demo model's WikiText-2 perplexity under both protocols, on the first
// windows, against scripts/golden/eval/ref_ppl.py: a float64 PyTorch
// reimplementation of the HF Llama forward (scripts/golden/forward/
// ref_llama.py) and of the two protocols' scoring, run on the token ids
// committed in testdata/eval/*.ids.json.
func TestDemoPerplexityMatchesTorchReference(t *testing.T) {
	m, tok, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, p := range []Protocol{ProtocolGPTQ, ProtocolLlamaCpp} {
		t.Run(string(p), func(t *testing.T) {
			txt, err := WikiText("test", p)
			if err != nil {
				t.Fatal(err)
			}
			toks, bos, err := TokenizeText(tok, txt.Text, p, BOSAuto)
			if err != nil {
				t.Fatal(err)
			}
			ctx, _ := DefaultCtx(p, m.Config.MaxPositions)
			w, err := MakeWindows(toks, p, ctx, goldenWindows, bos)
			if err != nil {
				t.Fatal(err)
			}
			base := fmt.Sprintf("stories260K.wikitext-test.%s", p)
			ids := idsFile{
				Comment: "first windows of the WikiText-2 test text tokenized by the demo tokenizer; written by go test ./pkg/eval -run TestDemoPerplexityMatchesTorchReference -update-ids",
				Model:   demo.Name, Dataset: txt.Name, Protocol: string(p), Ctx: ctx, Windows: goldenWindows,
				BOS: bos, TextSHA256: txt.SHA256(), TextTokens: len(toks), Tokens: toks[:goldenWindows*ctx],
			}
			if *updateIDs {
				b, _ := json.Marshal(ids)
				if err := os.WriteFile(goldenPath(base+".ids.json"), append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var committed idsFile
			readJSON(t, goldenPath(base+".ids.json"), &committed)
			if committed.TextSHA256 != ids.TextSHA256 || committed.TextTokens != ids.TextTokens || committed.BOS != bos ||
				committed.Ctx != ctx || !slicesEqual(committed.Tokens, ids.Tokens) {
				t.Fatalf("the committed token ids differ from what ttq evaluates now (rerun with -update-ids and ref_ppl.py)")
			}
			var g goldenFile
			readJSON(t, goldenPath(base+".golden.json"), &g)
			res, err := Perplexity(context.Background(), FromModel(m), w, nil, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.ScoredTokens != g.ScoredTokens || res.Windows != g.Windows || g.Protocol != string(p) {
				t.Fatalf("scored %d tokens in %d windows; reference %d in %d", res.ScoredTokens, res.Windows, g.ScoredTokens, g.Windows)
			}
			if e := relErr(res.PPL, g.PPL); e > 1e-4 {
				t.Errorf("PPL %.6f, reference %.6f (rel. error %.2g)", res.PPL, g.PPL, e)
			}
			if e := relErr(res.PPLStdErr, g.PPLStdErr); e > 1e-3 {
				t.Errorf("PPL stderr %.6f, reference %.6f (rel. error %.2g)", res.PPLStdErr, g.PPLStdErr, e)
			}
			t.Logf("%s: PPL %.6f ± %.6f, reference %.6f ± %.6f", p, res.PPL, res.PPLStdErr, g.PPL, g.PPLStdErr)
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
