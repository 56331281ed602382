package quant

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
)

// Stat is the per-input-channel activation statistic TTQ raises to α.
type Stat uint8

const (
	// StatSumSq is ‖X_i‖² = Σ_t x_{t,i}² (the paper's formula as
	// reconstructed in METHODS §2.2); it grows with the prompt length.
	StatSumSq Stat = iota + 1
	// StatMeanSq is Σ_t x_{t,i}² / T.
	StatMeanSq
	// StatMeanAbs is Σ_t |x_{t,i}| / T, AWQ's s_X.
	StatMeanAbs
)

var statNames = map[Stat]string{StatSumSq: "sumsq", StatMeanSq: "meansq", StatMeanAbs: "meanabs"}

func (s Stat) String() string { return enumName(statNames, s, "Stat") }

// ParseStat accepts "sumsq", "meansq" and "meanabs".
func ParseStat(s string) (Stat, error) {
	if v, ok := parseEnum(statNames, s); ok {
		return v, nil
	}
	return 0, fmt.Errorf("quant: unknown TTQ statistic %q (want sumsq, meansq or meanabs)", s)
}

// enumName is the name of v in names, or typ(v) for a value without one.
func enumName[T ~uint8](names map[T]string, v T, typ string) string {
	if n, ok := names[v]; ok {
		return n
	}
	return typ + "(" + strconv.Itoa(int(v)) + ")"
}

// parseEnum is the value named s in names.
func parseEnum[T ~uint8](names map[T]string, s string) (T, bool) {
	for v, n := range names {
		if n == s {
			return v, true
		}
	}
	return 0, false
}

// TTQOptions are TTQ's knobs (METHODS §2.4). The fields after Prefill's
// were added with the test-time variants and are left out of the JSON at
// their zero values, so that the JSON of the closed form — part of
// compare's cache keys — is what it was before them.
type TTQOptions struct {
	Alpha  float64
	Lambda float64
	Stat   Stat
	// Window is the number of leading prompt tokens the statistics are
	// taken from; 0 means every token of the prefill ("full"). prefix:N
	// keeps the scored tokens of a perplexity window from shaping their
	// own weights.
	Window int
	// Rank > 0 splits W = B·A + R with a rank-Rank truncated SVD, the
	// factors kept in full precision (they count in bits per weight, see
	// LowRankBits), and quantizes only R per prompt. Which matrix the SVD
	// factors is LowRank's choice; Rank 0 with LowRank set is the paper's
	// r = 16 (DefaultLowRankRank).
	Rank int
	// LowRank is what the low-rank part approximates: LowRankNone (with
	// Rank > 0: LowRankWeight, the plain SVD of W), LowRankAct (the SVD of
	// W·D with each prompt's own D, recomputed per prompt) or
	// LowRankActStatic (the SVD of W·D with D from calibration data, once).
	LowRank LowRank `json:",omitempty"`
	// Prefill says how the prompt itself is computed; the later steps of
	// a request always run on the quantized weights.
	Prefill Prefill

	// Clip turns on the per-prompt clipping search: AutoAWQ's auto_clip
	// (METHODS §3.2 step 6, awqClip) run on W·D against the prompt's own
	// inputs D⁻¹·X, on at most SearchTokens of its tokens. Each group of
	// each row keeps the shrink of its symmetric clipping threshold that
	// minimizes the output error. As in AutoAWQ, q_proj and k_proj are
	// not clipped.
	Clip bool `json:",omitempty"`
	// ClipGrid and ClipMaxShrink are the clip grid: shrinks 1 − i/ClipGrid
	// for i < ClipMaxShrink·ClipGrid; 0 means AutoAWQ's 20 and 0.5
	// (1.00 … 0.55, ten points).
	ClipGrid      int     `json:",omitempty"`
	ClipMaxShrink float64 `json:",omitempty"`
	// AlphaGrid, when not empty, chooses α per prompt and per group of
	// layers reading one input (q/k/v, gate/up, o, down): the grid value
	// whose D gives the least output error Σ‖X_s(W − Q(W·D)·D⁻¹)ᵀ‖² over
	// the group's layers, X_s the prompt's subsampled tokens; Alpha is then
	// unused. Ties go to the earlier value.
	AlphaGrid []float64 `json:",omitempty"`
	// SearchTokens bounds the tokens the per-prompt searches (Clip,
	// AlphaGrid) take their output error on: at most that many of the
	// statistics window's tokens, at an even stride from the first; 0
	// means DefaultSearchTokens.
	SearchTokens int `json:",omitempty"`

	// GPTQ quantizes Q(W·D) per prompt with GPTQ's column updates
	// (fasterquant, METHODS §4) instead of rounding to nearest: the
	// Hessian is 2·(D⁻¹X)ᵀ(D⁻¹X) from the statistics window's tokens of
	// the prompt, damped by GPTQDamp (0: 0.01, gptq's percdamp) of its
	// mean diagonal. α = 0 makes it plain per-prompt GPTQ. It costs
	// O(In³ + Out·In²) per layer and prompt, and does not combine with
	// Clip.
	GPTQ     bool    `json:",omitempty"`
	GPTQDamp float64 `json:",omitempty"`
}

