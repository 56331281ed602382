package compare

import (
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/plot"
)

// plotReport is a hand-built report: fp, rtn, awq on two calibration
// domains and ttq at 3 and 4 bits, on wikitext, piqa and the go domain.
// The 3-bit rows come first, so that grouping has to reorder them.
func plotReport() *Report {
	rep := &Report{
		Model:    ModelInfo{Name: "m"},
		Settings: Settings{Methods: []string{"fp", "rtn", "awq", "ttq"}, Bits: []int{3, 4}, Group: 128, CalibDomains: []string{"go", "wikipedia"}},
		Datasets: []DatasetInfo{{Name: "wikitext", Kind: KindPerplexity}, {Name: "piqa", Kind: KindMultipleChoice},
			{Name: "go", Kind: KindPerplexity, Domain: true}},
	}
	row := func(method string, bits int, calib string, bpw, wiki, goPPL float64) Row {
		s := RowSpec{Method: method, Bits: bits, Group: 128, Calib: calib}
		if method == "fp" {
			s = RowSpec{Method: "fp"}
		}
		return Row{RowSpec: s, ID: s.ID(), BitsPerWeight: bpw, Results: []DatasetResult{
			{Dataset: "wikitext", PPL: wiki}, {Dataset: "piqa", Acc: 0.5}, {Dataset: "go", PPL: goPPL}}}
	}
	rep.Rows = []Row{
		row("fp", 0, "", 32, 100, 400),
		row("rtn", 3, "", 3.57, 150, 600),
		row("rtn", 4, "", 4.34, 110, 440),
		row("awq", 3, "go", 3.57, 120, 450),
		row("awq", 3, "wikipedia", 3.57, 118, 480),
		row("awq", 4, "go", 4.34, 105, 380),
		row("awq", 4, "wikipedia", 4.34, 104, 420),
		row("ttq", 3, "", 3.57, 115, 430),
		row("ttq", 4, "", 4.34, 103, 390),
	}
	return rep
}

func TestLineKey(t *testing.T) {
	w3 := RowSpec{Method: "awq", Bits: 3, Group: 128, Calib: "go"}
	w4 := w3
	w4.Bits = 4
	if lineKey(w3) != lineKey(w4) || lineKey(w3) != "awq-g128@go" {
		t.Fatalf("keys %q, %q: want both awq-g128@go", lineKey(w3), lineKey(w4))
	}
	other := w3
	other.Calib = "wikipedia"
	if lineKey(other) == lineKey(w3) {
		t.Fatalf("two calibrations share the line %q", lineKey(w3))
	}
	g64 := w3
	g64.Group = 64
	if lineKey(g64) == lineKey(w3) {
		t.Fatalf("two groups share the line %q", lineKey(w3))
	}
	if l := lineLabel(w3, true); l != "awq@go" {
		t.Fatalf("label with one group: %q, want awq@go", l)
	}
	if l := lineLabel(RowSpec{Method: "ttq", Bits: 4, Group: 128}, true); l != "ttq" {
		t.Fatalf("ttq label %q", l)
	}
}

func TestPPLPlotLines(t *testing.T) {
	pp, err := newPPLPlot(plotReport())
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	type style struct {
		c   color.Color
		nth int
	}
	var styles []style
	for _, l := range pp.lines {
		labels = append(labels, l.label)
		if len(l.pts) != 2 || l.pts[0].X > l.pts[1].X {
			t.Errorf("line %s: points %v, want 3 and 4 bits in order", l.label, l.pts)
		}
		s := style{l.color, l.nth}
		if slices.Contains(styles, s) {
			t.Errorf("line %s: colour and dash/marker of another line", l.label)
		}
		styles = append(styles, s)
	}
	if got, want := strings.Join(labels, " "), "rtn awq@go awq@wikipedia ttq"; got != want {
		t.Fatalf("lines %q, want %q (one per method × calibration)", got, want)
	}
	if got, want := strings.Join(pp.entries, "|"), "fp, 32 bits/weight: 100|rtn|awq@go|awq@wikipedia|ttq"; got != want {
		t.Fatalf("legend %q, want %q", got, want)
	}
}

