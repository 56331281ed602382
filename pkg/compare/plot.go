package compare

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// WritePlots draws the report. FILE gets perplexity against bits per
// weight on the first perplexity dataset, one line per method ×
// calibration (× variant); when the report has eval domains,
// FILE-domains.EXT gets every row's perplexity on every perplexity dataset
// relative to full precision; when it also has TTQ rows and static rows
// calibrated on --calib-domains, FILE-ttq.EXT gets TTQ against the best
// and the worst static calibration. The format follows the extension
// (.svg or .png). It returns the files written.
func WritePlots(rep *Report, file string) ([]string, error) {
	ext := strings.ToLower(filepath.Ext(file))
	if ext != ".svg" && ext != ".png" {
		return nil, fmt.Errorf("compare: plot %s: want .svg or .png", file)
	}
	base := strings.TrimSuffix(file, filepath.Ext(file))
	var written []string
	save := func(f *figure, name string) error {
		if f == nil {
			return nil
		}
		if err := f.save(name, ext); err != nil {
			return fmt.Errorf("compare: plot %s: %w", name, err)
		}
		written = append(written, name)
		return nil
	}
	pf, err := pplFigure(rep)
	if err != nil {
		return nil, err
	}
	if err := save(pf, file); err != nil {
		return nil, err
	}
	if err := save(domainHeat(rep).figure(), base+"-domains"+filepath.Ext(file)); err != nil {
		return written, err
	}
	if err := save(ttqHeat(rep).figure(), base+"-ttq"+filepath.Ext(file)); err != nil {
		return written, err
	}
	return written, nil
}

// plotDPI is the resolution of PNG plots: sharp in a README at its
// natural width.
const plotDPI = 144

// figure is one plot file: the plot, and a strip to its right for what
// must not cover the data (a legend, a colour bar).
type figure struct {
	plot *plot.Plot
	w, h vg.Length
	// side returns the strip's width and draws it; data is the plot's
	// data area, which the strip lines up with.
	side func(c draw.Canvas) (width vg.Length, drawSide func(strip, data draw.Canvas))
}

