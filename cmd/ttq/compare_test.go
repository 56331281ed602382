package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ttqproject/ttq/pkg/compare"
	"github.com/ttqproject/ttq/pkg/quant"
)

func TestCompareFlagValidation(t *testing.T) {
	cases := [][]string{
		{"--methods", "fp,bogus"},
		{"--methods", "rtn,rtn"},
		{"--bits", "1"},
		{"--group", "0"},
		{"--methods", "fp,rtn", "--baseline", "awq"},
		{"--json", "--markdown"},
		{"--plot", "out.pdf"},
		{"--shard", "4/4"},
		{"--shard", "x"},
		{"--plant-outliers", "1:2"},
		{"--model", "builtin:stories260K-planted", "--plant-outliers", "8:2"},
		{"--model", "builtin:nope"},
		{"--max-windows", "-1"},
		{"--eval-domains", "no-such-domain-or-file"},
		{"--tolerance", "0"},
		{"--ttq-alpha", "2"},
		{"stray-argument"},
		{"--merge"},
		{"--check", "testdata/none.json", "--methods", "fp"},
	}
	for _, c := range cases {
		code, _, errOut := runTTQ(t, append([]string{"compare"}, c...)...)
		if code != exitUsage {
			t.Errorf("compare %v: exit %d, want %d (%s)", c, code, exitUsage, errOut)
		}
	}
}