// gptqOptions is the column-update routine's configuration for GPTQ.
func (o TTQOptions) gptqOptions() GPTQOptions {
	g := DefaultGPTQOptions()
	if o.GPTQDamp > 0 {
		g.Damp = o.GPTQDamp
	}
	return g
}

// DefaultLowRankRank is the rank of "TTQ (r = 16)" (METHODS §2.2 item 8),
// used when low rank is asked for with no rank.
const DefaultLowRankRank = 16

// DefaultSearchTokens is TTQOptions.SearchTokens's default.
const DefaultSearchTokens = 64

// LowRank is what TTQ's full-precision low-rank part approximates.
type LowRank uint8

const (
	// LowRankNone: no low-rank part, unless Rank > 0 (then LowRankWeight).
	LowRankNone LowRank = iota
	// LowRankWeight is the truncated SVD of W, once.
	LowRankWeight
	// LowRankAct is the truncated SVD of W·D, D the prompt's own scales,
	// redone every prompt: A absorbs D⁻¹, so W ≈ B·A with the same
	// r·(In + Out) numbers as LowRankWeight.
	LowRankAct
	// LowRankActStatic is the truncated SVD of W·D with D from the
	// calibration sequences given to Apply (their full-precision
	// activations, the same statistic, α and λ), once.
	LowRankActStatic
)

var lowRankNames = map[LowRank]string{LowRankNone: "none", LowRankWeight: "w", LowRankAct: "act", LowRankActStatic: "act-static"}

func (l LowRank) String() string { return enumName(lowRankNames, l, "LowRank") }

// ParseLowRank accepts "none", "w", "act" and "act-static".
func ParseLowRank(s string) (LowRank, error) {
	if v, ok := parseEnum(lowRankNames, s); ok {
		return v, nil
	}
	return 0, fmt.Errorf("quant: TTQ low rank %q: want none, w, act or act-static", s)
}

// LowRankSplit is the low-rank part the options ask for: its kind and
// rank, LowRankNone and 0 for none.
func (o TTQOptions) LowRankSplit() (LowRank, int) {
	switch {
	case o.LowRank == LowRankNone && o.Rank > 0:
		return LowRankWeight, o.Rank
	case o.LowRank != LowRankNone && o.Rank == 0:
		return o.LowRank, DefaultLowRankRank
	case o.LowRank == LowRankNone:
		return LowRankNone, 0
	}
	return o.LowRank, o.Rank
}

// NeedsData reports whether Apply needs calibration sequences: only
// LowRankActStatic reads them.
func (o TTQOptions) NeedsData() bool {
	lr, _ := o.LowRankSplit()
	return lr == LowRankActStatic
}

// clipOptions is the clip search as awqClip takes it, over nt tokens.
func (o TTQOptions) clipOptions(nt int) AWQOptions {
	a := AWQOptions{ClipGrid: o.ClipGrid, MaxShrink: o.ClipMaxShrink, ClipTokens: max(nt, 1)}
	if a.ClipGrid == 0 {
		a.ClipGrid = 20
	}
	if a.MaxShrink == 0 {
		a.MaxShrink = 0.5
	}
	return a
}

func (o TTQOptions) searchTokens() int {
	if o.SearchTokens > 0 {
		return o.SearchTokens
	}
	return DefaultSearchTokens
}

// ParseAlphaGrid accepts "" (no search) or comma-separated values in
// [0, 1], e.g. "0,0.125,0.25,0.375,0.5".
func ParseAlphaGrid(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var g []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(v >= 0 && v <= 1) {
			return nil, fmt.Errorf("quant: TTQ α grid %q: want comma-separated values in [0, 1]", s)
		}
		g = append(g, v)
	}
	return g, nil
}

