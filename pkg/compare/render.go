package compare

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// NoiseMark follows a difference that is within noise.
const NoiseMark = "≈"

// Table lays the report out as one row per method × bits: storage and cost
// columns, then per dataset its metric ± stderr and the difference to the
// baseline row (marked NoiseMark when within noise). Notes explain the
// columns and the settings behind them.
func (rep *Report) Table() (header []string, rows [][]string, notes []string) {
	calibCol := len(rep.Settings.CalibDomains) > 0
	header = []string{"method", "bits", "group"}
	if calibCol {
		header = append(header, "calib")
	}
	header = append(header, "bits/w", "size", "quant")
	for _, ds := range rep.Datasets {
		switch ds.Kind {
		case KindPerplexity:
			header = append(header, ds.Name+" PPL", "Δ", "KL", "Δ")
		case KindMultipleChoice:
			header = append(header, ds.Name+" acc", "Δ", "acc_norm", "Δ")
		}
	}
	header = append(header, "tok/s", "TTQ ovh")
	for i := range rep.Rows {
		r := &rep.Rows[i]
		cells := []string{r.Method, dash(r.Bits), groupText(r)}
		if calibCol {
			cells = append(cells, orDash(r.Calib))
		}
		cells = append(cells, fmt.Sprintf("%.3f", r.BitsPerWeight), humanBytes(r.ModelBytes), fmt.Sprintf("%.1fs", r.QuantSeconds))
		for _, ds := range rep.Datasets {
			res := r.Result(ds.Name)
			if res == nil {
				cells = append(cells, "—", "", "—", "")
				continue
			}
			switch ds.Kind {
			case KindPerplexity:
				cells = append(cells, fmt.Sprintf("%.3f ± %.3f", res.PPL, res.PPLStdErr), deltaText(r.Delta.Stat(ds.Name, "ppl"), 1, "%+.3f"))
				if res.Samples.KL == nil {
					cells = append(cells, "—", "")
				} else {
					cells = append(cells, fmt.Sprintf("%.4f", res.KL), deltaText(r.Delta.Stat(ds.Name, "kl"), 1, "%+.4f"))
				}
			case KindMultipleChoice:
				cells = append(cells,
					fmt.Sprintf("%.1f ± %.1f", 100*res.Acc, 100*res.AccStdErr), deltaText(r.Delta.Stat(ds.Name, "acc"), 100, "%+.1f"),
					fmt.Sprintf("%.1f ± %.1f", 100*res.AccNorm, 100*res.AccNormStdErr), deltaText(r.Delta.Stat(ds.Name, "acc_norm"), 100, "%+.1f"))
			}
		}
		tps := "—"
		if len(r.Results) > 0 && r.Results[0].TokensPerSecond > 0 {
			tps = fmt.Sprintf("%.0f", r.Results[0].TokensPerSecond)
		}
		ovh := "—"
		if r.TTQOverhead != nil {
			ovh = fmt.Sprintf("%.1f%%", 100**r.TTQOverhead)
		}
		cells = append(cells, tps, ovh)
		rows = append(rows, cells)
	}
	notes = rep.notes()
	return header, rows, notes
}

func (rep *Report) notes() []string {
	s := rep.Settings
	model := rep.Model.Name
	if rep.Model.Synthetic {
		model += " (synthetic stress model: planted outliers " + s.PlantOutliers + ")"
	}
	notes := []string{fmt.Sprintf("model %s (sha256 %.12s…)", model, rep.Model.SHA256)}
	var data []string
	for _, ds := range rep.Datasets {
		switch ds.Kind {
		case KindPerplexity:
			data = append(data, fmt.Sprintf("%s: %s protocol, ctx %d, %d of %d windows (%d tokens)", ds.Name, ds.Protocol, ds.Ctx, ds.Windows, ds.WindowsAvailable, ds.ScoredTokens))
		case KindMultipleChoice:
			data = append(data, fmt.Sprintf("%s: %d of %d items", ds.Name, ds.Items, ds.ItemsAvailable))
		}
	}
	notes = append(notes, "data "+strings.Join(data, "; "))
	if len(s.CalibDomains) == 0 && s.Calib != "" {
		notes = append(notes, fmt.Sprintf("calibration (static methods) %s, %s × %s tokens", s.Calib, s.MethodFlags["nsamples"], s.MethodFlags["calib-seqlen"]))
	}
	notes = append(notes,
		fmt.Sprintf("Δ: row − the %s row at the same bits and group; %s = within noise (paired: |mean per-token difference| ≤ %.0f s.e.; accuracy: McNemar p ≥ %.3f)", s.Baseline, NoiseMark, DefaultZ, pForZ(DefaultZ)),
		"KL: mean KL(fp ‖ row) per token, nats; bits/w counts every stored number (codes, scales, zeros, low-rank factors); size: all weights as held in memory (ttq keeps full precision and quantizes per request); TTQ ovh: per-prompt calibration time / evaluation time")
	if rep.Interrupted {
		notes = append(notes, "interrupted: only the finished rows are shown")
	}
	if rep.Shard != "" {
		notes = append(notes, "shard "+rep.Shard+": join the shards with ttq compare --merge")
	}
	return notes
}

// Section is one of the tables that follow the main one.
type Section struct {
	Title  string
	Header []string
	Rows   [][]string
}

