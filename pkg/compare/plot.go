package compare

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// WritePlots draws the report: file gets perplexity against bits per
// weight, one line per method, for the first perplexity dataset (full
// precision as a horizontal reference line); when the report has eval
// domains, FILE-domains.EXT gets the domain-shift heat map. The format
// follows the extension (.svg or .png). It returns the files written.
func WritePlots(rep *Report, file string) ([]string, error) {
	ext := strings.ToLower(filepath.Ext(file))
	if ext != ".svg" && ext != ".png" {
		return nil, fmt.Errorf("compare: plot %s: want .svg or .png", file)
	}
	var written []string
	if p, err := pplPlot(rep); err != nil {
		return nil, err
	} else if p != nil {
		if err := p.Save(16*vg.Centimeter, 11*vg.Centimeter, file); err != nil {
			return nil, err
		}
		written = append(written, file)
	}
	if p, err := domainPlot(rep); err != nil {
		return nil, err
	} else if p != nil {
		f := strings.TrimSuffix(file, filepath.Ext(file)) + "-domains" + filepath.Ext(file)
		if err := p.Save(18*vg.Centimeter, 12*vg.Centimeter, f); err != nil {
			return nil, err
		}
		written = append(written, f)
	}
	return written, nil
}

func firstPPL(rep *Report) *DatasetInfo {
	for i := range rep.Datasets {
		if rep.Datasets[i].Kind == KindPerplexity {
			return &rep.Datasets[i]
		}
	}
	return nil
}

func pplPlot(rep *Report) (*plot.Plot, error) {
	ds := firstPPL(rep)
	if ds == nil {
		return nil, nil
	}
	p := plot.New()
	title := fmt.Sprintf("%s: %s perplexity", rep.Model.Name, ds.Name)
	if rep.Model.Synthetic {
		title += " (synthetic outliers)"
	}
	p.Title.Text = title
	p.X.Label.Text = "bits per weight (scales and zeros included)"
	p.Y.Label.Text = "perplexity (lower is better)"
	p.Legend.Top = true
	colors := plotutilColors()
	idx := 0
	for _, m := range rep.Settings.Methods {
		var pts plotter.XYs
		for i := range rep.Rows {
			r := &rep.Rows[i]
			res := r.Result(ds.Name)
			if r.Method != m || res == nil || !finite(res.PPL) {
				continue
			}
			// Domain rows of the same method and bits would stack; the
			// default calibration's row stands for them.
			if r.Calib != "" && len(rep.Settings.CalibDomains) > 0 && r.Calib != rep.Settings.CalibDomains[0] {
				continue
			}
			pts = append(pts, plotter.XY{X: r.BitsPerWeight, Y: res.PPL})
		}
		if len(pts) == 0 {
			continue
		}
		c := colors[idx%len(colors)]
		idx++
		if m == "fp" {
			// Full precision sits far to the right; draw it as a level.
			line, err := plotter.NewLine(plotter.XYs{{X: 2, Y: pts[0].Y}, {X: 8.5, Y: pts[0].Y}})
			if err != nil {
				return nil, err
			}
			line.Color = c
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(line)
			p.Legend.Add(fmt.Sprintf("fp (%.3g bits)", pts[0].X), line)
			continue
		}
		sortXY(pts)
		line, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		line.Color, sc.Color = c, c
		p.Add(line, sc)
		p.Legend.Add(m, line, sc)
	}
	p.Add(plotter.NewGrid())
	return p, nil
}

func sortXY(pts plotter.XYs) {
	for i := 1; i < len(pts); i++ {
		for j := i; j > 0 && pts[j].X < pts[j-1].X; j-- {
			pts[j], pts[j-1] = pts[j-1], pts[j]
		}
	}
}

func plotutilColors() []color.Color {
	return []color.Color{
		color.RGBA{0x33, 0x33, 0x33, 255}, color.RGBA{0xd6, 0x27, 0x28, 255}, color.RGBA{0x1f, 0x77, 0xb4, 255},
		color.RGBA{0x2c, 0xa0, 0x2c, 255}, color.RGBA{0xff, 0x7f, 0x0e, 255}, color.RGBA{0x94, 0x67, 0xbd, 255},
	}
}

// domainGrid is perplexity relative to full precision: rows × eval domains.
type domainGrid struct {
	z [][]float64 // [row][col]
}

func (g domainGrid) Dims() (int, int)   { return len(g.z[0]), len(g.z) }
func (g domainGrid) Z(c, r int) float64 { return g.z[r][c] }
func (g domainGrid) X(c int) float64    { return float64(c) }
func (g domainGrid) Y(r int) float64    { return float64(r) }

// domainPlot is the domain-shift heat map: each quantized row's perplexity
// on each eval domain divided by full precision's there (so domains of
// very different difficulty share one scale); log PPL without an fp row.
func domainPlot(rep *Report) (*plot.Plot, error) {
	var cols []DatasetInfo
	for _, ds := range rep.Datasets {
		if ds.Domain {
			cols = append(cols, ds)
		}
	}
	if len(cols) == 0 {
		return nil, nil
	}
	var fp *Row
	for i := range rep.Rows {
		if rep.Rows[i].Method == "fp" {
			fp = &rep.Rows[i]
		}
	}
	var labels []string
	var z [][]float64
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.Method == "fp" && fp != nil {
			continue
		}
		var line []float64
		for _, c := range cols {
			v := math.NaN()
			if res := r.Result(c.Name); res != nil {
				v = math.Log(res.PPL)
				if fp != nil {
					if f := fp.Result(c.Name); f != nil && f.PPL > 0 {
						v = res.PPL / f.PPL
					}
				}
			}
			line = append(line, v)
		}
		z = append(z, line)
		labels = append(labels, r.ID)
	}
	if len(z) == 0 {
		return nil, nil
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, l := range z {
		for _, v := range l {
			if finite(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if !(lo <= hi) {
		return nil, nil
	}
	if lo == hi {
		hi = lo + 1e-9
	}
	p := plot.New()
	p.Title.Text = "Domain shift: perplexity / fp perplexity (lower is better)"
	if fp == nil {
		p.Title.Text = "Domain shift: log perplexity (lower is better)"
	}
	p.X.Label.Text = "evaluation domain"
	hm := plotter.NewHeatMap(domainGrid{z}, palette.Heat(16, 1))
	hm.Min, hm.Max = lo, hi
	hm.NaN = color.RGBA{0xcc, 0xcc, 0xcc, 255}
	p.Add(hm)
	var xt, yt []plot.Tick
	for i, c := range cols {
		xt = append(xt, plot.Tick{Value: float64(i), Label: c.Name})
	}
	for i, l := range labels {
		yt = append(yt, plot.Tick{Value: float64(i), Label: l})
	}
	p.X.Tick.Marker = plot.ConstantTicks(xt)
	p.Y.Tick.Marker = plot.ConstantTicks(yt)
	// Cell values, so the map reads without a colour bar.
	var xys plotter.XYs
	var txt []string
	for r, l := range z {
		for c, v := range l {
			xys = append(xys, plotter.XY{X: float64(c), Y: float64(r)})
			txt = append(txt, fmt.Sprintf("%.3f", v))
		}
	}
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: txt})
	if err != nil {
		return nil, err
	}
	p.Add(lb)
	return p, nil
}