// AlphaGridString is the grid as ParseAlphaGrid reads it ("" for none).
func (o TTQOptions) AlphaGridString() string {
	parts := make([]string, len(o.AlphaGrid))
	for i, v := range o.AlphaGrid {
		parts[i] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

// Record is every knob for a result record (JSON): alpha, lambda, stat,
// window and rank always, as reports recorded them before the variants;
// prefill, clip, clip_grid, clip_max_shrink, alpha_grid, search_tokens and
// lowrank only when they differ from the closed form's defaults, so that
// the records (and cache keys built from them) of plain TTQ stay as they
// were. rank is the rank in use (16 for low rank asked with none).
func (o TTQOptions) Record() map[string]any {
	lr, rank := o.LowRankSplit()
	r := map[string]any{"alpha": o.Alpha, "lambda": o.Lambda, "stat": o.Stat.String(), "window": o.WindowString(), "rank": rank}
	if o.Prefill != PrefillQuantized {
		r["prefill"] = o.Prefill.String()
	}
	if o.Clip {
		c := o.clipOptions(0)
		r["clip"], r["clip_grid"], r["clip_max_shrink"] = true, c.ClipGrid, c.MaxShrink
	}
	if len(o.AlphaGrid) > 0 {
		r["alpha_grid"] = o.AlphaGridString()
	}
	if o.Clip || len(o.AlphaGrid) > 0 {
		r["search_tokens"] = o.searchTokens()
	}
	if lr != LowRankNone && lr != LowRankWeight {
		r["lowrank"] = lr.String()
	}
	if o.GPTQ {
		r["gptq"], r["gptq_damp"] = true, o.gptqOptions().Damp
	}
	return r
}

// String is a one-line description of the options, for reports: the
// closed form and then only the variants that are on.
func (o TTQOptions) String() string {
	var b strings.Builder
	if len(o.AlphaGrid) > 0 {
		fmt.Fprintf(&b, "α∈{%s}", o.AlphaGridString())
	} else {
		fmt.Fprintf(&b, "α=%g", o.Alpha)
	}
	fmt.Fprintf(&b, " λ=%g %v %s", o.Lambda, o.Stat, o.WindowString())
	if o.Clip {
		c := o.clipOptions(0)
		fmt.Fprintf(&b, " clip=%d/%g", c.ClipGrid, c.MaxShrink)
	}
	if o.Clip || len(o.AlphaGrid) > 0 {
		fmt.Fprintf(&b, " search-tokens=%d", o.searchTokens())
	}
	if lr, r := o.LowRankSplit(); lr != LowRankNone {
		fmt.Fprintf(&b, " lowrank=%v r=%d", lr, r)
	}
	if o.GPTQ {
		fmt.Fprintf(&b, " gptq(damp %g)", o.gptqOptions().Damp)
	}
	if o.Prefill != PrefillQuantized {
		fmt.Fprintf(&b, " prefill=%v", o.Prefill)
	}
	return b.String()
}

// Prefill is how a TTQ layer computes the prompt whose statistics it takes.
type Prefill uint8

const (
	// PrefillQuantized, the paper's scoring (METHODS §2): the prompt runs
	// on the weights quantized for it, so its perplexity measures them.
	PrefillQuantized Prefill = iota
	// PrefillDense runs the prompt at full precision while its statistics
	// are taken, then quantizes once for the decode steps: a request costs
	// the full-precision prefill plus one re-quantization, and every
	// generated token is a quantized one.
	PrefillDense
)

var prefillNames = map[Prefill]string{PrefillQuantized: "quantized", PrefillDense: "dense"}

func (p Prefill) String() string { return enumName(prefillNames, p, "Prefill") }

// ParsePrefill accepts "quantized" and "dense".
func ParsePrefill(s string) (Prefill, error) {
	if v, ok := parseEnum(prefillNames, s); ok {
		return v, nil
	}
	return 0, fmt.Errorf("quant: TTQ prefill %q: want quantized or dense", s)
}

// DefaultTTQOptions: α = 0.5, λ = 0.1, Σx², full window, no low rank.
func DefaultTTQOptions() TTQOptions {
	return TTQOptions{Alpha: 0.5, Lambda: 0.1, Stat: StatSumSq}
}

// DefaultAlphaGrid is the α grid of the "search" preset.
var DefaultAlphaGrid = []float64{0, 0.125, 0.25, 0.375, 0.5}

// ttqPresets are whole TTQ configurations by name: "paper", the closed
// form of METHODS §2 (DefaultTTQOptions); "search", per-prompt α grid and
// clipping; and "gptq", per-prompt GPTQ with α = 0 (no D: on the demo,
// the planted demo and babyllama D helped GPTQ in 2 of 16 cells, each by
// under one standard error), the best configuration measured
// (docs/ttq-variants.md). Neither is the default: two tiny models decide
// nothing.
var ttqPresets = []struct {
	name string
	opts func() TTQOptions
}{
	{"paper", DefaultTTQOptions},
	{"search", func() TTQOptions {
		o := DefaultTTQOptions()
		o.Clip, o.AlphaGrid = true, slices.Clone(DefaultAlphaGrid)
		return o
	}},
	{"gptq", func() TTQOptions {
		o := DefaultTTQOptions()
		o.GPTQ, o.Alpha = true, 0
		return o
	}},
}

// TTQPreset returns the options of a named preset ("paper", "search" or
// "gptq").
func TTQPreset(name string) (TTQOptions, error) {
	for _, p := range ttqPresets {
		if p.name == name {
			return p.opts(), nil
		}
	}
	return TTQOptions{}, fmt.Errorf("quant: TTQ preset %q: want %s", name, strings.Join(TTQPresetNames(), " or "))
}

// TTQPresetNames lists the presets in a fixed order.
func TTQPresetNames() []string {
	var n []string
	for _, p := range ttqPresets {
		n = append(n, p.name)
	}
	return n
}

// WindowString is "full" or "prefix:N".
func (o TTQOptions) WindowString() string {
	if o.Window <= 0 {
		return "full"
	}
	return "prefix:" + strconv.Itoa(o.Window)
}

// ParseWindow accepts "full" and "prefix:N" (N ≥ 1).
func ParseWindow(s string) (int, error) {
	if s == "full" {
		return 0, nil
	}
	if n, ok := strings.CutPrefix(s, "prefix:"); ok {
		if v, err := strconv.Atoi(n); err == nil && v >= 1 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("quant: TTQ window %q: want full or prefix:N with N ≥ 1", s)
}

func (o TTQOptions) validate() error {
	switch {
	case !(o.Alpha >= 0 && o.Alpha <= 1):
		return fmt.Errorf("quant: TTQ α = %g outside [0, 1]", o.Alpha)
	case !(o.Lambda >= 0) || math.IsInf(o.Lambda, 0):
		return fmt.Errorf("quant: TTQ λ = %g must be finite and ≥ 0", o.Lambda)
	case o.Window < 0:
		return fmt.Errorf("quant: TTQ window %d < 0", o.Window)
	case o.Rank < 0:
		return fmt.Errorf("quant: TTQ rank %d < 0", o.Rank)
	case o.ClipGrid < 0 || !(o.ClipMaxShrink >= 0 && o.ClipMaxShrink < 1):
		return fmt.Errorf("quant: TTQ clip grid %d / max shrink %g: want a grid ≥ 0 and a shrink in [0, 1)", o.ClipGrid, o.ClipMaxShrink)
	case o.SearchTokens < 0:
		return fmt.Errorf("quant: TTQ search tokens %d < 0", o.SearchTokens)
	case !(o.GPTQDamp >= 0 && o.GPTQDamp < 1):
		return fmt.Errorf("quant: TTQ GPTQ damping %g outside [0, 1)", o.GPTQDamp)
	case o.GPTQ && o.Clip:
		return fmt.Errorf("quant: TTQ GPTQ does not combine with clipping")
	}
	for _, a := range o.AlphaGrid {
		if !(a >= 0 && a <= 1) {
			return fmt.Errorf("quant: TTQ α grid value %g outside [0, 1]", a)
		}
	}
	if _, ok := lowRankNames[o.LowRank]; !ok {
		return fmt.Errorf("quant: invalid TTQ low rank %v", o.LowRank)
	}
	if o.LowRank == LowRankAct && len(o.AlphaGrid) > 0 {
		// The per-prompt split needs D before the α search could choose it.
		return fmt.Errorf("quant: TTQ low rank act (per-prompt SVD of W·D) does not combine with an α grid; use act-static or w")
	}
	if _, ok := statNames[o.Stat]; !ok {
		return fmt.Errorf("quant: invalid TTQ statistic %v", o.Stat)
	}
	if _, ok := prefillNames[o.Prefill]; !ok {
		return fmt.Errorf("quant: invalid TTQ prefill %v", o.Prefill)
	}
	return nil
}

// TTQ installs test-time quantized layers (METHODS §2).
type TTQ struct{ Opts Options }

func (t *TTQ) Name() string { return "ttq" }

// Apply wraps every decoder-layer linear of m in a TTQLinear. calib is
// read only by LowRankActStatic, whose D comes from it; otherwise it is
// ignored. A low-rank split that does not depend on the prompt is
// computed here, once per matrix.
func (t *TTQ) Apply(ctx context.Context, m *model.Model, calib [][]int, progress Progress) error {
	o := t.Opts.TTQ
	if err := o.validate(); err != nil {
		return err
	}
	var static map[model.Site][]float64
	if o.NeedsData() {
		if len(calib) == 0 {
			return fmt.Errorf("quant: ttq low rank act-static needs calibration data")
		}
		var err error
		if static, err = ttqStaticScales(ctx, m, calib, o); err != nil {
			return err
		}
	}
	// Every layer is built before any replaces its Dense, so that an error
	// leaves the model as it was, and all re-quantize into one arena.
	type built struct {
		site model.Site
		tl   *TTQLinear
	}
	var layers []built
	var sizes []int
	for l := range m.Layers {
		// q/k/v read one input (the attention norm's output) and gate/up
		// another: each group computes D once per request (METHODS §2.4).
		attnIn, mlpIn := new(sharedScales), new(sharedScales)
		for _, s := range layerSites(l) {
			if err := ctx.Err(); err != nil {
				return err
			}
			lin, err := m.Linear(s)
			if err != nil {
				return err
			}
			d, ok := lin.(*model.Dense)
			if !ok {
				return fmt.Errorf("quant: %s: %w (%T); TTQ needs a full-precision model", s, errQuantized, lin)
			}
			f, keep, err := t.Opts.formatFor(s, d.In())
			if err != nil {
				return err
			}
			if keep {
				continue
			}
			tl, err := newTTQLinear(d, f, o, static[s])
			if err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
			switch s.Name {
			case "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj":
				tl.join(attnIn)
			case "mlp.gate_proj", "mlp.up_proj":
				tl.join(mlpIn)
			}
			// AutoAWQ does not clip q and k, whose errors the attention
			// scores amplify.
			tl.noClip = s.Name == "self_attn.q_proj" || s.Name == "self_attn.k_proj"
			layers = append(layers, built{s, tl})
			sizes = append(sizes, tl.bufferSizes()...)
		}
		progress.report(l+1, len(m.Layers))
	}
	arena := kernels.NewArena(kernels.ArenaSize(sizes...))
	for _, b := range layers {
		b.tl.allocate(arena)
		if err := m.SetLinear(b.site, b.tl); err != nil {
			return err
		}
	}
	return nil
}

// TTQLinear quantizes a full-precision layer anew for every request: the
// first Forward after BeginRequest (the prompt's prefill) measures its
// input, builds Q(W·D) with D⁻¹ folded into the activations, and every
// later Forward of the request (decode steps, multiple-choice
// continuations) reuses it. A TTQLinear serves one request at a time, so
// each request re-quantizes into the same buffers: fresh ones per request
// cost more in page faults than the quantization itself.
type TTQLinear struct {
	base   *model.Dense
	format Format
	opts   TTQOptions
	// Low-rank split (rank > 0): W = B·A + R; per prompt with LowRankAct.
	lowRank LowRank
	rank    int
	a, b    kernels.Weights // A: rank×In, B: Out×rank
	r       []float32       // R: Out×In
	// noClip exempts the layer from the clip search (q_proj, k_proj).
	noClip bool

	mu  sync.Mutex
	cur *QLinear
	// own holds the buffers every request re-quantizes into, pieces of
	// arena, which must stay reachable as long as they are.
	own   *QLinear
	arena *kernels.Arena
	// shared, when set, holds D for the layers that read the same input.
	shared *sharedScales
	// alpha holds the bits of the α of the last calibration (the searched
	// one with an α grid); another layer of the group may set it.
	alpha atomic.Uint64

	calibNanos atomic.Int64
	calibCount atomic.Int64
	// scaleNanos is the part of calibNanos spent on D: statistic, α
	// search, scales.
	scaleNanos atomic.Int64
	// d32 is D in float32 for the fused dense prefill (prefillFused).
	d32 []float32
}

// NewTTQLinear prepares a test-time quantized layer over d. LowRankActStatic
// needs calibration data and is built by TTQ.Apply.
func NewTTQLinear(d *model.Dense, f Format, o TTQOptions) (*TTQLinear, error) {
	t, err := newTTQLinear(d, f, o, nil)
	if err != nil {
		return nil, err
	}
	t.allocateAlone()
	return t, nil
}

// newTTQLinear is NewTTQLinear with the static D of LowRankActStatic and
// without the buffers (allocate).
func newTTQLinear(d *model.Dense, f Format, o TTQOptions, static []float64) (*TTQLinear, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	t := &TTQLinear{base: d, format: f, opts: o}
	t.alpha.Store(math.Float64bits(o.Alpha))
	t.lowRank, t.rank = o.LowRankSplit()
	if t.rank >= min(d.Out(), d.In()) {
		return nil, fmt.Errorf("quant: TTQ rank %d must be below min(%d, %d)", t.rank, d.Out(), d.In())
	}
	t.d32 = make([]float32, d.In())
	switch t.lowRank {
	case LowRankWeight:
		return t, t.split(nil)
	case LowRankActStatic:
		if len(static) != d.In() {
			return nil, fmt.Errorf("quant: TTQ low rank act-static needs %d static scales, got %d", d.In(), len(static))
		}
		return t, t.split(static)
	}
	return t, nil
}

// bufferSizes are the byte lengths of the buffers every request
// re-quantizes into: codes, scales, zero points.
func (t *TTQLinear) bufferSizes() []int {
	codes, scales, zeros := qlinearLens(t.format, t.Out(), t.In())
	return []int{codes, 4 * scales, zeros}
}

// allocate gives t, from a (which holds bufferSizes), the buffers every
// request re-quantizes into.
func (t *TTQLinear) allocate(a *kernels.Arena) {
	codes, scales, zeros := qlinearLens(t.format, t.Out(), t.In())
	q := &QLinear{Format: t.format, Rows: t.Out(), Cols: t.In(), Q: a.Bytes(codes), Scales: a.Float32s(scales)}
	if t.format.HasZeros() {
		q.Zeros = a.Bytes(zeros)
	}
	t.own, t.arena = t.withInputs(q), a
}

// allocateAlone is allocate from an arena of t's own.
func (t *TTQLinear) allocateAlone() {
	t.allocate(kernels.NewArena(kernels.ArenaSize(t.bufferSizes()...)))
}

// join makes t one of the layers that read the input s stands for.
func (t *TTQLinear) join(s *sharedScales) {
	t.shared = s
	s.members = append(s.members, t)
}

// split computes the truncated SVD split of W·diag(d) in float64 (d nil:
// of W): W·D ≈ U_r·Σ_r·V_rᵀ, B = U_r·Σ_r, A = V_rᵀ·D⁻¹, so that B·A
// approximates W with D's weighting of the input channels, and
// R = W − B·A with the float32 factors actually used at inference.
func (t *TTQLinear) split(d []float64) error {
	rows, cols := t.base.W.Rows, t.base.W.Cols
	k := t.rank
	w := make([]float32, rows*cols)
	t.base.W.RowsTo(w, 0, rows)
	w64 := make([]float64, len(w))
	for i, v := range w {
		w64[i] = float64(v)
		if d != nil {
			w64[i] *= d[i%cols]
		}
	}
	var svd mat.SVD
	if !svd.Factorize(mat.NewDense(rows, cols, w64), mat.SVDThin) {
		return fmt.Errorf("quant: SVD did not converge")
	}
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	sv := svd.Values(nil)
	bm := make([]float32, rows*k)
	am := make([]float32, k*cols)
	for i := 0; i < rows; i++ {
		for j := 0; j < k; j++ {
			bm[i*k+j] = float32(u.At(i, j) * sv[j])
		}
	}
	for j := 0; j < k; j++ {
		for c := 0; c < cols; c++ {
			a := v.At(c, j)
			if d != nil {
				a /= d[c]
			}
			am[j*cols+c] = float32(a)
		}
	}
	t.a = kernels.NewWeightsF32(k, cols, am)
	t.b = kernels.NewWeightsF32(rows, k, bm)
	ba := make([]float32, rows*cols)
	kernels.MatMulT(ba, bm, rows, kernels.NewWeightsF32(cols, k, transpose(am, k, cols)))
	if t.r == nil {
		t.r = make([]float32, rows*cols)
	}
	for i := range w {
		t.r[i] = w[i] - ba[i]
	}
	return nil
}

func transpose(x []float32, rows, cols int) []float32 {
	out := make([]float32, len(x))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			out[j*rows+i] = x[i*cols+j]
		}
	}
	return out
}

func (t *TTQLinear) In() int  { return t.base.In() }
func (t *TTQLinear) Out() int { return t.base.Out() }

// BeginRequest implements model.RequestScoped: the next Forward calibrates.
func (t *TTQLinear) BeginRequest() {
	t.mu.Lock()
	t.cur = nil
	t.mu.Unlock()
	if t.shared != nil {
		t.shared.reset()
	}
}

// sharedScales remembers the D computed for one input of one request, so
// that the other layers reading the same activations (q/k/v, gate/up) skip
// recomputing the statistics; members are those layers, whose output errors
// an α grid search sums. The input is recognized by its backing array
// and row count; BeginRequest clears it, because the model reuses its
// buffers from one request to the next.
type sharedScales struct {
	members []*TTQLinear

	mu   sync.Mutex
	x    *float32
	rows int
	d    []float64
	// fac is GPTQ's factor of the input's Hessian under D, for x too.
	fac *gptqFactor
}

func (s *sharedScales) reset() {
	s.mu.Lock()
	s.x, s.d, s.fac = nil, nil, nil
	s.mu.Unlock()
}

// factor is GPTQ's factor for the input x whose D get returned last,
// computed once for the layers that share it.
func (s *sharedScales) factor(x []float32, rows int, compute func() (*gptqFactor, error)) (*gptqFactor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fac != nil && len(x) > 0 && s.x == &x[0] && s.rows == rows {
		return s.fac, nil
	}
	f, err := compute()
	if err == nil && len(x) > 0 && s.x == &x[0] && s.rows == rows {
		s.fac = f
	}
	return f, err
}

func (s *sharedScales) get(x []float32, rows int, compute func() []float64) []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.known(x, rows); d != nil {
		return d
	}
	d := compute()
	s.remember(x, rows, d)
	return d
}

