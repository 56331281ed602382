package main

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/ttqproject/ttq/pkg/compare"
)

// Summary is the study's verdict: for every model × bits × group ×
// evaluation dataset, the best TTQ variant against the best and the worst
// static row, the counts of significant wins and losses, and each variant
// on its own (the best-of-variants choice looks at the evaluation data;
// a variant's own counts do not).
type Summary struct {
	// WallSeconds is the run's time (0 when only rendered); RowSeconds
	// the sum of every row's quantization and evaluation, cached or not.
	WallSeconds float64  `json:"wall_seconds"`
	RowSeconds  float64  `json:"row_seconds"`
	Skipped     []string `json:"skipped,omitempty"`
	// Uninformative are the model × dataset pairs left out of the cells.
	Uninformative []string `json:"uninformative,omitempty"`
	Cells         []Cell   `json:"cells"`
	// VsBest and VsWorst count the cells' verdicts of the best TTQ
	// variant.
	VsBest   Count          `json:"vs_best_static"`
	VsWorst  Count          `json:"vs_worst_static"`
	Variants []VariantStats `json:"variants"`
	ByModel  []VariantStats `json:"by_model"`
	Rows     []RowSummary   `json:"rows"`
}

// Cell is one model × bits × group × evaluation dataset.
type Cell struct {
	Model  string  `json:"model"`
	Bits   int     `json:"bits"`
	Group  int     `json:"group"`
	Eval   string  `json:"eval"`
	TTQ    string  `json:"ttq"`
	TTQPPL float64 `json:"ttq_ppl"`
	Best   Versus  `json:"best_static"`
	Worst  Versus  `json:"worst_static"`
}

// Versus is a TTQ row against one static row on one dataset.
type Versus struct {
	Row string  `json:"row"`
	PPL float64 `json:"ppl"`
	// Diff is TTQ − static in PPL points, Rel the same as a fraction of
	// the static row's PPL.
	Diff float64 `json:"diff"`
	Rel  float64 `json:"rel"`
	// Verdict is win, loss (beyond 2 paired standard errors of the
	// per-token NLL difference) or tie (within them); "" when the report
	// has no paired statistic for the pair.
	Verdict string `json:"verdict"`
}

// Count tallies verdicts.
type Count struct {
	Wins   int `json:"wins"`
	Ties   int `json:"ties"`
	Losses int `json:"losses"`
}

func (c *Count) add(v string) {
	switch v {
	case "win":
		c.Wins++
	case "loss":
		c.Losses++
	case "tie":
		c.Ties++
	}
}

func (c Count) String() string {
	return fmt.Sprintf("%d / %d / %d", c.Wins, c.Ties, c.Losses)
}

// VariantStats is one TTQ variant over every cell (of one model, or of
// all when Model is "").
type VariantStats struct {
	Model   string `json:"model,omitempty"`
	Variant string `json:"variant"`
	Cells   int    `json:"cells"`
	// BestOf counts the cells where it is the best TTQ variant.
	BestOf  int   `json:"best_of"`
	VsRTN   Count `json:"vs_rtn"`
	VsBest  Count `json:"vs_best_static"`
	VsWorst Count `json:"vs_worst_static"`
	// VsCalibrated counts it against every awq and gptq row, by method
	// and whether the row was calibrated on the evaluated domain
	// ("awq in-domain", "awq off-domain", ...).
	VsCalibrated map[string]Count `json:"vs_calibrated"`
	// GeoMeanVsBest and GeoMeanVsRTN are the geometric means of PPL /
	// best static PPL and PPL / rtn's PPL.
	GeoMeanVsBest float64 `json:"geomean_vs_best_static"`
	GeoMeanVsRTN  float64 `json:"geomean_vs_rtn"`
	// CalibMS and Overhead are the medians over its rows of the
	// per-prompt calibration time and its share of the evaluation time.
	CalibMS  float64 `json:"calib_ms"`
	Overhead float64 `json:"overhead"`
}

// RowSummary is a row without its samples: what the tables show.
type RowSummary struct {
	Model         string             `json:"model"`
	ID            string             `json:"id"`
	BitsPerWeight float64            `json:"bits_per_weight"`
	PPL           map[string]float64 `json:"ppl"`
	CalibMS       float64            `json:"calib_ms,omitempty"`
	Overhead      float64            `json:"overhead,omitempty"`
}