// Sections are the tables after the main one, those the report has data
// for: perplexity by calibration and evaluation domain, the rows with no
// calibration of their own against each static calibration, and the
// test-time rows against the static rows at matched bits/weight.
func (rep *Report) Sections() []Section {
	var out []Section
	add := func(title string, h []string, rows [][]string) {
		if h != nil {
			out = append(out, Section{Title: title, Header: h, Rows: rows})
		}
	}
	h, rows := rep.DomainMatrix()
	add("Perplexity by calibration domain (rows) and evaluation domain (columns)", h, rows)
	h, rows = rep.StaticMatrix()
	add("Rows with no calibration of their own against each static calibration (Δ = row − against)", h, rows)
	h, rows = rep.MatchedBitsMatrix()
	add(fmt.Sprintf("Test-time rows against static rows at matched bits/weight (within ±%g b/w; Δ = row − against)", rep.Settings.MatchedBitsTol), h, rows)
	return out
}

// DomainMatrix lays out perplexity by row (static methods per calibration
// domain, and the calibration-free rows) against the evaluation domains;
// nil when the report has no eval domains.
func (rep *Report) DomainMatrix() (header []string, rows [][]string) {
	var cols []DatasetInfo
	for _, ds := range rep.Datasets {
		if ds.Domain {
			cols = append(cols, ds)
		}
	}
	if len(cols) == 0 {
		return nil, nil
	}
	header = []string{"row", "calib"}
	for _, c := range cols {
		header = append(header, c.Name)
	}
	for i := range rep.Rows {
		r := &rep.Rows[i]
		cells := []string{strings.TrimSuffix(r.ID, "@"+r.Calib), calibText(r)}
		for _, c := range cols {
			if res := r.Result(c.Name); res != nil {
				cells = append(cells, fmt.Sprintf("%.3f", res.PPL))
			} else {
				cells = append(cells, "—")
			}
		}
		rows = append(rows, cells)
	}
	return header, rows
}

// StaticMatrix lays out, for each row with no calibration of its own
// (ttq, rtn), its perplexity difference on every perplexity dataset to
// each static row calibrated elsewhere at the same bits and group, marked
// NoiseMark within noise (Row.StaticDeltas); nil when no row has any.
func (rep *Report) StaticMatrix() (header []string, rows [][]string) {
	return rep.deltaMatrix(func(r *Row) []Delta { return r.StaticDeltas }, false)
}

// MatchedBitsMatrix lays out, for each test-time row, its perplexity
// difference on every perplexity dataset to each static row whose
// bits/weight is within Settings.MatchedBitsTol of its own, with both
// rows' bits/weight (Row.MatchedBits); nil when no row has any.
func (rep *Report) MatchedBitsMatrix() (header []string, rows [][]string) {
	return rep.deltaMatrix(func(r *Row) []Delta { return r.MatchedBits }, true)
}

// deltaMatrix lays out the deltas of each row that lineup gives, one line
// per row × row compared with, optionally with their bits/weight.
func (rep *Report) deltaMatrix(lineup func(r *Row) []Delta, bits bool) (header []string, rows [][]string) {
	var cols []DatasetInfo
	for _, ds := range rep.Datasets {
		if ds.Kind == KindPerplexity {
			cols = append(cols, ds)
		}
	}
	header = []string{"row", "against"}
	if bits {
		header = []string{"row", "bits/w", "against", "bits/w"}
	}
	for _, c := range cols {
		header = append(header, c.Name+" ΔPPL")
	}
	for i := range rep.Rows {
		r := &rep.Rows[i]
		ds := lineup(r)
		for j := range ds {
			d := &ds[j]
			cells := []string{r.ID, d.Against}
			if bits {
				against := "—"
				if b := rep.RowByID(d.Against); b != nil {
					against = fmt.Sprintf("%.3f", b.BitsPerWeight)
				}
				cells = []string{r.ID, fmt.Sprintf("%.3f", r.BitsPerWeight), d.Against, against}
			}
			for _, c := range cols {
				cells = append(cells, orDash(deltaText(d.Stat(c.Name, "ppl"), 1, "%+.3f")))
			}
			rows = append(rows, cells)
		}
	}
	if rows == nil {
		return nil, nil
	}
	return header, rows
}

func calibText(r *Row) string {
	switch {
	case r.Calib != "":
		return r.Calib
	case IsTestTime(r.Method):
		return "per prompt"
	}
	return "none"
}

func deltaText(d *DeltaStat, scale float64, format string) string {
	if d == nil {
		return ""
	}
	s := fmt.Sprintf(format, scale*d.Diff)
	if d.WithinNoise {
		s += " " + NoiseMark
	}
	return s
}

func dash(n int) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprint(n)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func groupText(r *Row) string {
	switch {
	case r.Method == "fp":
		return "—"
	case r.Group < 0:
		return "row"
	}
	return fmt.Sprint(r.Group)
}

func humanBytes(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "KB", "MB", "GB"} {
		if f < 1000 || u == "GB" {
			if u == "B" {
				return fmt.Sprintf("%d B", n)
			}
			return fmt.Sprintf("%.3g %s", f, u)
		}
		f /= 1000
	}
	return fmt.Sprint(n)
}

// WriteMarkdown writes a GitHub-flavoured Markdown table.
func WriteMarkdown(w io.Writer, header []string, rows [][]string) error {
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	line := func(cells []string) string {
		parts := make([]string, len(cells))
		for i, c := range cells {
			parts[i] = esc(c)
		}
		return "| " + strings.Join(parts, " | ") + " |\n"
	}
	var b strings.Builder
	b.WriteString(line(header))
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
	}
	b.WriteString("|" + strings.Join(sep, "|") + "|\n")
	for _, r := range rows {
		b.WriteString(line(r))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// finite guards plot values.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