// lookup is the D stored for x this request, or nil.
func (s *sharedScales) lookup(x []float32, rows int) []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.known(x, rows)
}

// store keeps d as the D for x.
func (s *sharedScales) store(x []float32, rows int, d []float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remember(x, rows, d)
}

func (s *sharedScales) known(x []float32, rows int) []float64 {
	if s.d != nil && len(x) > 0 && s.x == &x[0] && s.rows == rows {
		return s.d
	}
	return nil
}

func (s *sharedScales) remember(x []float32, rows int, d []float64) {
	s.d = d
	if len(x) > 0 {
		s.x, s.rows = &x[0], rows
	}
}

// LowRankBits is the storage, in bits, of the full-precision low-rank
// factors A and B that --ttq-rank keeps beside the quantized residual
// (r·(In + Out) numbers as they are held, float32); 0 without them. They
// count in bits per weight like scales and zeros do.
//
// The count is the same for every LowRank kind: LowRankAct folds D⁻¹ into
// A, and its per-prompt factors replace the previous prompt's.
func (t *TTQLinear) LowRankBits() float64 {
	return 32 * float64(t.rank) * float64(t.In()+t.Out())
}

// Alpha is the α of the layer's last calibration: Alpha, or the value the
// α grid chose for the last prompt.
func (t *TTQLinear) Alpha() float64 { return math.Float64frombits(t.alpha.Load()) }