// compareJSON runs compare with --json and parses the report.
func compareJSON(t *testing.T, args ...string) *compare.Report {
	t.Helper()
	code, out, errOut := runTTQ(t, append([]string{"compare", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("compare %v: exit %d: %s", args, code, errOut)
	}
	rep, err := compare.Parse([]byte(out))
	if err != nil {
		t.Fatalf("compare %v: %v", args, err)
	}
	return rep
}

var tinyCompare = []string{"--methods", "fp,rtn", "--bits", "4", "--max-windows", "2", "--max-items", "20", "--baseline", "fp"}

func TestCompareEndToEnd(t *testing.T) {
	rep := compareJSON(t, append(tinyCompare, "--no-cache")...)
	if rep.Schema != compare.Schema || rep.Model.Name != "builtin:stories260K" || rep.Model.SHA256 == "" || rep.Model.Synthetic {
		t.Fatalf("header: %+v", rep.Model)
	}
	if len(rep.Datasets) != 2 || rep.Datasets[0].Name != "wikitext" || rep.Datasets[0].Windows != 2 || rep.Datasets[1].Items != 20 {
		t.Fatalf("datasets: %+v", rep.Datasets)
	}
	if rep.Settings.MethodFlags["nsamples"] != "16" || rep.Settings.MethodFlags["ttq-alpha"] == "" {
		t.Fatalf("method knobs not recorded: %v", rep.Settings.MethodFlags)
	}
	if len(rep.Rows) != 2 || rep.Rows[0].ID != "fp" || rep.Rows[1].ID != "rtn-w4-g128" {
		t.Fatalf("rows: %+v", rep.Rows)
	}
	fp, rtn := &rep.Rows[0], &rep.Rows[1]
	tokens := rep.Datasets[0].ScoredTokens
	for _, r := range rep.Rows {
		w, p := r.Result("wikitext"), r.Result("piqa")
		if w == nil || p == nil || len(w.Samples.NLL) != tokens || len(w.Samples.KL) != tokens || len(p.Samples.Acc) != 20 || !r.Complete {
			t.Fatalf("%s: results %+v", r.ID, r.Results)
		}
		if w.PPL <= 1 || p.Acc < 0 || p.Acc > 1 || r.BitsPerWeight <= 0 || r.ModelBytes <= 0 {
			t.Fatalf("%s: implausible numbers %+v", r.ID, r)
		}
	}
	if fp.Result("wikitext").KL != 0 || !(rtn.Result("wikitext").KL > 0) {
		t.Fatalf("KL: fp %v, rtn %v", fp.Result("wikitext").KL, rtn.Result("wikitext").KL)
	}
	if fp.BitsPerWeight != 32 || !(rtn.BitsPerWeight > 4 && rtn.BitsPerWeight < 5) || rtn.ModelBytes >= fp.ModelBytes {
		t.Fatalf("storage: fp %v bits %d B, rtn %v bits %d B", fp.BitsPerWeight, fp.ModelBytes, rtn.BitsPerWeight, rtn.ModelBytes)
	}
	if fp.Delta != nil || rtn.Delta == nil || rtn.Delta.Against != "fp" {
		t.Fatalf("deltas: fp %+v rtn %+v", fp.Delta, rtn.Delta)
	}
	d := rtn.Delta.Stat("wikitext", "ppl")
	if d == nil || d.Diff != rtn.Result("wikitext").PPL-fp.Result("wikitext").PPL || !(d.StdErr > 0) {
		t.Fatalf("ppl delta %+v", d)
	}
	// The paired test statistic is the mean NLL difference.
	if m := rtn.Result("wikitext").MeanNLL - fp.Result("wikitext").MeanNLL; abs(m-d.TestDiff) > 1e-6 {
		t.Fatalf("paired mean %v, difference of means %v", d.TestDiff, m)
	}
	if s := rtn.Delta.Stat("piqa", "acc"); s == nil || s.P == nil {
		t.Fatalf("acc delta %+v", s)
	}

	// The same run as a table and as Markdown.
	code, out, _ := runTTQ(t, append([]string{"compare", "--markdown", "--no-cache"}, tinyCompare...)...)
	if code != 0 || !strings.Contains(out, "| method | bits |") || !strings.Contains(out, "| rtn | 4 | 128 |") || !strings.Contains(out, "wikitext PPL") {
		t.Fatalf("markdown (exit %d):\n%s", code, out)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestCompareCacheHitAndMiss(t *testing.T) {
	dir := t.TempDir()
	a := compareJSON(t, append(tinyCompare, "--cache", dir)...)
	for _, r := range a.Rows {
		if r.Cached {
			t.Fatalf("first run: %s from an empty cache", r.ID)
		}
	}
	if n := (compare.Cache{Dir: dir}).Entries(); n != 2 {
		t.Fatalf("%d cache entries after 2 rows", n)
	}
	// Adding a method computes only the new row.
	b := compareJSON(t, "--methods", "fp,rtn,ttq", "--bits", "4", "--max-windows", "2", "--max-items", "20", "--baseline", "fp", "--cache", dir)
	if len(b.Rows) != 3 {
		t.Fatalf("rows %d", len(b.Rows))
	}
	for _, r := range b.Rows {
		if r.Cached != (r.Method != "ttq") {
			t.Fatalf("second run: %s cached=%v", r.ID, r.Cached)
		}
	}
	if a.Rows[1].Result("wikitext").PPL != b.Rows[1].Result("wikitext").PPL || a.Rows[1].Fingerprint != b.Rows[1].Fingerprint {
		t.Fatal("cached row differs from the computed one")
	}
	// Any knob that reaches the method changes the fingerprint: a miss.
	c := compareJSON(t, append(tinyCompare, "--cache", dir, "--grid", "minmax0")...)
	if !c.Rows[0].Cached || c.Rows[1].Cached || c.Rows[1].Fingerprint == a.Rows[1].Fingerprint {
		t.Fatalf("--grid minmax0: fp cached %v, rtn cached %v", c.Rows[0].Cached, c.Rows[1].Cached)
	}
}

// stripTimes zeroes what legitimately differs between two computations of
// the same rows (wall-clock measurements, the cache flag).
func stripTimes(rep *compare.Report) {
	rep.WallSeconds = 0
	rep.Shard = ""
	for i := range rep.Rows {
		r := &rep.Rows[i]
		r.QuantSeconds, r.TTQOverhead, r.MethodResult, r.Cached = 0, nil, nil, false
		for j := range r.Results {
			r.Results[j].Seconds, r.Results[j].TokensPerSecond = 0, 0
		}
	}
}

func TestCompareShardMergeEqualsOneRun(t *testing.T) {
	args := []string{"--methods", "fp,rtn,ttq", "--bits", "3,4", "--max-windows", "2", "--max-items", "10", "--datasets", "wikitext,piqa", "--no-cache"}
	whole := compareJSON(t, args...)
	dir := t.TempDir()
	var files []string
	for _, s := range []string{"0/3", "1/3", "2/3"} {
		code, out, errOut := runTTQ(t, append([]string{"compare", "--json", "--shard", s}, args...)...)
		if code != 0 {
			t.Fatalf("shard %s: exit %d: %s", s, code, errOut)
		}
		f := filepath.Join(dir, strings.ReplaceAll(s, "/", "of")+".json")
		if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	code, out, errOut := runTTQ(t, append([]string{"compare", "--merge", "--json"}, files...)...)
	if code != 0 {
		t.Fatalf("merge: exit %d: %s", code, errOut)
	}
	merged, err := compare.Parse([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	stripTimes(whole)
	stripTimes(merged)
	merged.CPUFeatures, whole.CPUFeatures = nil, nil
	a, _ := json.Marshal(whole)
	b, _ := json.Marshal(merged)
	if string(a) != string(b) {
		t.Fatalf("merged shards differ from one run:\n%s\n%s", a, b)
	}
	// Reports of different comparisons do not merge.
	other := compareJSON(t, "--methods", "fp", "--max-windows", "1", "--max-items", "10", "--no-cache")
	f := filepath.Join(dir, "other.json")
	b, _ = json.Marshal(other)
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runTTQ(t, "compare", "--merge", files[0], f); code != exitError {
		t.Fatalf("merging different comparisons: exit %d", code)
	}
}

// TestCompareCheckGate: the gate passes on its own baseline and fails with
// exit 3 when a row got worse. The degraded row is made by relabelling a
// 4-bit baseline row as 2-bit: recomputing it at 2 bits is exactly what a
// change that broke 4-bit quantization down to 2-bit quality would give.
func TestCompareCheckGate(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--methods", "fp,rtn", "--bits", "4", "--max-windows", "2", "--max-items", "40", "--baseline", "fp", "--no-cache"}
	code, out, errOut := runTTQ(t, append([]string{"compare", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("baseline: exit %d: %s", code, errOut)
	}
	good := filepath.Join(dir, "good.json")
	if err := os.WriteFile(good, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runTTQ(t, "compare", "--check", good); code != 0 {
		t.Fatalf("check against its own baseline: exit %d: %s", code, errOut)
	}
	// The deliberately degraded row: the settings now ask for 2 bits,
	// while the recorded numbers are the 4-bit ones.
	rep, err := compare.Parse([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	rep.Settings.Bits = []int{2}
	for i := range rep.Rows {
		if rep.Rows[i].Method == "rtn" {
			rep.Rows[i].Bits = 2
			rep.Rows[i].ID = rep.Rows[i].RowSpec.ID()
		}
	}
	b, _ := json.Marshal(rep)
	bad := filepath.Join(dir, "degraded.json")
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runTTQ(t, "compare", "--check", bad)
	if code != exitRegression {
		t.Fatalf("degraded row: exit %d, want %d: %s", code, exitRegression, errOut)
	}
	if !strings.Contains(errOut, "rtn-w2-g128 wikitext ppl") || !strings.Contains(errOut, "rtn-w2-g128 wikitext kl") || strings.Contains(errOut, "fp wikitext") {
		t.Fatalf("regression list:\n%s", errOut)
	}
	// The baseline's settings cannot be overridden.
	if code, _, _ := runTTQ(t, "compare", "--check", bad, "--bits", "4"); code != exitUsage {
		t.Fatalf("--check with --bits: exit %d", code)
	}
}

// TestCompareRegressBaselineIsCurrent keeps the committed gate baseline
// loadable and consistent with its own settings.
func TestCompareRegressBaselineIsCurrent(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "regress", "baseline.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := compare.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Interrupted || rep.Shard != "" || len(rep.Rows) != len(rep.Settings.Methods) {
		t.Fatalf("baseline: interrupted %v, shard %q, %d rows for %v", rep.Interrupted, rep.Shard, len(rep.Rows), rep.Settings.Methods)
	}
	sum, err := quant.CheckpointSHA256("")
	if err != nil || sum != rep.Model.SHA256 {
		t.Fatalf("the demo model changed (sha256 %s, baseline %s): regenerate testdata/regress/baseline.json", sum, rep.Model.SHA256)
	}
}

// TestComparePlantedDemo: the planted demo computes the same function as
// the demo (identical full-precision perplexity and NLLs) and is labelled
// synthetic; round-to-nearest suffers on it.
func TestComparePlantedDemo(t *testing.T) {
	args := []string{"--methods", "fp,rtn", "--bits", "4", "--datasets", "wikitext", "--max-windows", "2", "--no-cache", "--baseline", "fp"}
	plain := compareJSON(t, args...)
	planted := compareJSON(t, append(args, "--model", "builtin:stories260K-planted")...)
	if !planted.Model.Synthetic || planted.Settings.PlantOutliers != compare.PlantedDemoSpec || len(planted.Model.Planted) == 0 {
		t.Fatalf("planted model info: %+v %+v", planted.Model, planted.Settings)
	}
	pf, ff := planted.Rows[0].Result("wikitext"), plain.Rows[0].Result("wikitext")
	if pf.PPL != ff.PPL {
		t.Fatalf("fp perplexity: planted %v, plain %v", pf.PPL, ff.PPL)
	}
	for i := range pf.Samples.NLL {
		if pf.Samples.NLL[i] != ff.Samples.NLL[i] {
			t.Fatalf("token %d: NLL %v planted, %v plain", i, pf.Samples.NLL[i], ff.Samples.NLL[i])
		}
	}
	if pr, fr := planted.Rows[1].Result("wikitext"), plain.Rows[1].Result("wikitext"); !(pr.KL > 2*fr.KL) {
		t.Fatalf("rtn KL: planted %v, plain %v: the outliers should hurt round-to-nearest", pr.KL, fr.KL)
	}
	code, out, _ := runTTQ(t, append([]string{"compare", "--model", "builtin:stories260K-planted", "--markdown"}, args[:len(args)-2]...)...)
	if code != 0 || !strings.Contains(out, "synthetic") {
		t.Fatalf("planted table does not say synthetic (exit %d):\n%s", code, out)
	}
}

func TestCompareDomainShiftAndPlot(t *testing.T) {
	dir := t.TempDir()
	plot := filepath.Join(dir, "cmp.svg")
	rep := compareJSON(t, "--methods", "fp,gptq,ttq", "--bits", "4", "--datasets", "wikitext", "--max-windows", "1",
		"--calib-domains", "shakespeare,go", "--eval-domains", "shakespeare,go", "--nsamples", "4", "--no-cache", "--plot", plot)
	var ids []string
	for _, r := range rep.Rows {
		ids = append(ids, r.ID)
	}
	want := "fp gptq-w4-g128@go gptq-w4-g128@shakespeare ttq-w4-g128"
	if strings.Join(ids, " ") != want {
		t.Fatalf("rows %v, want %s", ids, want)
	}
	if len(rep.Datasets) != 3 || !rep.Datasets[1].Domain || rep.Datasets[2].Name != "go" {
		t.Fatalf("datasets %+v", rep.Datasets)
	}
	for _, f := range []string{plot, filepath.Join(dir, "cmp-domains.svg"), filepath.Join(dir, "cmp-ttq.svg")} {
		b, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(b), "<svg") {
			t.Fatalf("%s: %v", f, err)
		}
	}
	// Calibrating on the evaluated domain should not be worse than
	// calibrating on source code, for Shakespeare.
	sh := func(id string) float64 {
		for _, r := range rep.Rows {
			if r.ID == id {
				return r.Result("shakespeare").PPL
			}
		}
		t.Fatalf("no row %s", id)
		return 0
	}
	if sh("gptq-w4-g128@shakespeare") > 1.05*sh("gptq-w4-g128@go") {
		t.Errorf("gptq calibrated on Shakespeare: PPL %v on Shakespeare, calibrated on Go: %v", sh("gptq-w4-g128@shakespeare"), sh("gptq-w4-g128@go"))
	}
}

// TestImportPlantOutliers: ttq import --plant-outliers writes the same
// stress model that compare builds in memory: identical rows.
func TestImportPlantOutliers(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runTTQ(t, "import", "--plant-outliers", compare.PlantedDemoSpec, "-o", dir); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errOut)
	}
	args := []string{"--methods", "fp,rtn", "--bits", "4", "--datasets", "wikitext", "--max-windows", "1", "--no-cache"}
	disk := compareJSON(t, append(args, "--model", dir)...)
	mem := compareJSON(t, append(args, "--model", "builtin:stories260K-planted")...)
	for i := range mem.Rows {
		a, b := disk.Rows[i].Result("wikitext"), mem.Rows[i].Result("wikitext")
		if a.PPL != b.PPL || a.KL != b.KL {
			t.Fatalf("%s: imported planted model PPL %v KL %v, built-in %v %v", mem.Rows[i].ID, a.PPL, a.KL, b.PPL, b.KL)
		}
	}
	if code, _, _ := runTTQ(t, "import", "--model", dir, "-o", t.TempDir()); code != exitUsage {
		t.Fatalf("--model without --plant-outliers: exit %d", code)
	}
	if code, _, _ := runTTQ(t, "import", "--plant-outliers", "32", "-o", t.TempDir()); code != exitUsage {
		t.Fatalf("bad spec: exit %d", code)
	}
}

// TestCompareProgressOnTerminal draws the bar (stderr as a terminal) and
// keeps stdout a clean JSON document.
func TestCompareProgressOnTerminal(t *testing.T) {
	var out, errOut strings.Builder
	code := run([]string{"compare", "--json", "--methods", "fp,rtn", "--bits", "4", "--max-windows", "1", "--max-items", "5", "--no-cache"},
		&streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, ErrTTY: true})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if _, err := compare.Parse([]byte(out.String())); err != nil {
		t.Fatalf("stdout is not the report: %v", err)
	}
	if !strings.Contains(errOut.String(), "rtn-w4-g128") {
		t.Fatalf("no progress on the terminal: %q", errOut.String())
	}
}

// --methods ttq:PRESET gives the preset its own rows (ttq:paper computes
// exactly what plain ttq does), --group a list of groups, and the test-time
// rows a lineup against the static rows at matched bits/weight.
func TestCompareVariantsGroupsMatchedBits(t *testing.T) {
	args := []string{"--methods", "fp,rtn,ttq,ttq:paper", "--bits", "3", "--group", "32,128", "--datasets", "wikitext", "--max-windows", "1", "--no-cache"}
	rep := compareJSON(t, args...)
	var ids []string
	for _, r := range rep.Rows {
		ids = append(ids, r.ID)
	}
	want := "fp rtn-w3-g32 rtn-w3-g128 ttq-w3-g32 ttq-w3-g128 ttq:paper-w3-g32 ttq:paper-w3-g128"
	if strings.Join(ids, " ") != want || fmt.Sprint(rep.Settings.Groups) != "[32 128]" || rep.Settings.Group != 32 {
		t.Fatalf("rows %v, groups %v / %d", ids, rep.Settings.Groups, rep.Settings.Group)
	}
	for i := 3; i <= 4; i++ {
		plain, paper := &rep.Rows[i], &rep.Rows[i+2]
		if plain.Result("wikitext").PPL != paper.Result("wikitext").PPL || plain.Fingerprint == paper.Fingerprint || paper.TTQCalibrations == 0 {
			t.Fatalf("%s %v vs %s %v", plain.ID, plain.Result("wikitext").PPL, paper.ID, paper.Result("wikitext").PPL)
		}
		// ttq stores what rtn stores at the same group: they meet.
		if len(plain.MatchedBits) != 1 || plain.MatchedBits[0].Against != rep.Rows[i-2].ID {
			t.Fatalf("%s matched bits %+v", plain.ID, plain.MatchedBits)
		}
	}
	code, out, _ := runTTQ(t, append([]string{"compare", "--markdown"}, args...)...)
	if code != 0 || !strings.Contains(out, "at matched bits/weight (within ±0.25 b/w") || !strings.Contains(out, "| ttq:paper-w3-g32 | 3.849 | rtn-w3-g32 | 3.849 |") {
		t.Fatalf("markdown (exit %d):\n%s", code, out)
	}
	// One group keeps the report's single "group".
	one := compareJSON(t, "--methods", "fp,rtn", "--bits", "4", "--datasets", "wikitext", "--max-windows", "1", "--no-cache", "--matched-bits-tol", "0")
	if one.Settings.Groups != nil || one.Settings.Group != 128 || one.Settings.MatchedBitsTol != 0 {
		t.Fatalf("settings %+v", one.Settings)
	}
}