func (f *figure) save(file, ext string) error {
	var c vg.CanvasWriterTo
	switch ext {
	case ".png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(f.w, f.h), vgimg.UseDPI(plotDPI))}
	case ".svg":
		c = vgsvg.New(f.w, f.h)
	default:
		return fmt.Errorf("want .svg or .png")
	}
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	// A little room on the left, where tick labels end.
	main := draw.Crop(dc, vg.Points(4), 0, 0, 0)
	if f.side != nil {
		sw, drawSide := f.side(dc)
		main = draw.Crop(main, 0, -sw, 0, 0)
		f.plot.Draw(main)
		drawSide(draw.Crop(dc, f.w-sw, 0, 0, 0), f.plot.DataCanvas(main))
	} else {
		f.plot.Draw(main)
	}
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func firstPPL(rep *Report) *DatasetInfo {
	for i := range rep.Datasets {
		if rep.Datasets[i].Kind == KindPerplexity {
			return &rep.Datasets[i]
		}
	}
	return nil
}

// lineKey names the line of the perplexity plot a row lies on: its ID
// without the bits, so that rows differing only in bits share a line and
// rows differing in anything else the ID shows (method, group,
// calibration, a variant) do not.
func lineKey(s RowSpec) string {
	s.Bits = 0
	return strings.Replace(s.ID(), "-w0", "", 1)
}

// lineLabel is lineKey without the group where every row has the same
// group (the plot's title states it).
func lineLabel(s RowSpec, oneGroup bool) string {
	if !oneGroup {
		return lineKey(s)
	}
	s.Bits, s.Group = 0, 0
	return strings.Replace(s.ID(), "-w0-gdefault", "", 1)
}

// oneGroup reports whether every quantized row has the same group size,
// and which.
func oneGroup(rows []Row) (int, bool) {
	g, seen := 0, false
	for i := range rows {
		if rows[i].Method == "fp" {
			continue
		}
		if seen && rows[i].Group != g {
			return 0, false
		}
		g, seen = rows[i].Group, true
	}
	return g, seen
}

// pplLine is one line of the perplexity plot: the rows that differ only
// in bits.
type pplLine struct {
	key, label, method string
	pts                plotter.XYs
	// color is the method's; nth tells the method's lines apart (dash
	// and marker).
	color color.Color
	nth   int
}

// pplLines gathers the quantized rows' perplexity on dataset ds into
// lines, in the rows' order, each sorted by bits per weight; fp is the
// full-precision row with a result there, if any.
func pplLines(rep *Report, ds string) (lines []pplLine, fp *Row) {
	_, one := oneGroup(rep.Rows)
	for i := range rep.Rows {
		r := &rep.Rows[i]
		res := r.Result(ds)
		if res == nil || !finite(res.PPL) || res.PPL <= 0 {
			continue
		}
		if r.Method == "fp" {
			fp = r
			continue
		}
		key := lineKey(r.RowSpec)
		j := slices.IndexFunc(lines, func(l pplLine) bool { return l.key == key })
		if j < 0 {
			lines = append(lines, pplLine{key: key, label: lineLabel(r.RowSpec, one), method: r.Method})
			j = len(lines) - 1
		}
		lines[j].pts = append(lines[j].pts, plotter.XY{X: r.BitsPerWeight, Y: res.PPL})
	}
	for _, l := range lines {
		slices.SortStableFunc(l.pts, func(a, b plotter.XY) int { return cmpFloat(a.X, b.X) })
	}
	return lines, fp
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// logSpan is the max/min ratio above which the perplexity axis is
// logarithmic.
const logSpan = 3

// fitRange is the axis range of values from lo to hi with a margin of
// frac of the span on each side (of the log span on a log axis).
func fitRange(lo, hi, frac float64, log bool) (float64, float64) {
	if log {
		f := math.Pow(hi/lo, frac)
		return lo / f, hi * f
	}
	pad := frac * (hi - lo)
	if pad == 0 {
		pad = math.Max(0.05*math.Abs(hi), 1e-6)
	}
	return lo - pad, hi + pad
}

// logTicks labels a log axis with 1-2-5 steps (finer when the range is
// too narrow for three of them).
type logTicks struct{}

func (logTicks) Ticks(min, max float64) []plot.Tick {
	for _, steps := range [][]float64{{1}, {1, 2, 5}, {1, 1.5, 2, 3, 5, 7}, {1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9}} {
		var ticks []plot.Tick
		for e := math.Floor(math.Log10(min)); e <= math.Ceil(math.Log10(max)); e++ {
			for _, s := range steps {
				v := s * math.Pow(10, e)
				if v >= min && v <= max {
					ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', 4, 64)})
				}
			}
		}
		if len(ticks) >= 3 {
			return ticks
		}
	}
	return plot.DefaultTicks{}.Ticks(min, max)
}

// linearTicks labels an axis at multiples of a 1-2-5 step that gives at
// least n intervals over the range.
type linearTicks struct {
	n     int
	label func(float64) string
}

func (lt linearTicks) Ticks(min, max float64) []plot.Tick {
	span := max - min
	if !(span > 0) {
		return plot.DefaultTicks{}.Ticks(min, max)
	}
	step := math.Pow(10, math.Floor(math.Log10(span/float64(lt.n))))
	for _, f := range []float64{5, 2, 1} {
		if f*step*float64(lt.n) <= span {
			step *= f
			break
		}
	}
	var ts []plot.Tick
	for k := math.Ceil(min / step); k*step <= max; k++ {
		v := k * step
		if math.Abs(v) < 1e-9*span {
			v = 0
		}
		l := strconv.FormatFloat(v, 'g', 6, 64)
		if lt.label != nil {
			l = lt.label(v)
		}
		ts = append(ts, plot.Tick{Value: v, Label: l})
	}
	return ts
}

// methodColors are the lines' colours by method (Tableau 10); fp is black.
var methodColors = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 255}, color.RGBA{0xff, 0x7f, 0x0e, 255}, color.RGBA{0x2c, 0xa0, 0x2c, 255},
	color.RGBA{0xd6, 0x27, 0x28, 255}, color.RGBA{0x94, 0x67, 0xbd, 255}, color.RGBA{0x8c, 0x56, 0x4b, 255},
	color.RGBA{0xe3, 0x77, 0xc2, 255}, color.RGBA{0x17, 0xbe, 0xcf, 255},
}

// Lines of one method tell their calibrations and variants apart by dash
// and marker.
var (
	lineDashes = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)}, {vg.Points(7), vg.Points(2), vg.Points(2), vg.Points(2)}}
	lineGlyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.BoxGlyph{}, draw.TriangleGlyph{}, draw.RingGlyph{}, draw.SquareGlyph{}, draw.PyramidGlyph{}}
)

// pplPlot is the perplexity plot with its legend, which goes beside it.
type pplPlot struct {
	plot    *plot.Plot
	legend  plot.Legend
	entries []string // the legend's, in order
	lines   []pplLine
	log     bool
}