// Forward implements model.Linear.
func (t *TTQLinear) Forward(dst, x []float32, rows int) {
	t.mu.Lock()
	q := t.cur
	prefill := q == nil
	if prefill {
		start := time.Now()
		q, t.cur = t.own, t.own
		if t.fusedPrefill() {
			scales, requant := t.prefillFused(q, dst, x, rows)
			t.count(scales, scales+requant)
			t.mu.Unlock()
			return
		}
		scales := t.calibrateInto(t.own, x, rows)
		t.count(scales, time.Since(start))
	}
	t.mu.Unlock()
	if prefill && t.opts.Prefill == PrefillDense {
		t.base.Forward(dst, x, rows)
		return
	}
	q.Forward(dst, x, rows)
	if t.rank > 0 {
		n, k := t.Out(), t.rank
		xa := scratch.Get(rows * k)
		lr := scratch.Get(rows * n)
		kernels.MatMulT(*xa, x, rows, t.a)
		kernels.MatMulT(*lr, *xa, rows, t.b)
		kernels.Add(dst[:rows*n], *lr)
		scratch.Put(xa)
		scratch.Put(lr)
	}
}

// count records one calibration that took total, scales of it on D.
func (t *TTQLinear) count(scales, total time.Duration) {
	t.scaleNanos.Add(int64(scales))
	t.calibNanos.Add(int64(total))
	t.calibCount.Add(1)
}

