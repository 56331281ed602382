package quant

import (
	"math"
	"testing"
)

// ttqGolden holds the outputs of scripts/golden/ttq/ref_ttq_variants.py,
// a numpy re-implementation of TTQ's test-time variants on one linear.
type ttqGolden struct {
	Rows, Cols, Tokens, Bits, Group int
	Alpha                           float64 `json:"alpha"`
	Lambda                          float64 `json:"lambda"`
	SearchTokens                    int     `json:"search_tokens"`
	W                               []float32
	X                               []float32
	W2                              []float32 `json:"w2"`
	XCal                            []float32 `json:"x_cal"`
	D                               []float64
	Plain                           []float32
	Clip                            []float32
	ClipThresholds                  []float64 `json:"clip_thresholds"`
	ErrPlain                        float64   `json:"err_plain"`
	ErrClip                         float64   `json:"err_clip"`
	AlphaGrid                       []float64 `json:"alpha_grid"`
	AlphaBest                       float64   `json:"alpha_best"`
	AlphaLosses                     []float64 `json:"alpha_losses"`
	AlphaW                          []float32 `json:"alpha_w"`
	AlphaW2                         []float32 `json:"alpha_w2"`
	Rank                            int
	ActBA                           []float32 `json:"act_ba"`
	Act                             []float32
	DCal                            []float64 `json:"d_cal"`
	StaticBA                        []float32 `json:"static_ba"`
	Static                          []float32
}

func loadTTQGolden(t *testing.T) *ttqGolden {
	var g ttqGolden
	readTestJSON(t, "testdata/ttq_variants.json", &g)
	return &g
}

func (g *ttqGolden) format() Format {
	return Format{Bits: g.Bits, Group: g.Group, Grid: GridMinMax, Scale: ScaleF32}
}

func (g *ttqGolden) options() TTQOptions {
	o := DefaultTTQOptions()
	o.Alpha, o.Lambda, o.SearchTokens = g.Alpha, g.Lambda, g.SearchTokens
	return o
}

// effectiveTTQ is the weight a calibrated layer applies: Q(S·D)·D⁻¹ plus
// B·A with a low-rank part.
func effectiveTTQ(t *testing.T, tl *TTQLinear, x []float32, n int) []float32 {
	t.Helper()
	q := tl.Calibrate(x, n)
	w := q.Dequantize()
	rows, cols := tl.Out(), tl.In()
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			w[r*cols+c] *= q.InScale[c]
		}
	}
	if tl.rank > 0 {
		addProduct(w, tl, rows, cols)
	}
	return w
}

// addProduct adds B·A to w.
func addProduct(w []float32, tl *TTQLinear, rows, cols int) {
	k := tl.rank
	am := make([]float32, k*cols)
	bm := make([]float32, rows*k)
	tl.a.RowsTo(am, 0, k)
	tl.b.RowsTo(bm, 0, rows)
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			var s float64
			for j := 0; j < k; j++ {
				s += float64(bm[r*k+j]) * float64(am[j*cols+c])
			}
			w[r*cols+c] += float32(s)
		}
	}
}

