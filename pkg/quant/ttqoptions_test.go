package quant

import (
	"slices"
	"testing"
)

// The variants' options: parse helpers round-trip, validation refuses what
// the searches cannot run, and low rank defaults to the paper's r = 16.
func TestTTQVariantOptions(t *testing.T) {
	g, err := ParseAlphaGrid("0, 0.125,0.25")
	if err != nil || !slices.Equal(g, []float64{0, 0.125, 0.25}) {
		t.Fatalf("ParseAlphaGrid: %v %v", g, err)
	}
	if o := (TTQOptions{AlphaGrid: g}); o.AlphaGridString() != "0,0.125,0.25" {
		t.Errorf("AlphaGridString %q", o.AlphaGridString())
	}
	if g, err := ParseAlphaGrid(""); err != nil || g != nil {
		t.Errorf("empty grid: %v %v", g, err)
	}
	for _, bad := range []string{"0,1.5", "x", "0,,1", "-0.1"} {
		if _, err := ParseAlphaGrid(bad); err == nil {
			t.Errorf("ParseAlphaGrid(%q) accepted", bad)
		}
	}
	for _, n := range []string{"none", "w", "act", "act-static"} {
		l, err := ParseLowRank(n)
		if err != nil || l.String() != n {
			t.Errorf("ParseLowRank(%q) = %v, %v", n, l, err)
		}
	}
	if _, err := ParseLowRank("svd"); err == nil {
		t.Error("ParseLowRank(svd) accepted")
	}
	for _, c := range []struct {
		lr   LowRank
		rank int
		want LowRank
		r    int
	}{{LowRankNone, 0, LowRankNone, 0}, {LowRankNone, 8, LowRankWeight, 8}, {LowRankAct, 0, LowRankAct, 16},
		{LowRankWeight, 0, LowRankWeight, 16}, {LowRankActStatic, 4, LowRankActStatic, 4}} {
		if l, r := (TTQOptions{LowRank: c.lr, Rank: c.rank}).LowRankSplit(); l != c.want || r != c.r {
			t.Errorf("LowRankSplit(%v, %d) = %v, %d; want %v, %d", c.lr, c.rank, l, r, c.want, c.r)
		}
	}
	base := DefaultTTQOptions()
	for name, mod := range map[string]func(*TTQOptions){
		"negative clip grid": func(o *TTQOptions) { o.ClipGrid = -1 },
		"shrink 1":           func(o *TTQOptions) { o.ClipMaxShrink = 1 },
		"negative tokens":    func(o *TTQOptions) { o.SearchTokens = -1 },
		"α grid value 2":     func(o *TTQOptions) { o.AlphaGrid = []float64{0, 2} },
		"unknown low rank":   func(o *TTQOptions) { o.LowRank = 9 },
		"act with an α grid": func(o *TTQOptions) { o.LowRank, o.AlphaGrid = LowRankAct, []float64{0.5} },
	} {
		o := base
		mod(&o)
		if err := o.validate(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	o := base
	o.Clip, o.AlphaGrid, o.LowRank = true, []float64{0, 0.5}, LowRankActStatic
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	if s, want := o.String(), "α∈{0,0.5} λ=0.1 sumsq full clip=20/0.5 search-tokens=64 lowrank=act-static r=16"; s != want {
		t.Errorf("String() = %q, want %q", s, want)
	}
	if s, want := base.String(), "α=0.5 λ=0.1 sumsq full"; s != want {
		t.Errorf("String() = %q, want %q", s, want)
	}
	// Records keep plain TTQ's keys as they were and add the variants'.
	if r := DefaultTTQOptions().Record(); len(r) != 5 || r["rank"] != 0 || r["window"] != "full" {
		t.Errorf("plain record %v", r)
	}
	if r := o.Record(); r["lowrank"] != "act-static" || r["rank"] != 16 || r["alpha_grid"] != "0,0.5" || r["clip"] != true ||
		r["clip_grid"] != 20 || r["search_tokens"] != 64 || len(r) != 11 {
		t.Errorf("variant record %v", r)
	}
	if r := (TTQOptions{Rank: 8}).Record(); r["rank"] != 8 || r["lowrank"] != nil {
		t.Errorf("--ttq-rank record %v", r)
	}
	if p, err := TTQPreset("paper"); err != nil || p.String() != DefaultTTQOptions().String() {
		t.Errorf("paper preset %v, %v", p, err)
	}
	if p, err := TTQPreset("search"); err != nil || p.String() != "α∈{0,0.125,0.25,0.375,0.5} λ=0.1 sumsq full clip=20/0.5 search-tokens=64" {
		t.Errorf("search preset %v, %v", p, err)
	}
	if _, err := TTQPreset("fast"); err == nil {
		t.Error("unknown preset accepted")
	}
	// Subsampling keeps at most SearchTokens rows of the window.
	x := make([]float32, 100*2)
	for i := range x {
		x[i] = float32(i / 2)
	}
	for _, c := range []struct{ window, tokens, nt, last int }{{0, 64, 50, 98}, {0, 100, 100, 99}, {30, 8, 8, 28}, {0, 0, 50, 98}} {
		o := TTQOptions{Window: c.window, SearchTokens: c.tokens}
		xs, nt := ttqSubsample(x, 100, 2, o)
		if nt != c.nt || int(xs[2*(nt-1)]) != c.last || nt > o.searchTokens() {
			t.Errorf("window %d tokens %d: %d rows, last %g; want %d, %d", c.window, c.tokens, nt, xs[2*(nt-1)], c.nt, c.last)
		}
	}
}