func TestPPLPlotAxes(t *testing.T) {
	pp, err := newPPLPlot(plotReport())
	if err != nil {
		t.Fatal(err)
	}
	p := pp.plot
	// Bits per weight 3.57 … 4.34: a margin of a tenth of the span, not
	// the full-precision row's 32 bits.
	if !(p.X.Min < 3.57 && p.X.Min > 3.45 && p.X.Max > 4.34 && p.X.Max < 4.46) {
		t.Errorf("x range [%v, %v], want just around [3.57, 4.34]", p.X.Min, p.X.Max)
	}
	// Perplexity 100 (fp) … 150: linear, a small margin.
	if _, isLog := p.Y.Scale.(plot.LogScale); isLog || pp.log {
		t.Errorf("y axis is logarithmic for a 1.5× span")
	}
	if !(p.Y.Min < 100 && p.Y.Min > 94 && p.Y.Max > 150 && p.Y.Max < 156) {
		t.Errorf("y range [%v, %v], want just around [100, 150]", p.Y.Min, p.Y.Max)
	}

	wide := plotReport()
	wide.Rows[1].Results[0].PPL = 1000 // rtn at 3 bits: 10× fp
	pp, err = newPPLPlot(wide)
	if err != nil {
		t.Fatal(err)
	}
	p = pp.plot
	if _, isLog := p.Y.Scale.(plot.LogScale); !isLog || !pp.log {
		t.Fatalf("y axis is linear for a 10× span")
	}
	if lo, hi := p.Y.Min, p.Y.Max; !(lo < 100 && lo > 100/math.Pow(10, 0.1) && hi > 1000 && hi < 1000*math.Pow(10, 0.1)) {
		t.Errorf("log y range [%v, %v], want just around [100, 1000]", lo, hi)
	}
	if ticks := (logTicks{}).Ticks(p.Y.Min, p.Y.Max); len(ticks) < 3 {
		t.Errorf("log ticks %v", ticks)
	}
}

func TestDivergingPalette(t *testing.T) {
	d := newDiverging(20)
	rgb := func(v float64) (r, g, b uint32) {
		c, err := d.At(v)
		if err != nil {
			t.Fatalf("At(%v): %v", v, err)
		}
		r, g, b, _ = c.RGBA()
		return r, g, b
	}
	if r, g, b := rgb(0); r != 0xffff || g != 0xffff || b != 0xffff {
		t.Errorf("centre %x %x %x, want white", r, g, b)
	}
	for _, v := range []float64{-20, -5} {
		if r, _, b := rgb(v); !(b > r) {
			t.Errorf("At(%v) = r %x b %x: better (negative) should be blue", v, r, b)
		}
	}
	for _, v := range []float64{5, 20} {
		if r, _, b := rgb(v); !(r > b) {
			t.Errorf("At(%v) = r %x b %x: worse (positive) should be red", v, r, b)
		}
	}
	if _, g5, _ := rgb(5); !(g5 > 0x8000) {
		t.Errorf("+5 of 20: green %x, want a pale red", g5)
	}
	if _, g20, _ := rgb(20); !(g20 < 0x4000) {
		t.Errorf("+20 of 20: green %x, want a deep red", g20)
	}
	if _, err := d.At(21); err == nil {
		t.Errorf("At above the range: no error")
	}
}

func TestDomainHeat(t *testing.T) {
	h := domainHeat(plotReport())
	if h == nil {
		t.Fatal("no map")
	}
	var cols []string
	for _, c := range h.cols {
		cols = append(cols, strings.SplitN(c, "\n", 2)[0])
	}
	if got := strings.Join(cols, " "); got != "wikitext go" {
		t.Fatalf("columns %q, want every perplexity dataset: wikitext go", got)
	}
	var rows []string
	for _, r := range h.rows {
		rows = append(rows, r.label)
	}
	want := "fp|4-bit rows (4.34 bits/weight)|rtn|awq@go|awq@wikipedia|ttq|3-bit rows (3.57 bits/weight)|rtn|awq@go|awq@wikipedia|ttq"
	if got := strings.Join(rows, "|"); got != want {
		t.Fatalf("rows\n%s\nwant\n%s", got, want)
	}
	if h.rows[0].z[0] != 0 || !strings.Contains(h.title+h.colorLabel, "fp") {
		t.Errorf("fp is not the stated reference: %v, %q", h.rows[0].z, h.title+h.colorLabel)
	}
	// awq-w4@go on go: 380 against fp's 400, 5 % better: negative.
	if z := h.rows[3].z[1]; math.Abs(z-(-5)) > 1e-9 {
		t.Errorf("awq-w4@go on go: %v, want -5 (%%, better than fp)", z)
	}
	// rtn-w3 on wikitext: 150 against 100, 50 % worse.
	if z := h.rows[7].z[0]; math.Abs(z-50) > 1e-9 {
		t.Errorf("rtn-w3 on wikitext: %v, want +50", z)
	}
	// Calibrated on go, evaluated on go: framed; on wikitext: not.
	if b := h.rows[3].boxed; len(b) != 2 || b[0] || !b[1] {
		t.Errorf("awq-w4@go framed cells %v, want [false true]", b)
	}
	if m := h.span(); m != 50 {
		t.Errorf("colour span %v, want 50", m)
	}

	noDomains := plotReport()
	noDomains.Datasets[2].Domain = false
	if domainHeat(noDomains) != nil {
		t.Errorf("a map without eval domains")
	}
}

