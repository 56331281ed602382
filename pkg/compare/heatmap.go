package compare

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"

	stdfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// divergingStops run from better (blue) through the reference (white) to
// worse (red): ColorBrewer RdBu with a pure white centre.
var divergingStops = []color.RGBA{
	{0x21, 0x66, 0xac, 255}, {0x43, 0x93, 0xc3, 255}, {0x92, 0xc5, 0xde, 255}, {0xd1, 0xe5, 0xf0, 255},
	{0xff, 0xff, 0xff, 255},
	{0xfd, 0xdb, 0xc7, 255}, {0xf4, 0xa5, 0x82, 255}, {0xd6, 0x60, 0x4d, 255}, {0xb2, 0x18, 0x2b, 255},
}

// diverging is a palette.ColorMap centred on 0: white there, blue below
// (better), red above (worse), each side scaled to its own end of the
// range.
type diverging struct{ min, max, alpha float64 }

// newDiverging spans ±m.
func newDiverging(m float64) *diverging { return &diverging{min: -m, max: m, alpha: 1} }

func (d *diverging) At(v float64) (color.Color, error) {
	switch {
	case math.IsNaN(v):
		return nil, palette.ErrNaN
	case v < d.min:
		return nil, palette.ErrUnderflow
	case v > d.max:
		return nil, palette.ErrOverflow
	}
	t := 0.0 // −1 … 1
	if v > 0 {
		t = v / d.max
	} else if v < 0 {
		t = -v / d.min
	}
	pos := (t + 1) / 2 * float64(len(divergingStops)-1)
	i := min(int(pos), len(divergingStops)-2)
	f := pos - float64(i)
	a, b := divergingStops[i], divergingStops[i+1]
	mix := func(x, y uint8) uint8 { return uint8(math.Round((1-f)*float64(x) + f*float64(y))) }
	c := color.NRGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), uint8(math.Round(255 * d.alpha))}
	return c, nil
}

func (d *diverging) Max() float64       { return d.max }
func (d *diverging) Min() float64       { return d.min }
func (d *diverging) SetMax(v float64)   { d.max = v }
func (d *diverging) SetMin(v float64)   { d.min = v }
func (d *diverging) Alpha() float64     { return d.alpha }
func (d *diverging) SetAlpha(a float64) { d.alpha = a }
func (d *diverging) Palette(n int) palette.Palette {
	cs := make([]color.Color, n)
	for i := range cs {
		v := d.min
		if n > 1 {
			v += (d.max - d.min) * float64(i) / float64(n-1)
		}
		cs[i], _ = d.At(v)
	}
	return colorList(cs)
}

type colorList []color.Color

func (p colorList) Colors() []color.Color { return p }

// heatMap is a table of cells coloured by a signed value (0: the
// reference, white), with text in each cell and heading rows between
// groups.
type heatMap struct {
	title, xLabel string
	// colorLabel names the colour bar: what the colour measures.
	colorLabel string
	// notes explain marks in the cells, under the title.
	notes []string
	cols  []string
	// blocks, when set, puts a heading row over runs of columns and a
	// rule between them.
	blocks []heatBlock
	rows   []heatRow // top to bottom
}

type heatBlock struct {
	label string
	n     int // columns
}

// heatRow is a row of cells, or a heading (z nil) naming the group of
// rows below it.
type heatRow struct {
	label string
	z     []float64 // colour value per column; NaN: none
	text  []string
	// boxed cells get an outline (a row calibrated on the column's
	// domain).
	boxed []bool
}

// span is the largest |z|; the colour scale runs over ±span.
func (h *heatMap) span() float64 {
	m := 0.0
	for _, r := range h.rows {
		for _, v := range r.z {
			if finite(v) {
				m = math.Max(m, math.Abs(v))
			}
		}
	}
	if m == 0 {
		m = 1
	}
	return m
}

// bitsGroups splits rows by bits, most bits first, keeping the rows'
// order within a group.
func bitsGroups(rows []*Row) [][]*Row {
	var bits []int
	for _, r := range rows {
		if !slices.Contains(bits, r.Bits) {
			bits = append(bits, r.Bits)
		}
	}
	slices.SortFunc(bits, func(a, b int) int { return b - a })
	var out [][]*Row
	for _, b := range bits {
		var g []*Row
		for _, r := range rows {
			if r.Bits == b {
				g = append(g, r)
			}
		}
		out = append(out, g)
	}
	return out
}

// groupHeading names a bits group: the bit width and, when its rows
// agree, their bits per weight.
func groupHeading(g []*Row) string {
	s := fmt.Sprintf("%d-bit rows", g[0].Bits)
	for _, r := range g {
		if math.Abs(r.BitsPerWeight-g[0].BitsPerWeight) > 0.005 {
			return s
		}
	}
	return s + fmt.Sprintf(" (%.2f bits/weight)", g[0].BitsPerWeight)
}