// newPPLPlot draws perplexity against bits per weight on the first
// perplexity dataset; nil when there is nothing to draw.
func newPPLPlot(rep *Report) (*pplPlot, error) {
	ds := firstPPL(rep)
	if ds == nil {
		return nil, nil
	}
	lines, fp := pplLines(rep, ds.Name)
	if len(lines) == 0 && fp == nil {
		return nil, nil
	}
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, l := range lines {
		for _, pt := range l.pts {
			xlo, xhi = math.Min(xlo, pt.X), math.Max(xhi, pt.X)
			ylo, yhi = math.Min(ylo, pt.Y), math.Max(yhi, pt.Y)
		}
	}
	if fp != nil {
		v := fp.Result(ds.Name).PPL
		ylo, yhi = math.Min(ylo, v), math.Max(yhi, v)
		if len(lines) == 0 {
			xlo, xhi = fp.BitsPerWeight, fp.BitsPerWeight
		}
	}
	pp := &pplPlot{plot: plot.New(), legend: plot.NewLegend(), lines: lines, log: yhi/ylo > logSpan}
	p := pp.plot
	title := fmt.Sprintf("%s: %s perplexity, lower is better", rep.Model.Name, ds.Name)
	if g, ok := oneGroup(rep.Rows); ok {
		title += " (group " + groupText(&Row{RowSpec: RowSpec{Group: g}}) + ")"
	}
	if rep.Model.Synthetic {
		title += " (synthetic outliers)"
	}
	p.Title.Text = title
	p.X.Label.Text = "bits per weight (scales and zeros included)"
	p.Y.Label.Text = "perplexity"
	p.X.Min, p.X.Max = fitRange(xlo, xhi, 0.1, false)
	p.Y.Min, p.Y.Max = fitRange(ylo, yhi, 0.08, pp.log)
	p.Y.Tick.Marker = linearTicks{n: 5}
	if pp.log {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
		p.Y.Label.Text = "perplexity (log scale)"
	}
	if t := bitsTicks(rep.Rows); t != nil {
		p.X.Tick.Marker = t
	}
	p.Add(plotter.NewGrid())
	pp.legend.TextStyle.Font.Size = vg.Points(10)
	pp.legend.Top, pp.legend.Left = true, true
	pp.legend.Padding = vg.Points(3)
	if fp != nil {
		v := fp.Result(ds.Name).PPL
		line, err := plotter.NewLine(plotter.XYs{{X: p.X.Min, Y: v}, {X: p.X.Max, Y: v}})
		if err != nil {
			return nil, err
		}
		line.Color = color.Black
		line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(line)
		pp.addEntry(fmt.Sprintf("fp, %.3g bits/weight: %.4g", fp.BitsPerWeight, v), line)
	}
	nth := map[string]int{}
	for i := range lines {
		l := &lines[i]
		c := methodColors[methodIndex(rep, l.method)%len(methodColors)]
		k := nth[l.method]
		nth[l.method]++
		l.color, l.nth = c, k
		line, sc, err := plotter.NewLinePoints(l.pts)
		if err != nil {
			return nil, err
		}
		line.Color, sc.Color = c, c
		line.Width = vg.Points(1.5)
		line.Dashes = lineDashes[k%len(lineDashes)]
		sc.Shape = lineGlyphs[k%len(lineGlyphs)]
		sc.Radius = vg.Points(3)
		p.Add(line, sc)
		pp.addEntry(l.label, line, sc)
	}
	return pp, nil
}

func (pp *pplPlot) addEntry(label string, thumbs ...plot.Thumbnailer) {
	pp.legend.Add(label, thumbs...)
	pp.entries = append(pp.entries, label)
}

// pplFigure is the perplexity plot with its legend to the right.
func pplFigure(rep *Report) (*figure, error) {
	pp, err := newPPLPlot(rep)
	if pp == nil || err != nil {
		return nil, err
	}
	return &figure{plot: pp.plot, w: 20 * vg.Centimeter, h: 12 * vg.Centimeter,
		side: func(c draw.Canvas) (vg.Length, func(strip, data draw.Canvas)) {
			r := pp.legend.Rectangle(c)
			pad := vg.Points(8)
			return r.Max.X - r.Min.X + 2*pad, func(strip, data draw.Canvas) {
				strip.Min.X += pad
				strip.Max.Y = data.Max.Y
				pp.legend.Draw(strip)
			}
		}}, nil
}

// methodIndex is the method's place in the settings, for a colour that
// stays the method's from plot to plot.
func methodIndex(rep *Report, m string) int {
	var ms []string
	for _, x := range rep.Settings.Methods {
		if x != "fp" {
			ms = append(ms, x)
		}
	}
	if i := slices.Index(ms, m); i >= 0 {
		return i
	}
	return len(ms)
}

// bitsTicks marks each quantized bits-per-weight value the rows have with
// its bit width ("3.57 (w3)"); nil when there are too many to label.
func bitsTicks(rows []Row) plot.Ticker {
	type mark struct {
		bpw  float64
		bits int
	}
	var marks []mark
	for i := range rows {
		r := &rows[i]
		if r.Method == "fp" || !finite(r.BitsPerWeight) {
			continue
		}
		j := slices.IndexFunc(marks, func(m mark) bool { return math.Abs(m.bpw-r.BitsPerWeight) < 0.005 })
		switch {
		case j < 0:
			marks = append(marks, mark{r.BitsPerWeight, r.Bits})
		case marks[j].bits != r.Bits:
			marks[j].bits = -1
		}
	}
	if len(marks) == 0 || len(marks) > 8 {
		return nil
	}
	var ticks plot.ConstantTicks
	for _, m := range marks {
		l := fmt.Sprintf("%.2f", m.bpw)
		if m.bits > 0 {
			l += fmt.Sprintf(" (w%d)", m.bits)
		}
		ticks = append(ticks, plot.Tick{Value: m.bpw, Label: l})
	}
	return ticks
}
