package quant

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ttqproject/ttq/pkg/eval"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/transform"
)

// ttqVariant is one row of the variants' quality table.
type ttqVariant struct {
	name   string
	method string
	mod    func(*TTQOptions)
}

var ttqVariants = []ttqVariant{
	{"rtn", "rtn", nil},
	{"awq (wikitext valid)", "awq", nil},
	{"ttq", "ttq", nil},
	{"ttq clip", "ttq", func(o *TTQOptions) { o.Clip = true }},
	{"ttq α-grid", "ttq", func(o *TTQOptions) { o.AlphaGrid = DefaultAlphaGrid }},
	{"ttq α-grid + clip", "ttq", func(o *TTQOptions) { o.AlphaGrid, o.Clip = DefaultAlphaGrid, true }},
	{"ttq lowrank w r16", "ttq", func(o *TTQOptions) { o.LowRank = LowRankWeight }},
	{"ttq lowrank act r16", "ttq", func(o *TTQOptions) { o.LowRank = LowRankAct }},
	{"ttq lowrank act-static r16", "ttq", func(o *TTQOptions) { o.LowRank = LowRankActStatic }},
	// r = 16 on the demo's 64-wide matrices costs 13 bits per weight; r = 2
	// about 1.6, nearer a matched-bits comparison.
	{"ttq lowrank w r2", "ttq", func(o *TTQOptions) { o.LowRank, o.Rank = LowRankWeight, 2 }},
	{"ttq lowrank act r2", "ttq", func(o *TTQOptions) { o.LowRank, o.Rank = LowRankAct, 2 }},
	{"ttq lowrank act-static r2", "ttq", func(o *TTQOptions) { o.LowRank, o.Rank = LowRankActStatic, 2 }},
	// Per-prompt GPTQ. (The residual-stream rotation's rows were measured
	// here too and the variant removed: docs/ttq-variants.md.)
	{"ttq gptq α=0", "ttq", func(o *TTQOptions) { o.GPTQ, o.Alpha = true, 0 }},
	{"ttq gptq", "ttq", func(o *TTQOptions) { o.GPTQ = true }},
	// Static GPTQ with the same grid, beside per-prompt GPTQ.
	{"gptq (wikitext valid)", "gptq", nil},
}

// selectVariants keeps the rows TTQ_VARIANTS_ROWS names (comma-separated,
// exact names), all of them when it is empty: a new row is measured
// without re-measuring the table.
func selectVariants(vs []ttqVariant) []ttqVariant {
	only := os.Getenv("TTQ_VARIANTS_ROWS")
	if only == "" {
		return vs
	}
	var out []ttqVariant
	for _, v := range vs {
		for _, n := range strings.Split(only, ",") {
			if strings.TrimSpace(n) == v.name {
				out = append(out, v)
			}
		}
	}
	return out
}

// ttqBench is the demo model's WikiText-2 test windows (gptq protocol) and
// a calibration set (WikiText-2 valid) for the static rows.
type ttqBench struct {
	load    func() *model.Model
	windows *eval.Windows
	calib   [][]int
}

// newTTQBench is the demo model's bench.
func newTTQBench(t *testing.T, maxWindows, nCalib int) *ttqBench {
	t.Helper()
	_, tok, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	return newModelBench(t, func() *model.Model { return loadDemo(t) }, tok, maxWindows, nCalib)
}