// Scales returns D for the given activations (rows × In): the statistic
// over the window's rows, plus λ, to the power α. Entries that come out
// zero or non-finite (a dead channel with λ = 0) are set to 1, as AutoAWQ
// does for its scales, so that D⁻¹ stays finite.
func (t *TTQLinear) Scales(x []float32, rows int) []float64 {
	return ttqScales(x, rows, t.In(), t.opts)
}

func ttqScales(x []float32, rows, cols int, o TTQOptions) []float64 {
	return ttqPow(ttqStat(x, rows, cols, o), o.Alpha, o.Lambda)
}

// ttqStat is the statistic of every input channel over the window's rows.
func ttqStat(x []float32, rows, cols int, o TTQOptions) []float64 {
	n := ttqWindowRows(rows, o)
	st := make([]float64, cols)
	if o.Stat == StatMeanAbs {
		kernels.ColumnSumAbs(st, x, n)
	} else {
		kernels.ColumnSumSq(st, x, n)
	}
	return ttqMean(st, n, o)
}

// ttqMean turns column sums over n rows into the statistic o names: the
// sums themselves, or their means. It divides st in place.
func ttqMean(st []float64, n int, o TTQOptions) []float64 {
	if o.Stat != StatSumSq && n > 0 {
		for c := range st {
			st[c] /= float64(n)
		}
	}
	return st
}

