package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ttqproject/ttq/pkg/compare"
)

// row is a hand-built row with per-token NLLs on dataset "text".
func row(method string, bits int, calib string, nll ...float64) compare.Row {
	spec := compare.RowSpec{Method: method, Bits: bits, Group: 128, Calib: calib}
	var s float64
	for _, x := range nll {
		s += x
	}
	return compare.Row{RowSpec: spec, ID: spec.ID(), Complete: true, Results: []compare.DatasetResult{
		{Dataset: "text", PPL: math.Exp(s / float64(len(nll))), Samples: compare.Samples{NLL: nll}}}}
}

// The summary's verdicts on a hand-built report: the best TTQ variant
// (ttq:search) ties the best static row (awq@a: per-token differences
// ±0.1, mean 0) and beats the worst (rtn: 0.9–1.1 nats a token better);
// ttq:paper loses to awq@a and beats rtn, both by a constant shift (zero
// paired standard error). The 4-bit static row is no 3-bit cell's best.
func TestSummarizeCounts(t *testing.T) {
	rep := &compare.Report{
		Settings: compare.Settings{Methods: []string{"rtn", "awq", "ttq:paper", "ttq:search"}, Bits: []int{3, 4}, Group: 128,
			Baseline: "rtn", CalibDomains: []string{"a", "b"}},
		Datasets: []compare.DatasetInfo{{Name: "text", Kind: compare.KindPerplexity, Windows: 2}},
		Rows: []compare.Row{
			row("rtn", 3, "", 3, 3, 3, 3),
			row("rtn", 4, "", 1, 1, 1, 1),
			row("awq", 3, "a", 2, 2, 2, 2),
			row("awq", 3, "text", 2.5, 2.5, 2.5, 2.5),
			row("ttq:paper", 3, "", 2.8, 2.8, 2.8, 2.8),
			row("ttq:search", 3, "", 2.1, 1.9, 2.1, 1.9),
		},
	}
	o := 0.5
	rep.Rows[5].TTQOverhead, rep.Rows[5].Results[0].Seconds = &o, 4
	// Matched bits: the 4-bit row stores about what the 3-bit rows do.
	rep.Settings.MatchedBitsTol = 0.25
	for i := range rep.Rows {
		rep.Rows[i].BitsPerWeight = 3.57
	}
	rep.Rows[1].BitsPerWeight = 3.7
	compare.ComputeDeltas(rep, compare.DefaultZ)
	sum := Summarize([]Result{{Model: "m", Report: rep}})
	if len(sum.Cells) != 1 {
		t.Fatalf("cells %+v", sum.Cells)
	}
	c := sum.Cells[0]
	if c.TTQ != "ttq:search-w3-g128" || c.Best.Row != "awq-w3-g128@a" || c.Worst.Row != "rtn-w3-g128" || c.Best.Verdict != "tie" || c.Worst.Verdict != "win" {
		t.Fatalf("cell %+v", c)
	}
	if math.Abs(c.Worst.Diff-(math.Exp(2)-math.Exp(3))) > 1e-9 || math.Abs(c.Worst.Rel-(math.Exp(-1)-1)) > 1e-9 {
		t.Fatalf("worst Δ %+v", c.Worst)
	}
	if sum.VsBest != (Count{Ties: 1}) || sum.VsWorst != (Count{Wins: 1}) {
		t.Fatalf("counts %v, %v", sum.VsBest, sum.VsWorst)
	}
	if len(sum.Variants) != 2 {
		t.Fatalf("variants %+v", sum.Variants)
	}
	paper, search := sum.Variants[0], sum.Variants[1]
	if paper.Variant != "ttq:paper" || paper.BestOf != 0 || paper.VsRTN != (Count{Wins: 1}) || paper.VsBest != (Count{Losses: 1}) || paper.VsWorst != (Count{Wins: 1}) {
		t.Fatalf("ttq:paper %+v", paper)
	}
	if math.Abs(paper.GeoMeanVsBest-math.Exp(0.8)) > 1e-9 || math.Abs(paper.GeoMeanVsRTN-math.Exp(-0.2)) > 1e-9 {
		t.Fatalf("ttq:paper geometric means %v, %v", paper.GeoMeanVsBest, paper.GeoMeanVsRTN)
	}
	// awq@text is calibrated on the evaluated text, awq@a elsewhere.
	if fmt.Sprint(paper.VsCalibrated) != "map[awq in-domain:0 / 0 / 1 awq off-domain:0 / 0 / 1]" ||
		fmt.Sprint(search.VsCalibrated) != "map[awq in-domain:1 / 0 / 0 awq off-domain:0 / 1 / 0]" {
		t.Fatalf("against calibrated rows: ttq:paper %v, ttq:search %v", paper.VsCalibrated, search.VsCalibrated)
	}
	if len(sum.ByModel) != 2 || sum.ByModel[1].Model != "m" || sum.ByModel[1].VsBest != search.VsBest {
		t.Fatalf("by model %+v", sum.ByModel)
	}
	// 0.5 × 4 s of evaluation over 2 windows: 1000 ms a prompt.
	if search.BestOf != 1 || search.VsBest != (Count{Ties: 1}) || search.CalibMS != 1000 || search.Overhead != 0.5 {
		t.Fatalf("ttq:search %+v", search)
	}
	// A dataset on which full precision is no better than a uniform
	// guess over the vocabulary is left out of the cells.
	fp := row("fp", 0, "", 3, 3, 3, 3)
	fp.Group = 0
	fp.ID = fp.RowSpec.ID()
	un := *rep
	un.Rows = append([]compare.Row{fp}, rep.Rows...)
	if s := Summarize([]Result{{Model: "m", Report: &un, Vocab: 20}}); len(s.Cells) != 0 || len(s.Uninformative) != 1 {
		t.Fatalf("fp PPL e³ ≥ vocabulary 20: cells %+v, uninformative %v", s.Cells, s.Uninformative)
	}
	if s := Summarize([]Result{{Model: "m", Report: &un, Vocab: 21}}); len(s.Cells) != 1 || s.Uninformative != nil {
		t.Fatalf("fp PPL e³ < vocabulary 21: cells %+v, uninformative %v", s.Cells, s.Uninformative)
	}
	var md strings.Builder
	if err := WriteMarkdown(&md, QuickStudy(), []Result{{Model: "m", Report: rep}}, sum); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"wins / ties / losses **0 / 1 / 0**", "| m | 3 | 128 | text | ttq:search-w3-g128 |", "≈ | rtn-w3-g128 |", "| ttq:search-w3-g128 | 3.570 | 7.39 | 1000.0 ms | 50 % |",
		"| ttq:search-w3-g128 | 3.570 | rtn-w4-g128 | 3.700 | +4.671 |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}
	if strings.Contains(md.String(), "| ttq:search-w3-g128 | 3.570 | awq-w3-g128@a |") {
		t.Errorf("the matched-bits table repeats the summary's pairs:\n%s", md.String())
	}
}