func pplDatasets(rep *Report) []DatasetInfo {
	var out []DatasetInfo
	for _, ds := range rep.Datasets {
		if ds.Kind == KindPerplexity {
			out = append(out, ds)
		}
	}
	return out
}

func hasDomains(rep *Report) bool {
	return slices.ContainsFunc(rep.Datasets, func(d DatasetInfo) bool { return d.Domain })
}

func pplOf(r *Row, ds string) float64 {
	if res := r.Result(ds); res != nil && finite(res.PPL) && res.PPL > 0 {
		return res.PPL
	}
	return math.NaN()
}

// relPct is 100·(v/ref − 1): how many per cent v is above ref.
func relPct(v, ref float64) float64 {
	if !(ref > 0) {
		return math.NaN()
	}
	return 100 * (v/ref - 1)
}

// domainHeat is the domain-shift map: every row's perplexity on every
// perplexity dataset (the --datasets ones and the eval domains), coloured
// by its relative difference from full precision's perplexity on the same
// dataset (from the median row's where there is no fp row); rows grouped
// by bits. Nil without eval domains.
func domainHeat(rep *Report) *heatMap {
	if !hasDomains(rep) {
		return nil
	}
	cols := pplDatasets(rep)
	var fp *Row
	var quantized []*Row
	for i := range rep.Rows {
		if rep.Rows[i].Method == "fp" {
			fp = &rep.Rows[i]
		} else {
			quantized = append(quantized, &rep.Rows[i])
		}
	}
	refName := "fp"
	ref := make([]float64, len(cols))
	for j, c := range cols {
		if fp != nil {
			ref[j] = pplOf(fp, c.Name)
			continue
		}
		refName = "median row"
		var vs []float64
		for _, r := range quantized {
			if v := pplOf(r, c.Name); finite(v) {
				vs = append(vs, v)
			}
		}
		ref[j] = median(vs)
	}
	h := &heatMap{
		title:      fmt.Sprintf("%s: perplexity per dataset (cells) against %s (colour)", rep.Model.Name, refName),
		xLabel:     "perplexity dataset (" + refName + " perplexity)",
		colorLabel: fmt.Sprintf("PPL / PPL(%s) − 1 on the same dataset (%%)\nblue: better than %[1]s, red: worse", refName),
	}
	if fp != nil {
		h.notes = append(h.notes, "≈: within noise of fp")
	}
	if slices.ContainsFunc(rep.Rows, func(r Row) bool {
		return slices.ContainsFunc(cols, func(c DatasetInfo) bool { return r.Calib == c.Name })
	}) {
		h.notes = append(h.notes, "framed: calibrated on that domain")
	}
	for j, c := range cols {
		h.cols = append(h.cols, fmt.Sprintf("%s\n(%.4g)", c.Name, ref[j]))
	}
	cellRow := func(r *Row, label string) heatRow {
		hr := heatRow{label: label}
		for j, c := range cols {
			v := pplOf(r, c.Name)
			z := relPct(v, ref[j])
			hr.z = append(hr.z, z)
			hr.boxed = append(hr.boxed, r.Calib != "" && r.Calib == c.Name)
			switch {
			case !finite(v):
				hr.text = append(hr.text, "")
			case r == fp:
				hr.text = append(hr.text, fmt.Sprintf("%.4g\nreference", v))
			default:
				hr.text = append(hr.text, fmt.Sprintf("%.4g\n%+.1f%%%s", v, z, noiseMark(r, fp, c)))
			}
		}
		return hr
	}
	if fp != nil {
		h.rows = append(h.rows, cellRow(fp, "fp"))
	}
	_, one := oneGroup(rep.Rows)
	for _, g := range bitsGroups(quantized) {
		h.rows = append(h.rows, heatRow{label: groupHeading(g)})
		for _, r := range g {
			h.rows = append(h.rows, cellRow(r, lineLabel(r.RowSpec, one)))
		}
	}
	if len(quantized) == 0 && fp == nil {
		return nil
	}
	return h
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(vs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// noiseMark is " ≈" where row r's perplexity on ds is within noise of
// row b's (DefaultZ paired standard errors of the per-token NLL
// difference, as the table's ≈), else "" (also without samples).
func noiseMark(r, b *Row, ds DatasetInfo) string {
	if b == nil {
		return ""
	}
	rr, br := r.Result(ds.Name), b.Result(ds.Name)
	if rr == nil || br == nil {
		return ""
	}
	for _, st := range diffResults(ds, rr, br, DefaultZ) {
		if st.Metric == "ppl" && st.WithinNoise {
			return " " + NoiseMark
		}
	}
	return ""
}

// ttqHeat is TTQ's advantage over static calibration: for each TTQ row
// and perplexity dataset, its perplexity relative to the best and to the
// worst static row (any method, any --calib-domains domain) at the same
// bits and group. Nil unless the report has TTQ rows and such static rows.
func ttqHeat(rep *Report) *heatMap {
	if len(rep.Settings.CalibDomains) == 0 {
		return nil
	}
	cols := pplDatasets(rep)
	_, one := oneGroup(rep.Rows)
	h := &heatMap{
		title:      fmt.Sprintf("%s: test-time quantization against static calibration", rep.Model.Name),
		xLabel:     "perplexity dataset",
		notes:      []string{"≈: within noise of that static row"},
		colorLabel: "PPL(ttq) / PPL(static) − 1 on the same dataset (%)\nblue: ttq better, red: ttq worse",
		blocks: []heatBlock{{"vs the best static calibration", len(cols)},
			{"vs the worst static calibration", len(cols)}},
	}
	for range h.blocks {
		for _, c := range cols {
			h.cols = append(h.cols, c.Name)
		}
	}
	var ttq []*Row
	for i := range rep.Rows {
		if IsTestTime(rep.Rows[i].Method) {
			ttq = append(ttq, &rep.Rows[i])
		}
	}
	for _, g := range bitsGroups(ttq) {
		for _, t := range g {
			var statics []*Row
			for i := range rep.Rows {
				s := &rep.Rows[i]
				if s.Bits == t.Bits && s.Group == t.Group && !IsTestTime(s.Method) && slices.Contains(rep.Settings.CalibDomains, s.Calib) {
					statics = append(statics, s)
				}
			}
			if len(statics) == 0 {
				continue
			}
			hr := heatRow{label: t.ID}
			for _, worst := range []bool{false, true} {
				for _, c := range cols {
					v := pplOf(t, c.Name)
					pick := extremeRow(statics, c.Name, worst)
					if pick == nil || !finite(v) {
						hr.z, hr.text = append(hr.z, math.NaN()), append(hr.text, "")
						continue
					}
					z := relPct(v, pplOf(pick, c.Name))
					hr.z = append(hr.z, z)
					hr.text = append(hr.text, fmt.Sprintf("%+.1f%%%s\nvs %s", z, noiseMark(t, pick, c), lineLabel(pick.RowSpec, one)))
				}
			}
			h.rows = append(h.rows, hr)
		}
	}
	if len(h.rows) == 0 {
		return nil
	}
	return h
}

// extremeRow is the row of lowest perplexity on ds (highest with worst);
// nil when none has one.
func extremeRow(rows []*Row, ds string, worst bool) *Row {
	var pick *Row
	pv := 0.0
	for _, r := range rows {
		v := pplOf(r, ds)
		if finite(v) && (pick == nil || (worst && v > pv) || (!worst && v < pv)) {
			pick, pv = r, v
		}
	}
	return pick
}

// figure draws the map with its colour bar to the right; nil for a nil
// map.
func (h *heatMap) figure() *figure {
	if h == nil {
		return nil
	}
	m := h.span()
	cmap := newDiverging(m)
	p := plot.New()
	p.Title.Text = h.title
	if len(h.notes) > 0 {
		p.Title.Text += "\n" + strings.Join(h.notes, ";  ")
	}
	p.X.Label.Text = h.xLabel
	n := len(h.rows)
	top := 0
	if len(h.blocks) > 0 {
		top = 1 // the block headings' row
	}
	p.X.Min, p.X.Max = -0.5, float64(len(h.cols))-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(n+top)-0.5
	var xt, yt plot.ConstantTicks
	for j, c := range h.cols {
		xt = append(xt, plot.Tick{Value: float64(j), Label: c})
	}
	for i, r := range h.rows {
		if r.z != nil {
			yt = append(yt, plot.Tick{Value: float64(n - 1 - i), Label: r.label})
		}
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = xt, yt
	p.X.Tick.Length, p.Y.Tick.Length = 0, 0
	p.X.Padding, p.Y.Padding = 0, 0
	p.Add(&heatCells{h: h, cmap: cmap})
	cols := len(h.cols)
	w := 5*vg.Centimeter + vg.Length(cols)*2.8*vg.Centimeter + 3*vg.Centimeter
	hgt := 3.5*vg.Centimeter + vg.Length(n+top)*0.9*vg.Centimeter
	return &figure{plot: p, w: w, h: max(hgt, 9*vg.Centimeter), side: func(draw.Canvas) (vg.Length, func(strip, data draw.Canvas)) {
		return 3 * vg.Centimeter, func(strip, data draw.Canvas) {
			cb := plot.New()
			cb.HideX()
			cb.Add(&plotter.ColorBar{ColorMap: cmap, Vertical: true})
			cb.Y.Label.Text = h.colorLabel
			cb.Y.Label.TextStyle.Font.Size = vg.Points(10)
			cb.Y.Min, cb.Y.Max = cmap.Min(), cmap.Max()
			cb.Y.Tick.Marker = pctTicks
			cb.Y.Padding = 0
			strip.Min.Y, strip.Max.Y = data.Min.Y, data.Max.Y
			strip.Max.X = strip.Min.X + 2.2*vg.Centimeter
			strip.Min.X += 0.2 * vg.Centimeter
			cb.Draw(strip)
		}
	}}
}

// pctTicks labels a colour bar in signed per cent, 0 among the labels.
var pctTicks = linearTicks{n: 4, label: func(v float64) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("%+g%%", v)
}}

// heatCells is the plotter of a heatMap's cells, headings and rules.
type heatCells struct {
	h    *heatMap
	cmap *diverging
}

var (
	missingColor = color.RGBA{0xdd, 0xdd, 0xdd, 255}
	ruleColor    = color.RGBA{0x44, 0x44, 0x44, 255}
)

func (hc *heatCells) DataRange() (xmin, xmax, ymin, ymax float64) {
	top := 0
	if len(hc.h.blocks) > 0 {
		top = 1
	}
	return -0.5, float64(len(hc.h.cols)) - 0.5, -0.5, float64(len(hc.h.rows)+top) - 0.5
}

func (hc *heatCells) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	h := hc.h
	n := len(h.rows)
	cellH := trY(1) - trY(0)
	size := min(vg.Points(9), cellH/2.6) // two lines a cell; none below 5 pt
	style := func(bold bool, col color.Color, xa text.XAlignment) text.Style {
		f := font.Font{Typeface: "Liberation", Variant: "Serif", Size: size}
		if bold {
			f.Weight = stdfont.WeightBold
			f.Size = min(vg.Points(10), cellH/1.8)
		}
		return text.Style{Color: col, Font: f, XAlign: xa, YAlign: draw.YCenter, Handler: plot.DefaultTextHandler}
	}
	rect := func(x0, x1, y0, y1 float64) []vg.Point {
		return []vg.Point{{X: trX(x0), Y: trY(y0)}, {X: trX(x1), Y: trY(y0)}, {X: trX(x1), Y: trY(y1)}, {X: trX(x0), Y: trY(y1)}}
	}
	rule := draw.LineStyle{Color: ruleColor, Width: vg.Points(1)}
	ncol := float64(len(h.cols))
	for i, r := range h.rows {
		y := float64(n - 1 - i)
		if r.z == nil {
			c.FillText(style(true, color.Black, draw.XLeft), vg.Point{X: trX(-0.45), Y: trY(y)}, r.label)
			c.StrokeLine2(rule, trX(-0.5), trY(y+0.5), trX(ncol-0.5), trY(y+0.5))
			continue
		}
		for j, v := range r.z {
			x := float64(j)
			fill := color.Color(missingColor)
			if col, err := hc.cmap.At(v); err == nil {
				fill = col
			}
			c.FillPolygon(fill, rect(x-0.5, x+0.5, y-0.5, y+0.5))
			tc := color.Color(color.Black)
			if finite(v) && math.Abs(v) > 0.6*hc.cmap.Max() {
				tc = color.White
			}
			if j < len(r.boxed) && r.boxed[j] {
				in := vg.Points(1.5)
				x0, x1, y0, y1 := trX(x-0.5)+in, trX(x+0.5)-in, trY(y-0.5)+in, trY(y+0.5)-in
				c.StrokeLines(draw.LineStyle{Color: color.Black, Width: vg.Points(1.5)},
					[]vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}, {X: x0, Y: y0}})
			}
			if j < len(r.text) && r.text[j] != "" && size >= vg.Points(5) {
				c.FillText(style(false, tc, draw.XCenter), vg.Point{X: trX(x), Y: trY(y)}, r.text[j])
			}
		}
	}
	// Column blocks: a heading over each, a rule between them.
	x := 0
	for _, b := range h.blocks {
		mid := float64(x) + float64(b.n-1)/2
		c.FillText(style(true, color.Black, draw.XCenter), vg.Point{X: trX(mid), Y: trY(float64(n))}, b.label)
		if x > 0 {
			c.StrokeLine2(draw.LineStyle{Color: ruleColor, Width: vg.Points(2)}, trX(float64(x)-0.5), trY(-0.5), trX(float64(x)-0.5), trY(float64(n)+0.5))
		}
		x += b.n
	}
}