// newModelBench is the bench of the model load returns, tokenized by tok.
func newModelBench(t *testing.T, load func() *model.Model, tok eval.Tokenizer, maxWindows, nCalib int) *ttqBench {
	t.Helper()
	m := load()
	defer m.Close()
	p := eval.ProtocolGPTQ
	text, err := eval.WikiText("test", p)
	if err != nil {
		t.Fatal(err)
	}
	toks, bos, err := eval.TokenizeText(tok, text.Text, p, eval.BOSAuto)
	if err != nil {
		t.Fatal(err)
	}
	ctxLen, _ := eval.DefaultCtx(p, m.Config.MaxPositions)
	w, err := eval.MakeWindows(toks, p, ctxLen, maxWindows, bos)
	if err != nil {
		t.Fatal(err)
	}
	valid, err := eval.WikiText("valid", p)
	if err != nil {
		t.Fatal(err)
	}
	vt, err := tok.Encode(valid.Text, true)
	if err != nil {
		t.Fatal(err)
	}
	calib, err := SampleCalibration(vt, nCalib, ctxLen, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &ttqBench{load: load, windows: w, calib: calib}
}

// ttqRow is one measured configuration.
type ttqRow struct {
	ppl, stderr, bits float64
	// calib is the per-prompt calibration time per window and its share of
	// the evaluation's wall time (ttq rows only).
	calib   time.Duration
	calibPc float64
	alphas  string
}

func (b *ttqBench) run(t *testing.T, v ttqVariant, f Format) ttqRow {
	t.Helper()
	m := b.load()
	defer m.Close()
	o, err := DefaultOptions(v.method)
	if err != nil {
		t.Fatal(err)
	}
	o.Format = f
	if v.mod != nil {
		v.mod(&o.TTQ)
	}
	var calib [][]int
	if v.method == "awq" || v.method == "gptq" || o.TTQ.NeedsData() {
		calib = b.calib
	}
	apply(t, m, v.method, o, calib)
	res, err := eval.Perplexity(context.Background(), eval.FromModel(m), b.windows, nil, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := ttqRow{ppl: res.PPL, stderr: res.PPLStdErr, bits: modelBits(m, o)}
	if d, n := TTQStats(m); n > 0 {
		r.calib = d / time.Duration(res.Windows)
		r.calibPc = 100 * d.Seconds() / res.Seconds
	}
	if len(o.TTQ.AlphaGrid) > 0 {
		r.alphas = lastAlphas(m)
	}
	return r
}

// modelBits is the bits per weight of m's quantized linears: codes, scales
// and zeros of their format, plus every full-precision low-rank number.
func modelBits(m *model.Model, o Options) float64 {
	var bits, n float64
	for _, s := range m.Sites() {
		l, err := m.Linear(s)
		if err != nil {
			continue
		}
		var extra float64
		f := o.Format
		switch q := l.(type) {
		case *QLinear:
			f = q.Format
		case *TTQLinear:
			f, extra = q.format, q.LowRankBits()
		default:
			continue
		}
		w := float64(l.In()) * float64(l.Out())
		bits += f.EffectiveBits(l.Out(), l.In())*w + extra
		n += w
	}
	return bits / n
}

// lastAlphas lists the α each layer's group chose for the last window.
func lastAlphas(m *model.Model) string {
	var parts []string
	for l := range m.Layers {
		var as []string
		for _, name := range []string{"self_attn.q_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.down_proj"} {
			lin, _ := m.Linear(model.Site{Layer: l, Name: name})
			if tl, ok := lin.(*TTQLinear); ok {
				as = append(as, fmt.Sprintf("%g", tl.Alpha()))
			}
		}
		parts = append(parts, strings.Join(as, "/"))
	}
	return strings.Join(parts, " ")
}

// Every variant runs through TTQ.Apply on the demo model and scores a few
// windows; act-static takes its D from calibration data and refuses to run
// without.
func TestTTQVariantsOnDemo(t *testing.T) {
	b := newTTQBench(t, 2, 2)
	f := Format{Bits: 3, Group: 32, Grid: GridMinMax, Scale: ScaleF32}
	plain := b.run(t, ttqVariants[2], f)
	for _, v := range ttqVariants[3:] {
		r := b.run(t, v, f)
		t.Logf("%-28s ppl %8.2f  bits/weight %.3f  calib %v/window (%.1f%%) %s", v.name, r.ppl, r.bits, r.calib, r.calibPc, r.alphas)
		if !(r.ppl > 1 && r.ppl < 10*plain.ppl) {
			t.Errorf("%s: perplexity %g against plain TTQ's %g", v.name, r.ppl, plain.ppl)
		}
	}
	o, _ := DefaultOptions("ttq")
	o.TTQ.LowRank = LowRankActStatic
	c, _ := New("ttq", o)
	if err := c.Apply(context.Background(), loadDemo(t), nil, nil); err == nil {
		t.Error("act-static without calibration data accepted")
	}
}

// Per-request isolation holds for the searched and per-prompt-split
// variants too: a prompt's logits do not depend on the request before it.
func TestTTQVariantsRequestScope(t *testing.T) {
	for _, mod := range []func(*TTQOptions){
		func(o *TTQOptions) { o.Clip, o.AlphaGrid = true, []float64{0, 0.25, 0.5} },
		func(o *TTQOptions) { o.LowRank, o.Rank = LowRankAct, 4 },
	} {
		o, _ := DefaultOptions("ttq")
		o.Format.Bits = 3
		mod(&o.TTQ)
		m := loadDemo(t)
		apply(t, m, "ttq", o, nil)
		t.Log(o.TTQ)
		checkRequestIsolation(t, m)
	}
}

// TestTTQVariantsQuality measures the quality table of docs/ttq-variants.md:
// every variant beside RTN, AWQ and plain TTQ on the demo model, WikiText-2
// test, gptq protocol, 40 windows of 512, at 3 and 4 bits, g128 and g32.
// It takes a few minutes, so it runs only with TTQ_VARIANTS_PPL=1.
func TestTTQVariantsQuality(t *testing.T) {
	if os.Getenv("TTQ_VARIANTS_PPL") != "1" {
		t.Skip("set TTQ_VARIANTS_PPL=1 to measure the TTQ variants' quality table")
	}
	newTTQBench(t, 40, 128).table(t, ttqVariants)
}

// TestTTQVariantsQualityBabyllama is the same table on babyllama (128-wide
// matrices, 256-token windows), without the per-prompt SVD rows and with
// AWQ and act-static calibrated on 128 × 256 tokens. TTQ_VARIANTS_PPL=1 and
// the shared data only.
func TestTTQVariantsQualityBabyllama(t *testing.T) {
	if os.Getenv("TTQ_VARIANTS_PPL") != "1" {
		t.Skip("set TTQ_VARIANTS_PPL=1 to measure the TTQ variants' quality table")
	}
	load, tok := babyllama(t)
	var vs []ttqVariant
	for _, v := range ttqVariants {
		if !strings.Contains(v.name, "act r") && !strings.Contains(v.name, " w r") {
			vs = append(vs, v)
		}
	}
	newModelBench(t, load, tok, 40, 128).table(t, vs)
}

// TestTTQVariantsQualityPlanted is the table on the demo model with
// outliers planted (transform.Plant, 32:4, seed 0: four hidden channels of
// every norm ×32, the linears reading them ÷32), where rounding to nearest
// loses the channels that matter most. TTQ_VARIANTS_PPL=1 only.
func TestTTQVariantsQualityPlanted(t *testing.T) {
	if os.Getenv("TTQ_VARIANTS_PPL") != "1" {
		t.Skip("set TTQ_VARIANTS_PPL=1 to measure the TTQ variants' quality table")
	}
	_, tok, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	load := func() *model.Model {
		m := loadDemo(t)
		p, err := transform.NewPlant(transform.Spec{Factor: 32, N: 4}, m.Config.HiddenSize)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Apply(m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	newModelBench(t, load, tok, 40, 128).table(t, ttqVariants)
}

// table logs full precision and every variant at 3 and 4 bits, g128 and
// g32, as markdown rows.
func (b *ttqBench) table(t *testing.T, vs []ttqVariant) {
	fp := b.load()
	defer fp.Close()
	res, err := eval.Perplexity(context.Background(), eval.FromModel(fp), b.windows, nil, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("full precision: ppl %.2f ± %.2f (%d windows × %d)", res.PPL, res.PPLStdErr, res.Windows, b.windows.Ctx)
	vs = selectVariants(vs)
	for _, bits := range []int{3, 4} {
		for _, group := range []int{128, 32} {
			f := Format{Bits: bits, Group: group, Grid: GridMinMax, Scale: ScaleF32}
			t.Logf("| %d-bit g%d | ppl | ± | bits/weight | calib/window | %% of eval | α chosen (last window, q/o/gate/down per layer) |", bits, group)
			for _, v := range vs {
				r := b.run(t, v, f)
				t.Logf("| %s | %.2f | %.2f | %.3f | %v | %.1f | %s |", v.name, r.ppl, r.stderr, r.bits,
					r.calib.Round(time.Microsecond), r.calibPc, r.alphas)
			}
		}
	}
}

// TestTTQVariantsCausal repeats the per-prompt rows with the statistics and
// searches taken from the first 256 tokens of each 512-token window only
// (--ttq-window prefix:256), so that no scored token after them shapes its
// own weights: with the full window the searches, like D, see the tokens
// they are scored on. TTQ_VARIANTS_PPL=1 only.
func TestTTQVariantsCausal(t *testing.T) {
	if os.Getenv("TTQ_VARIANTS_PPL") != "1" {
		t.Skip("set TTQ_VARIANTS_PPL=1 to measure the TTQ variants' quality table")
	}
	b := newTTQBench(t, 40, 16)
	for _, bits := range []int{3, 4} {
		for _, group := range []int{128, 32} {
			f := Format{Bits: bits, Group: group, Grid: GridMinMax, Scale: ScaleF32}
			t.Logf("| %d-bit g%d, prefix:256 | ppl | ± |", bits, group)
			for _, v := range selectVariants(ttqVariants) {
				if v.method != "ttq" || strings.Contains(v.name, "static") || strings.Contains(v.name, " w ") {
					continue
				}
				mod := v.mod
				v.mod = func(o *TTQOptions) {
					o.Window = 256
					if mod != nil {
						mod(o)
					}
				}
				r := b.run(t, v, f)
				t.Logf("| %s | %.2f | %.2f |", v.name, r.ppl, r.stderr)
			}
		}
	}
}

// TestTTQVariantsAblation is the ablation of docs/ttq-variants.md at 3 bits:
// a fixed α = 0.25 against the searched one, the search on every token, and
// the clip search with fewer or more tokens and a coarser grid.
// TTQ_VARIANTS_PPL=1 only.
func TestTTQVariantsAblation(t *testing.T) {
	if os.Getenv("TTQ_VARIANTS_PPL") != "1" {
		t.Skip("set TTQ_VARIANTS_PPL=1 to measure the TTQ variants' quality table")
	}
	b := newTTQBench(t, 40, 16)
	grid := DefaultAlphaGrid
	for _, group := range []int{128, 32} {
		f := Format{Bits: 3, Group: group, Grid: GridMinMax, Scale: ScaleF32}
		t.Logf("| 3-bit g%d | ppl | ± | calib/window | %% of eval |", group)
		for _, v := range []ttqVariant{
			{"ttq α=0.25", "ttq", func(o *TTQOptions) { o.Alpha = 0.25 }},
			{"ttq α-grid, 512 search tokens", "ttq", func(o *TTQOptions) { o.AlphaGrid, o.SearchTokens = grid, 512 }},
			{"ttq clip, 16 search tokens", "ttq", func(o *TTQOptions) { o.Clip, o.SearchTokens = true, 16 }},
			{"ttq clip, 256 search tokens", "ttq", func(o *TTQOptions) { o.Clip, o.SearchTokens = true, 256 }},
			{"ttq clip, grid 10 (5 shrinks)", "ttq", func(o *TTQOptions) { o.Clip, o.ClipGrid = true, 10 }},
			{"ttq clip α=0.25", "ttq", func(o *TTQOptions) { o.Clip, o.Alpha = true, 0.25 }},
		} {
			r := b.run(t, v, f)
			t.Logf("| %s | %.2f | %.2f | %v | %.1f |", v.name, r.ppl, r.stderr, r.calib.Round(time.Microsecond), r.calibPc)
		}
	}
}