// calibMS is a test-time row's calibration time per prompt (perplexity
// window; summed over its layers), in ms, and its share of the evaluation
// time; 0, 0 for other rows.
func calibMS(rep *compare.Report, r *compare.Row) (ms, share float64) {
	prompts := 0
	for _, ds := range rep.Datasets {
		if ds.Kind == compare.KindPerplexity && r.Result(ds.Name) != nil {
			prompts += ds.Windows
		}
	}
	if r.TTQOverhead == nil || prompts == 0 {
		return 0, 0
	}
	var eval float64
	for _, res := range r.Results {
		eval += res.Seconds
	}
	return 1000 * *r.TTQOverhead * eval / float64(prompts), *r.TTQOverhead
}

// pairedPPL is the report's paired perplexity statistic of row r against
// the row called against on a dataset: r's delta to its baseline, or one
// of its lineups against static rows.
func pairedPPL(r *compare.Row, against, dataset string) *compare.DeltaStat {
	if r.Delta != nil && r.Delta.Against == against {
		return r.Delta.Stat(dataset, "ppl")
	}
	for _, ds := range [][]compare.Delta{r.StaticDeltas, r.MatchedBits} {
		for i := range ds {
			if ds[i].Against == against {
				return ds[i].Stat(dataset, "ppl")
			}
		}
	}
	return nil
}

// versus compares TTQ row t with static row s on a dataset.
func versus(t, s *compare.Row, dataset string) Versus {
	tp, sp := t.Result(dataset).PPL, s.Result(dataset).PPL
	v := Versus{Row: s.ID, PPL: sp, Diff: tp - sp, Rel: tp/sp - 1}
	if st := pairedPPL(t, s.ID, dataset); st != nil {
		switch {
		case st.WithinNoise:
			v.Verdict = "tie"
		case st.TestDiff < 0:
			v.Verdict = "win"
		default:
			v.Verdict = "loss"
		}
	}
	return v
}

func groups(s compare.Settings) []int {
	if len(s.Groups) > 0 {
		return s.Groups
	}
	return []int{s.Group}
}

// tally accumulates one variant's verdicts, over every model (model "")
// or one.
type tally struct {
	VariantStats
	logBest, logRTN []float64
	costs           [][2]float64
}

// tallies keeps the tallies in first-seen order.
type tallies struct {
	by    map[[2]string]*tally
	order [][2]string
}

func (ts *tallies) get(model, variant string) *tally {
	k := [2]string{model, variant}
	if ts.by == nil {
		ts.by = map[[2]string]*tally{}
	}
	t, ok := ts.by[k]
	if !ok {
		t = &tally{VariantStats: VariantStats{Model: model, Variant: variant, VsCalibrated: map[string]Count{}}}
		ts.by[k] = t
		ts.order = append(ts.order, k)
	}
	return t
}

func (ts *tallies) stats(all bool) []VariantStats {
	var out []VariantStats
	for _, k := range ts.order {
		if (k[0] == "") != all {
			continue
		}
		t := ts.by[k]
		t.GeoMeanVsBest, t.GeoMeanVsRTN = geoMean(t.logBest), geoMean(t.logRTN)
		t.CalibMS, t.Overhead = medians(t.costs)
		out = append(out, t.VariantStats)
	}
	return out
}

func geoMean(logs []float64) float64 {
	if len(logs) == 0 {
		return 0
	}
	var l float64
	for _, x := range logs {
		l += x
	}
	return math.Exp(l / float64(len(logs)))
}

// inDomain reports whether a calibration source is the evaluated text's
// domain (WikiText-2 valid for the WikiText-2 test).
func inDomain(calib, dataset string) bool {
	return calib == dataset || calib == "wikitext:valid" && dataset == "wikitext"
}