func TestTTQHeat(t *testing.T) {
	h := ttqHeat(plotReport())
	if h == nil {
		t.Fatal("no map")
	}
	if len(h.cols) != 4 || len(h.blocks) != 2 || !strings.Contains(h.blocks[0].label, "best") || !strings.Contains(h.blocks[1].label, "worst") {
		t.Fatalf("columns %q, blocks %+v", h.cols, h.blocks)
	}
	if len(h.rows) != 2 || h.rows[0].label != "ttq-w4-g128" || h.rows[1].label != "ttq-w3-g128" {
		t.Fatalf("rows %+v", h.rows)
	}
	// ttq-w4 on wikitext 103: best static awq@wikipedia 104, worst awq@go
	// 105 (rtn has no calibration and does not count).
	r := h.rows[0]
	if want := 100 * (103.0/104 - 1); math.Abs(r.z[0]-want) > 1e-9 || !strings.Contains(r.text[0], "awq@wikipedia") {
		t.Errorf("vs best: %v %q, want %v vs awq@wikipedia", r.z[0], r.text[0], want)
	}
	if want := 100 * (103.0/105 - 1); math.Abs(r.z[2]-want) > 1e-9 || !strings.Contains(r.text[2], "awq@go") {
		t.Errorf("vs worst: %v %q, want %v vs awq@go", r.z[2], r.text[2], want)
	}
	// On go: 390 against best 380 (worse, positive) and worst 420.
	if !(r.z[1] > 0 && r.z[3] < 0) {
		t.Errorf("go: vs best %v (want > 0), vs worst %v (want < 0)", r.z[1], r.z[3])
	}
}

// TestWritePlotsFiles: FILE always, FILE-domains with eval domains,
// FILE-ttq exactly when there are TTQ rows and rows calibrated on
// --calib-domains.
func TestWritePlotsFiles(t *testing.T) {
	dir := t.TempDir()
	noTTQ := plotReport()
	noTTQ.Rows = slices.DeleteFunc(noTTQ.Rows, func(r Row) bool { return r.Method == "ttq" })
	noCalib := plotReport()
	noCalib.Settings.CalibDomains = nil
	for i := range noCalib.Rows {
		if noCalib.Rows[i].Calib != "" {
			noCalib.Rows[i].Calib = "wikitext:valid"
		}
	}
	noDomains := plotReport()
	noDomains.Datasets[2].Domain = false
	for _, c := range []struct {
		name string
		rep  *Report
		want []string
	}{
		{"all", plotReport(), []string{"p.svg", "p-domains.svg", "p-ttq.svg"}},
		{"no ttq rows", noTTQ, []string{"p.svg", "p-domains.svg"}},
		{"no calibration domains", noCalib, []string{"p.svg", "p-domains.svg"}},
		{"no eval domains", noDomains, []string{"p.svg", "p-ttq.svg"}},
	} {
		sub := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		files, err := WritePlots(c.rep, filepath.Join(sub, "p.svg"))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got []string
		for _, f := range files {
			got = append(got, filepath.Base(f))
			if b, err := os.ReadFile(f); err != nil || !strings.Contains(string(b), "<svg") {
				t.Errorf("%s: %s: %v", c.name, f, err)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: wrote %v, want %v", c.name, got, c.want)
		}
		entries, _ := os.ReadDir(sub)
		if len(entries) != len(c.want) {
			t.Errorf("%s: %d files in the directory, want %d", c.name, len(entries), len(c.want))
		}
	}
	png := filepath.Join(dir, "p.png")
	if _, err := WritePlots(plotReport(), png); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(png); err != nil || !strings.HasPrefix(string(b), "\x89PNG") {
		t.Fatalf("png: %v", err)
	}
}

// TestHeatNoiseMark: a cell within noise of its reference row says so
// (≈); one without samples to judge by does not.
func TestHeatNoiseMark(t *testing.T) {
	rep := plotReport()
	nll := Floats{2.1, 2.5, 1.9, 2.8, 2.2, 2.4}
	shifted := Floats{2.2, 2.4, 2.0, 2.7, 2.3, 2.4}
	for i := range rep.Rows {
		if id := rep.Rows[i].ID; id == "ttq-w4-g128" || id == "awq-w4-g128@wikipedia" || id == "fp" {
			s := nll
			if id == "ttq-w4-g128" {
				s = shifted
			}
			rep.Rows[i].Results[0].Samples.NLL = s
		}
	}
	r := ttqHeat(rep).rows[0]
	if !strings.Contains(r.text[0], "≈") || strings.Contains(r.text[2], "≈") {
		t.Errorf("ttq-w4 on wikitext: %q vs best (want ≈), %q vs worst (no samples: no ≈)", r.text[0], r.text[2])
	}
	d := domainHeat(rep)
	if got := d.rows[5].text[0]; d.rows[5].label != "ttq" || !strings.Contains(got, "≈") {
		t.Errorf("domain map %s on wikitext: %q, want ≈ against fp", d.rows[5].label, got)
	}
}