// ttqWindowRows is how many leading rows of a prompt's rows the statistics
// are taken from.
func ttqWindowRows(rows int, o TTQOptions) int {
	if o.Window > 0 {
		return min(rows, o.Window)
	}
	return rows
}

// ttqPow is D = (st + λ)^α, with zero or non-finite entries set to 1.
func ttqPow(st []float64, alpha, lambda float64) []float64 {
	d := make([]float64, len(st))
	// α = ½ takes math.Pow's own answer for it, math.Sqrt, inline:
	// BenchmarkTTQPow/0.5 takes 31–34 µs for 5632 channels, against 50 µs
	// through math.Pow's call and special cases before b0248e2 (#9).
	sqrt := alpha == 0.5
	for c, v := range st {
		var e float64
		if sqrt {
			e = math.Sqrt(v + lambda)
		} else {
			e = math.Pow(v+lambda, alpha)
		}
		if !(e > 0) || math.IsInf(e, 0) {
			e = 1
		}
		d[c] = e
	}
	return d
}

// Calibrate builds a quantized layer from activations x (rows × In): codes
// of Q(W·D) (of R·D with low rank) and InScale = D⁻¹. The layer is the
// caller's; Forward re-quantizes into buffers of its own instead. With
// LowRankAct it also re-splits t for x (B, A and R are t's).
func (t *TTQLinear) Calibrate(x []float32, rows int) *QLinear {
	q := t.newQuantized()
	t.calibrateInto(q, x, rows)
	return q
}

func (t *TTQLinear) newQuantized() *QLinear {
	return t.withInputs(NewQLinear(t.format, t.Out(), t.In()))
}

// withInputs gives q, a layer of t's shape, its InScale and t's bias.
func (t *TTQLinear) withInputs(q *QLinear) *QLinear {
	q.InScale = make([]float32, t.In())
	q.Bias = t.base.Bias
	return q
}

// calibrateInto overwrites q (from newQuantized) with the layer for x. It
// returns the time it took to make D.
func (t *TTQLinear) calibrateInto(q *QLinear, x []float32, rows int) time.Duration {
	start := time.Now()
	d := t.scalesFor(x, rows)
	scales := time.Since(start)
	n, k := t.Out(), t.In()
	if t.lowRank == LowRankAct {
		if err := t.split(d); err != nil {
			// No split this prompt: B = 0, R = W.
			t.a = kernels.NewWeightsF32(t.rank, k, make([]float32, t.rank*k))
			t.b = kernels.NewWeightsF32(n, t.rank, make([]float32, n*t.rank))
			t.r = make([]float32, n*k)
			t.base.W.RowsTo(t.r, 0, n)
		}
	}
	d32 := make([]float32, k)
	setInScale(q, d, d32)
	f := t.format
	src := t.base.W
	if t.r != nil {
		src = kernels.NewWeightsF32(n, k, t.r)
	}
	// TTQ's default format has a fused kernel (one pass from the stored
	// weights to packed codes); rows it does not take go the general way,
	// which computes the same codes.
	fused := f.Bits == 4 && f.Group == 32 && f.Grid == GridMinMax
	if t.opts.GPTQ && t.gptqInto(q, src, d, d32, x, rows) {
		return scales
	}
	scale := d32
	if t.opts.Clip && !t.noClip {
		// The clipped matrix is S·D already.
		src = kernels.NewWeightsF32(n, k, t.clipScaled(src, d32, x, rows))
		scale, fused = nil, false
	}
	kernels.ParallelFor(n, 8, func(lo, hi int) { requantRows(q, src, scale, f, fused, lo, hi) })
	return scales
}

// setInScale writes D rounded to float32 into d32 and its inverse into
// q.InScale.
func setInScale(q *QLinear, d []float64, d32 []float32) {
	for c, v := range d {
		d32[c] = float32(v)
		q.InScale[c] = 1 / d32[c]
	}
}