// Summarize reads the study's verdict off its reports.
func Summarize(results []Result) Summary {
	var sum Summary
	var ts tallies
	for _, res := range results {
		rep := res.Report
		for i := range rep.Rows {
			r := &rep.Rows[i]
			rs := RowSummary{Model: res.Model, ID: r.ID, BitsPerWeight: r.BitsPerWeight, PPL: map[string]float64{}}
			for _, x := range r.Results {
				if x.PPL > 0 {
					rs.PPL[x.Dataset] = x.PPL
				}
			}
			rs.CalibMS, rs.Overhead = calibMS(rep, r)
			sum.RowSeconds += r.QuantSeconds
			for _, x := range r.Results {
				sum.RowSeconds += x.Seconds
			}
			sum.Rows = append(sum.Rows, rs)
			if compare.IsTestTime(r.Method) {
				for _, m := range []string{"", res.Model} {
					t := ts.get(m, r.Method)
					t.costs = append(t.costs, [2]float64{rs.CalibMS, rs.Overhead})
				}
			}
		}
		for _, bits := range rep.Settings.Bits {
			for _, g := range groups(rep.Settings) {
				var ttq, static []*compare.Row
				var rtn *compare.Row
				for i := range rep.Rows {
					r := &rep.Rows[i]
					switch {
					case r.Method == "fp" || r.Bits != bits || r.Group != g:
					case compare.IsTestTime(r.Method):
						ttq = append(ttq, r)
					default:
						static = append(static, r)
						if r.Method == "rtn" {
							rtn = r
						}
					}
				}
				for _, ds := range rep.Datasets {
					if ds.Kind != compare.KindPerplexity || len(ttq) == 0 || len(static) == 0 || uninformative(res, ds.Name) != "" {
						continue
					}
					ppl := func(r *compare.Row) float64 { return r.Result(ds.Name).PPL }
					byPPL := func(rows []*compare.Row) []*compare.Row {
						out := slices.Clone(rows)
						sort.SliceStable(out, func(i, j int) bool { return ppl(out[i]) < ppl(out[j]) })
						return out
					}
					tq, ss := byPPL(ttq), byPPL(static)
					best, worst := ss[0], ss[len(ss)-1]
					c := Cell{Model: res.Model, Bits: bits, Group: g, Eval: ds.Name, TTQ: tq[0].ID, TTQPPL: ppl(tq[0]),
						Best: versus(tq[0], best, ds.Name), Worst: versus(tq[0], worst, ds.Name)}
					sum.Cells = append(sum.Cells, c)
					sum.VsBest.add(c.Best.Verdict)
					sum.VsWorst.add(c.Worst.Verdict)
					for _, t := range ttq {
						for _, m := range []string{"", res.Model} {
							v := ts.get(m, t.Method)
							v.Cells++
							if t == tq[0] {
								v.BestOf++
							}
							if rtn != nil {
								v.VsRTN.add(versus(t, rtn, ds.Name).Verdict)
								v.logRTN = append(v.logRTN, math.Log(ppl(t)/ppl(rtn)))
							}
							v.VsBest.add(versus(t, best, ds.Name).Verdict)
							v.VsWorst.add(versus(t, worst, ds.Name).Verdict)
							v.logBest = append(v.logBest, math.Log(ppl(t)/ppl(best)))
							for _, s := range static {
								if s.Calib == "" {
									continue
								}
								k := s.Method + " off-domain"
								if inDomain(s.Calib, ds.Name) {
									k = s.Method + " in-domain"
								}
								n := v.VsCalibrated[k]
								n.add(versus(t, s, ds.Name).Verdict)
								v.VsCalibrated[k] = n
							}
						}
					}
				}
			}
		}
	}
	sum.Variants, sum.ByModel = ts.stats(true), ts.stats(false)
	for _, res := range results {
		for _, ds := range res.Report.Datasets {
			if why := uninformative(res, ds.Name); why != "" {
				sum.Uninformative = append(sum.Uninformative, res.Model+": "+why)
			}
		}
	}
	return sum
}

// uninformative says why a dataset says nothing about quantizing a model,
// or "": full precision does no better on it than a uniform guess over the
// vocabulary (the demo on Go source and Japanese), so that a damaged model
// can score better than the intact one.
func uninformative(res Result, dataset string) string {
	for i := range res.Report.Rows {
		r := &res.Report.Rows[i]
		if x := r.Result(dataset); r.Method == "fp" && x != nil && res.Vocab > 0 && x.PPL >= float64(res.Vocab) {
			return fmt.Sprintf("%s (full precision PPL %s ≥ the vocabulary's %d, worse than a uniform guess)", dataset, pplText(x.PPL), res.Vocab)
		}
	}
	return ""
}

func medians(xs [][2]float64) (a, b float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	med := func(k int) float64 {
		v := make([]float64, len(xs))
		for i, x := range xs {
			v[i] = x[k]
		}
		slices.Sort(v)
		if n := len(v); n%2 == 0 {
			return (v[n/2-1] + v[n/2]) / 2
		}
		return v[len(v)/2]
	}
	return med(0), med(1)
}