// The quick study's logic on a tiny configuration: one model, one domain,
// one window; a second run reads every row from the cache, and -render
// rewrites the same report.
func TestStudyTiny(t *testing.T) {
	s := QuickStudy()
	s.Models = []Model{{Name: "demo"}}
	s.CalibDomains, s.Datasets, s.EvalDomains = []string{"go"}, nil, []string{"shakespeare"}
	s.Bits, s.Groups, s.Methods = []int{3}, []int{128}, []string{"fp", "rtn", "awq", "ttq:paper"}
	s.MaxWindows, s.NSamples, s.CalibSeqLen = 1, 2, 32
	dir := t.TempDir()
	if _, err := Run(context.Background(), s, dir, io.Discard); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Summary", "| demo | 3 | 128 | shakespeare | ttq:paper-w3-g128 |", "## demo", "| awq-w3-g128@go |"} {
		if !strings.Contains(string(first), want) {
			t.Errorf("report lacks %q:\n%s", want, first)
		}
	}
	again, err := Run(context.Background(), s, dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range again[0].Report.Rows {
		if !r.Cached {
			t.Errorf("row %s recomputed", r.ID)
		}
	}
	if _, err := Render(dir, s); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "report.md")); string(b) != string(first) {
		t.Errorf("rendered report differs from the computed one:\n%s", b)
	}
}