// requantRows sets rows [lo, hi) of q to the codes of src's rows times
// scale (nil: src as it is) in q's format: by the fused kernel where fused
// and it takes the row, else the general way, which gives the same codes.
func requantRows(q *QLinear, src kernels.Weights, scale []float32, f Format, fused bool, lo, hi int) {
	k := src.Cols
	ng, rb := f.NumGroups(k), f.RowBytes(k)
	var tmp *[]float32
	if fused {
		tmp = scratch.Get(kernels.RequantScratch(k))
		defer scratch.Put(tmp)
	}
	var w []float32 // the general path's buffers, made at its first row
	var codes []uint8
	var sc []float32
	var zs []int32
	for r := lo; r < hi; r++ {
		if fused && kernels.RequantRow4G32(q.Q[r*rb:(r+1)*rb], q.Scales[r*ng:(r+1)*ng], q.Zeros[r*ng:(r+1)*ng],
			src, r, scale, f.Scale == ScaleF16, *tmp) {
			continue
		}
		if w == nil {
			w, codes, sc, zs = make([]float32, k), make([]uint8, k), make([]float32, ng), make([]int32, ng)
		}
		src.Row(w, r)
		quantizeRowScaled(codes, sc, zs, w, scale, f)
		q.SetRow(r, codes, sc, zs)
	}
}

// fusedPrefill reports whether the dense prefill re-quantizes while it
// multiplies (prefillFused): TTQ's default format where the fused kernels
// run (AVX-512), on the layer's own weights — no low-rank residual, clip
// search or GPTQ, which quantize other matrices than the one the product
// reads. Shapes and weight types the kernels refuse are theirs to hand
// back (MatMulTRequant's redo, requantRows' general path).
func (t *TTQLinear) fusedPrefill() bool {
	f := t.format
	return t.opts.Prefill == PrefillDense && kernels.RequantFused() &&
		f.Bits == 4 && f.Group == 32 && f.Grid == GridMinMax &&
		t.rank == 0 && t.r == nil && !t.opts.GPTQ && !(t.opts.Clip && !t.noClip)
}

// prefillFused is the dense prefill of a layer that fusedPrefill admits:
// dst = x·Wᵀ (+ bias) at full precision, and q re-quantized for x, each
// block of W's rows as soon as the product has used it, so that the
// re-quantization reads the weights from cache instead of from memory a
// second time. The statistic, unless a layer reading the same x has made
// D already or an α grid is searched, is taken as the product packs x
// (kernels.ColumnStat). The
// codes are calibrateInto's (requantRows, both). It returns the
// calibration's share of the time, split into D (made on the caller, plus
// the statistic summed over the threads and divided by their number) and
// the re-quantization of the blocks (summed and divided likewise).
func (t *TTQLinear) prefillFused(q *QLinear, dst, x []float32, rows int) (scales, requant time.Duration) {
	var statSpent, requantSpent atomic.Int64
	var made time.Duration // D from the statistic, on the caller
	rq := kernels.Requant4G32{Codes: q.Q, Scales: q.Scales, Zeros: q.Zeros, D: t.d32, F16: t.format.Scale == ScaleF16, Spent: &requantSpent}
	start := time.Now()
	if d := t.knownScales(x, rows); d != nil || len(t.opts.AlphaGrid) > 0 {
		// Known, or the α search's own passes over x.
		if d == nil {
			d = t.scalesFor(x, rows)
		}
		setInScale(q, d, t.d32)
		made = time.Since(start)
	} else {
		o := t.opts
		stat := &kernels.ColumnStat{Sums: make([]float64, t.In()), Rows: ttqWindowRows(rows, o), Abs: o.Stat == StatMeanAbs, Spent: &statSpent}
		stat.Ready = func() {
			start := time.Now()
			d := ttqPow(ttqMean(stat.Sums, stat.Rows, o), o.Alpha, o.Lambda)
			if t.shared != nil {
				t.shared.store(x, rows, d)
			}
			setInScale(q, d, t.d32)
			made = time.Since(start)
		}
		rq.Stat = stat
	}
	t.base.ForwardRequant(dst, x, rows, rq, func(j0, j1 int) {
		s := time.Now()
		requantRows(q, t.base.W, t.d32, t.format, true, j0, j1)
		requantSpent.Add(int64(time.Since(s)))
	})
	threads := int64(kernels.Threads())
	return made + time.Duration(statSpent.Load()/threads), time.Duration(requantSpent.Load() / threads)
}

// knownScales is D for x when a layer reading x has made it this request,
// else nil.
func (t *TTQLinear) knownScales(x []float32, rows int) []float64 {
	if t.shared == nil {
		return nil
	}
	return t.shared.lookup(x, rows)
}

// TTQStats sums, over m's TTQ layers, the time spent calibrating and the
// number of calibrations since the model was quantized.
func TTQStats(m *model.Model) (time.Duration, int) {
	var d time.Duration
	var n int
	for _, t := range ttqLayers(m) {
		d += time.Duration(t.calibNanos.Load())
		n += int(t.calibCount.Load())
	}
	return d, n
}

// TTQScaleTime is the part of TTQStats' time spent making D (the
// statistics, any α search, the scales); the rest re-quantized weights.
func TTQScaleTime(m *model.Model) time.Duration {
	var d time.Duration
	for _, t := range ttqLayers(m) {
		d += time.Duration(t.scaleNanos.Load())
	}
	return d
}

func ttqLayers(m *model.Model) []*TTQLinear {
	var ls []*TTQLinear
	for _, s := range m.Sites() {
		if l, err := m.Linear(s); err == nil {
			if t, ok := l.(*TTQLinear); ok {
				ls = append(ls, t)
			}
		}
	}
	return ls
}