// versusText is "+12.34 (+5.1 %)" with the verdict's mark: ✓ a
// significant win, ✗ a significant loss, ≈ within noise.
func versusText(v Versus) string {
	mark := map[string]string{"win": " ✓", "loss": " ✗", "tie": " " + compare.NoiseMark}[v.Verdict]
	if math.Abs(v.Diff) >= 1e4 {
		return fmt.Sprintf("%+.3g (%+.1f %%)%s", v.Diff, 100*v.Rel, mark)
	}
	return fmt.Sprintf("%+.2f (%+.1f %%)%s", v.Diff, 100*v.Rel, mark)
}

// writeVariants writes the per-variant table (a model column when the
// stats are per model).
func writeVariants(p func(string, ...any), stats []VariantStats) {
	var keys []string
	perModel := false
	for _, v := range stats {
		perModel = perModel || v.Model != ""
		for k := range v.VsCalibrated {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	cols := []string{"variant", "cells", "best TTQ in", "vs rtn W/T/L", "PPL / rtn", "vs best static W/T/L", "PPL / best static", "vs worst static W/T/L"}
	for _, k := range keys {
		cols = append(cols, "vs "+k+" W/T/L")
	}
	cols = append(cols, "calibration per prompt", "of eval time")
	if perModel {
		cols = append([]string{"model"}, cols...)
	}
	p("| %s |\n|%s\n", strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
	for _, v := range stats {
		if perModel {
			p("| %s ", v.Model)
		}
		p("| %s | %d | %d | %s | %.3f | %s | %.3f | %s |", v.Variant, v.Cells, v.BestOf, v.VsRTN, v.GeoMeanVsRTN, v.VsBest, v.GeoMeanVsBest, v.VsWorst)
		for _, k := range keys {
			p(" %s |", v.VsCalibrated[k])
		}
		p(" %.1f ms | %.0f %% |\n", v.CalibMS, 100*v.Overhead)
	}
}

// pplText is a perplexity to two decimals, or to three significant digits
// from 10⁴ up (the demo's on Japanese, a script its tokenizer spells byte
// by byte, runs to 10¹⁰).
func pplText(x float64) string {
	if x >= 1e4 {
		return fmt.Sprintf("%.3g", x)
	}
	return fmt.Sprintf("%.2f", x)
}

// WriteMarkdown writes the study's report: how it was run, a table per
// model, then the summary.
func WriteMarkdown(w io.Writer, s Study, results []Result, sum Summary) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Domain-shift study (issue #13)\n\n")
	p("Produced by `go run ./scripts/domainshift -o DIR`: its rows took %.1f minutes to quantize and evaluate (a rerun reads them from DIR/cache).\n\n", sum.RowSeconds/60)
	p("- models: ")
	var names []string
	for _, r := range results {
		names = append(names, fmt.Sprintf("%s (`%s`%s)", r.Model, modelName(r.Report), plantText(r.Report)))
	}
	p("%s\n", strings.Join(names, ", "))
	for _, sk := range sum.Skipped {
		p("- left out: %s\n", sk)
	}
	for _, u := range sum.Uninformative {
		p("- not scored in the summary (shown in the tables): %s\n", u)
	}
	p("- static methods rtn, awq and gptq, awq and gptq calibrated on each of %s (%d × %d tokens)\n",
		strings.Join(s.CalibDomains, ", "), s.NSamples, s.CalibSeqLen)
	p("- test-time methods: %s (ttq:PRESET is ttq with `--ttq-preset PRESET`; ttq:paper is the paper's closed form)\n", strings.Join(testTime(s.Methods), ", "))
	p("- evaluation: %s (WikiText-2 test) and the held-out halves of %s; gptq protocol, at most %d windows each; bits %v, groups %v\n",
		strings.Join(s.Datasets, ", "), strings.Join(s.EvalDomains, ", "), s.MaxWindows, s.Bits, s.Groups)
	p("- verdicts: ✓ a win, ✗ a loss beyond 2 paired standard errors of the per-token NLL difference (the marks of `ttq compare`), %s within noise\n\n", compare.NoiseMark)

	p("## Summary\n\n")
	p("For each model, bits, group and evaluation dataset, the best TTQ variant there against the best and the worst static row (rtn, and awq/gptq on every calibration domain) at the same bits and group. Δ = TTQ − static, in PPL and as a share of the static row's PPL. Picking the best variant per cell looks at the evaluation data; the per-variant table below does not.\n\n")
	p("Best TTQ variant — against the best static row: wins / ties / losses **%s**; against the worst static row: **%s** (of %d cells).\n\n", sum.VsBest, sum.VsWorst, len(sum.Cells))
	p("Each variant on its own, over every cell: W/T/L against rtn, the best and the worst static row, and every awq and gptq row calibrated on the evaluated domain (in-domain; WikiText-2 valid for WikiText-2 test) or on another (off-domain); PPL ratios are geometric means over the cells; calibration per prompt is the median over the variant's rows of the time per evaluation window, summed over its layers, and its share of the evaluation time.\n\n")
	writeVariants(p, sum.Variants)
	p("\nBy model:\n\n")
	writeVariants(p, sum.ByModel)
	p("\n| model | bits | group | eval | best TTQ | PPL | best static | PPL | Δ | worst static | PPL | Δ |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range sum.Cells {
		p("| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.Model, c.Bits, c.Group, c.Eval,
			c.TTQ, pplText(c.TTQPPL), c.Best.Row, pplText(c.Best.PPL), versusText(c.Best), c.Worst.Row, pplText(c.Worst.PPL), versusText(c.Worst))
	}
	for _, r := range results {
		rep := r.Report
		p("\n## %s\n\n", r.Model)
		var ppl []compare.DatasetInfo
		for _, ds := range rep.Datasets {
			if ds.Kind == compare.KindPerplexity {
				ppl = append(ppl, ds)
			}
		}
		var data []string
		for _, ds := range ppl {
			data = append(data, fmt.Sprintf("%s %d×%d", ds.Name, ds.Windows, ds.Ctx))
		}
		p("`%s`%s, sha256 %.12s…; windows × tokens: %s.\n\n", modelName(rep), plantText(rep), rep.Model.SHA256, strings.Join(data, ", "))
		// The heat map of every row against full precision is as tall
		// as the table below: named, not shown.
		for _, f := range r.Plots {
			if name := strings.TrimSuffix(f, filepath.Ext(f)); strings.HasSuffix(name, "-domains") {
				p("Every row against full precision, as a heat map: DIR/%s.\n\n", f)
			} else {
				p("![%s](%s)\n\n", name, f)
			}
		}
		p("| row | bits/w |")
		for _, ds := range ppl {
			p(" %s |", ds.Name)
		}
		p(" calibration per prompt | of eval time |\n|---|---|")
		for range ppl {
			p("---|")
		}
		p("---|---|\n")
		for i := range rep.Rows {
			row := &rep.Rows[i]
			p("| %s | %.3f |", row.ID, row.BitsPerWeight)
			for _, ds := range ppl {
				if x := row.Result(ds.Name); x != nil {
					p(" %s |", pplText(x.PPL))
				} else {
					p(" — |")
				}
			}
			if ms, share := calibMS(rep, row); ms > 0 {
				p(" %.1f ms | %.0f %% |\n", ms, 100*share)
			} else {
				p(" — | — |\n")
			}
		}
		if h, rows := otherConfigs(rep); rows != nil {
			p("\nTest-time rows against static rows of another bit width or group at matched bits/weight (within ±%g b/w; Δ = row − against, %s within noise; the same bits and group are in the summary):\n\n", rep.Settings.MatchedBitsTol, compare.NoiseMark)
			if err := compare.WriteMarkdown(&b, h, rows); err != nil {
				return err
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// modelName is the compared model as the report names it; a directory
// (babyllama, imported under the study's directory) by its base name.
func modelName(rep *compare.Report) string {
	if filepath.IsAbs(rep.Model.Name) {
		return "DIR/models/" + filepath.Base(rep.Model.Name)
	}
	return rep.Model.Name
}

func plantText(rep *compare.Report) string {
	if rep.Settings.PlantOutliers == "" {
		return ""
	}
	return " with planted outliers " + rep.Settings.PlantOutliers
}

func testTime(methods []string) []string {
	var out []string
	for _, m := range methods {
		if compare.IsTestTime(m) {
			out = append(out, m)
		}
	}
	return out
}

// otherConfigs is the report's matched-bits lineup less the pairs at the
// same bits and group.
func otherConfigs(rep *compare.Report) (header []string, rows [][]string) {
	h, all := rep.MatchedBitsMatrix()
	for _, cells := range all {
		r, b := rep.RowByID(cells[0]), rep.RowByID(cells[2])
		if r != nil && b != nil && (r.Bits != b.Bits || r.Group != b.Group) {
			rows = append(rows, cells)
		}
	}
	return h, rows
}