// compareWeights fails where got and want differ beyond float32 rounding:
// tol relative to the matrix's largest |w|. flips of that many weights by
// about one grid step are allowed where the reference sits on a rounding
// tie after float32 sums in another order.
func compareWeights(t *testing.T, name string, got, want []float32, tol float64, flips int) {
	t.Helper()
	var scale float64
	for _, v := range want {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	var bad int
	var worst float64
	for i := range want {
		e := math.Abs(float64(got[i]) - float64(want[i]))
		worst = math.Max(worst, e)
		if e > tol*scale {
			bad++
		}
	}
	t.Logf("%s: %d of %d weights beyond %.0e·max|w|, worst |Δ| %.3g", name, bad, len(want), tol, worst)
	if bad > flips {
		t.Errorf("%s: %d weights differ from the reference (allowed %d)", name, bad, flips)
	}
}

func TestGoldenTTQPlain(t *testing.T) {
	g := loadTTQGolden(t)
	tl, err := NewTTQLinear(denseF32(g.W, g.Rows, g.Cols, nil), g.format(), g.options())
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range tl.Scales(g.X, g.Tokens) {
		if math.Abs(v-g.D[i]) > 1e-12*g.D[i] {
			t.Fatalf("D[%d] = %g, reference %g", i, v, g.D[i])
		}
	}
	compareWeights(t, "plain", effectiveTTQ(t, tl, g.X, g.Tokens), g.Plain, 1e-6, 0)
}

// Per-prompt clipping: the same thresholds per row and group as the
// reference's clip search on W·D against the subsampled D⁻¹·X, and the same
// quantized layer; its output error on the subsample is below plain TTQ's.
func TestGoldenTTQClip(t *testing.T) {
	g := loadTTQGolden(t)
	o := g.options()
	o.Clip = true
	tl, err := NewTTQLinear(denseF32(g.W, g.Rows, g.Cols, nil), g.format(), o)
	if err != nil {
		t.Fatal(err)
	}
	got := effectiveTTQ(t, tl, g.X, g.Tokens)
	compareWeights(t, "clip", got, g.Clip, 1e-6, 0)
	xs, nt := ttqSubsample(g.X, g.Tokens, g.Cols, o)
	if nt != 16 {
		t.Fatalf("subsample of %d tokens at most %d: %d rows", g.Tokens, o.SearchTokens, nt)
	}
	e := outputSqErr(xs, nt, g.W, got, g.Rows, g.Cols)
	if math.Abs(e-g.ErrClip) > 1e-4*g.ErrClip {
		t.Errorf("clipped output error %g, reference %g", e, g.ErrClip)
	}
	if !(g.ErrClip < g.ErrPlain) {
		t.Errorf("reference: clipping did not lower the output error (%g vs %g)", g.ErrClip, g.ErrPlain)
	}
	t.Logf("output error on the subsample: plain %.4g, clipped %.4g", g.ErrPlain, e)
}

// Per-prompt α over two layers reading one input: the reference's losses
// per grid point, its choice, and both layers quantized with it.
func TestGoldenTTQAlphaSearch(t *testing.T) {
	g := loadTTQGolden(t)
	o := g.options()
	o.AlphaGrid = g.AlphaGrid
	shared := new(sharedScales)
	var ls []*TTQLinear
	for _, w := range [][]float32{g.W, g.W2} {
		tl, err := NewTTQLinear(denseF32(w, len(w)/g.Cols, g.Cols, nil), g.format(), o)
		if err != nil {
			t.Fatal(err)
		}
		tl.join(shared)
		ls = append(ls, tl)
	}
	xs, nt := ttqSubsample(g.X, g.Tokens, g.Cols, o)
	st := ttqStat(g.X, g.Tokens, g.Cols, o)
	for i, a := range g.AlphaGrid {
		d32 := make([]float32, g.Cols)
		for c, v := range ttqPow(st, a, o.Lambda) {
			d32[c] = float32(v)
		}
		var loss float64
		for _, tl := range ls {
			src := tl.quantizedSource()
			loss += outputSqErr(xs, nt, src, fakeQuantScaled(src, tl.Out(), g.Cols, d32, tl.format, false), tl.Out(), g.Cols)
		}
		if math.Abs(loss-g.AlphaLosses[i]) > 1e-4*g.AlphaLosses[i] {
			t.Errorf("α = %g: loss %g, reference %g", a, loss, g.AlphaLosses[i])
		}
	}
	shared.reset()
	w1 := effectiveTTQ(t, ls[0], g.X, g.Tokens)
	w2 := effectiveTTQ(t, ls[1], g.X, g.Tokens)
	for _, tl := range ls {
		if tl.Alpha() != g.AlphaBest {
			t.Errorf("chose α = %g, reference %g (losses %v)", tl.Alpha(), g.AlphaBest, g.AlphaLosses)
		}
	}
	compareWeights(t, "α-searched layer 1", w1, g.AlphaW, 1e-6, 0)
	compareWeights(t, "α-searched layer 2", w2, g.AlphaW2, 1e-6, 0)
}

// Activation-aware low rank at the paper's r = 16, asked for with no rank:
// the SVD of W·D with the prompt's D, and with a static D from other
// tokens, each B·A and the whole effective layer against the reference.
func TestGoldenTTQLowRankAct(t *testing.T) {
	g := loadTTQGolden(t)
	for _, c := range []struct {
		name   string
		kind   LowRank
		ba, wt []float32
	}{
		{"act", LowRankAct, g.ActBA, g.Act},
		{"act-static", LowRankActStatic, g.StaticBA, g.Static},
	} {
		o := g.options()
		o.LowRank = c.kind
		var static []float64
		if c.kind == LowRankActStatic {
			static = ttqScales(g.XCal, len(g.XCal)/g.Cols, g.Cols, o)
			for i, v := range static {
				if math.Abs(v-g.DCal[i]) > 1e-12*g.DCal[i] {
					t.Fatalf("static D[%d] = %g, reference %g", i, v, g.DCal[i])
				}
			}
		}
		tl, err := newTTQLinear(denseF32(g.W, g.Rows, g.Cols, nil), g.format(), o, static)
		if err != nil {
			t.Fatal(err)
		}
		tl.allocateAlone()
		got := effectiveTTQ(t, tl, g.X, g.Tokens)
		if tl.rank != g.Rank {
			t.Fatalf("%s: rank %d, want the default %d", c.name, tl.rank, g.Rank)
		}
		ba := make([]float32, g.Rows*g.Cols)
		addProduct(ba, tl, g.Rows, g.Cols)
		compareWeights(t, c.name+" B·A", ba, c.ba, 1e-5, 0)
		// R = W − B·A in float32 in another summation order: a residual on
		// a rounding tie may round to the neighbouring code.
		compareWeights(t, c.name+" effective", got, c.wt, 1e-5, 2)
		if want := 32.0 * 16 * float64(g.Rows+g.Cols); tl.LowRankBits() != want {
			t.Errorf("%s: LowRankBits %g, want %g", c.name, tl.LowRankBits(), want)
		}
	}
}
