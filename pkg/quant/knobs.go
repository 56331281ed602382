package quant

import (
	"fmt"
	"strconv"
)

// MethodOptions chooses a quantization method and sets every knob it has,
// the way `ttq quantize`, `ttq eval` and `ttq generate` take them as flags.
// Start from DefaultMethodOptions; Resolve validates and turns them into
// the Options the calibrators read.
type MethodOptions struct {
	Method string
	Bits   int
	// Group 0 means the method's default (128; ttq 32); −1 per-channel.
	Group int
	// Grid "" means the method's default (minmax; gptq minmax0).
	Grid   string
	Scales string
	Ragged string

	// Calib names the calibration text of awq and gptq (see
	// CalibrationText); CalibText, when not empty, is that text itself,
	// and Calib then only names it.
	Calib       string
	CalibText   string
	NSamples    int
	CalibSeqLen int
	Seed        uint64

	AWQNoDuo  bool
	AWQNoClip bool

	GPTQDamp      float64
	GPTQBlockSize int
	GPTQActOrder  bool
	GPTQStatic    bool

	TTQAlpha  float64
	TTQLambda float64
	TTQStat   string
	TTQWindow string
	TTQRank   int
	// TTQPrefill "" is the caller's default; the paper's "quantized"
	// scoring unless set.
	TTQPrefill string
	// TTQPreset "" or "paper" is the closed form; "search" turns on the
	// per-prompt α grid (DefaultAlphaGrid unless TTQAlphaGrid is given)
	// and clipping; "gptq" per-prompt GPTQ at α = 0 (TTQAlpha unused).
	TTQPreset        string
	TTQClip          bool
	TTQClipGrid      int
	TTQClipMaxShrink float64
	TTQAlphaGrid     string
	TTQSearchTokens  int
	TTQLowRank       string
	// TTQGPTQ quantizes per prompt with GPTQ (damped by GPTQDamp).
	TTQGPTQ bool

	// LMHeadBits > 0 rounds the LM head too (Options.LMHeadBits).
	LMHeadBits int

	// LayerCheckpoint, when set, is asked for the layer checkpointing of a
	// static calibration once its options and calibration tokens are known
	// (the result so far tells it which run it resumes).
	LayerCheckpoint func(res *MethodResult) (*Checkpointer, error)
}

// DefaultMethodOptions are the defaults of every knob, with no method.
func DefaultMethodOptions() MethodOptions {
	return MethodOptions{
		Bits: 4, Scales: "f16", Ragged: "last-group",
		Calib: "wikitext:valid", NSamples: 128, CalibSeqLen: 512,
		GPTQDamp: 0.01, GPTQBlockSize: 128,
		TTQAlpha: 0.5, TTQLambda: 0.1, TTQStat: "sumsq", TTQWindow: "full",
		TTQClipGrid: 20, TTQClipMaxShrink: 0.5, TTQSearchTokens: DefaultSearchTokens, TTQLowRank: "none",
	}
}

// Knob is one method option by the name the command line and the compare
// reports give it.
type Knob struct {
	Name  string
	Usage string
	// Value points at the MethodOptions field: *string, *int, *uint64,
	// *float64 or *bool.
	Value any
}

// Knobs lists o's options with pointers into o, in the order `ttq help`
// shows them.
func (o *MethodOptions) Knobs() []Knob {
	return []Knob{
		{"method", "quantization method: rtn, awq, gptq or ttq", &o.Method},
		{"bits", "bits per weight (2-8)", &o.Bits},
		{"group", "inputs per quantization group: 32, 64, 128, or -1 for one group per row (default: 128; ttq 32)", &o.Group},
		{"grid", "rounding grid: minmax (AWQ/TTQ), minmax0 (GPTQ) or sym (default: the method's)", &o.Grid},
		{"scale-type", "storage type of the scales: f16 or f32", &o.Scales},
		{"ragged", "matrices whose inputs the group size does not divide: last-group, per-row, keep (full precision) or error", &o.Ragged},
		{"calib", "calibration text for awq/gptq: wikitext:valid, wikitext:test, piqa (PIQA validation questions) or FILE (text, or JSONL with a \"text\" field)", &o.Calib},
		{"nsamples", "calibration samples", &o.NSamples},
		{"calib-seqlen", "tokens per calibration sample (capped at the model's context)", &o.CalibSeqLen},
		// --calib-seed, not --seed: generate's --seed is its sampling seed.
		{"calib-seed", "seed of the calibration sampling", &o.Seed},
		{"awq-no-duo-scaling", "awq: s = s_X^α as in the paper, instead of AutoAWQ's s_X^α / s_W^(1−α)", &o.AWQNoDuo},
		{"awq-no-clip", "awq: skip the weight clipping search", &o.AWQNoClip},
		{"gptq-damp", "gptq: Hessian dampening as a fraction of its mean diagonal", &o.GPTQDamp},
		{"gptq-blocksize", "gptq: columns per lazy batch", &o.GPTQBlockSize},
		{"gptq-act-order", "gptq: quantize columns by decreasing Hessian diagonal (desc_act)", &o.GPTQActOrder},
		{"gptq-static-groups", "gptq: fit group grids before any update (keeps act-order groups contiguous)", &o.GPTQStatic},
		{"ttq-alpha", "ttq: exponent α of D = (stat + λ)^α", &o.TTQAlpha},
		{"ttq-lambda", "ttq: λ added to the statistic", &o.TTQLambda},
		{"ttq-stat", "ttq: per-channel statistic: sumsq (Σx²), meansq or meanabs", &o.TTQStat},
		{"ttq-window", "ttq: prompt tokens the statistic is taken from: full or prefix:N (strictly causal scoring)", &o.TTQWindow},
		{"ttq-rank", "ttq: rank r of the full-precision low-rank part (W = BA + R, only R quantized per prompt)", &o.TTQRank},
		{"ttq-prefill", "ttq: how the prompt runs: quantized (the paper's scoring, on the weights quantized for it) or dense (full precision while its statistics are taken; the generated tokens run quantized); generate defaults to dense, everything else to quantized", &o.TTQPrefill},
		{"ttq-preset", "ttq: a whole configuration: paper (the closed form, the default), search (per-prompt α grid and clipping) or gptq (per-prompt GPTQ with α = 0, replacing --ttq-alpha); see docs/ttq-variants.md", &o.TTQPreset},
		{"ttq-clip", "ttq: per-prompt clipping: AutoAWQ's clip search on W·D against the prompt's own inputs (not q/k)", &o.TTQClip},
		{"ttq-clip-grid", "ttq: clip search grid: shrinks 1 − i/grid", &o.TTQClipGrid},
		{"ttq-clip-max-shrink", "ttq: clip search: the largest shrink tried, as a fraction", &o.TTQClipMaxShrink},
		{"ttq-alpha-grid", "ttq: per-prompt α: comma-separated values in [0, 1], the one with the least output error chosen per group of layers sharing an input (replaces --ttq-alpha)", &o.TTQAlphaGrid},
		{"ttq-search-tokens", "ttq: most prompt tokens the clip and α searches take their error on", &o.TTQSearchTokens},
		{"ttq-lowrank", "ttq: full-precision low-rank part: none, w (SVD of W), act (SVD of W·D per prompt) or act-static (W·D with D from --calib); rank --ttq-rank, 16 when 0", &o.TTQLowRank},
		{"ttq-gptq", "ttq: quantize each prompt with GPTQ's column updates on the Hessian of its own inputs (damping --gptq-damp; not with --ttq-clip)", &o.TTQGPTQ},
		{"lm-head-bits", "also round the LM head to nearest at this many bits (0 keeps it in full precision, as the papers do; llama.cpp's Q4_0/Q8_0 files quantize it)", &o.LMHeadBits},
	}
}

// KnobValues returns every knob's value as text, as compare reports record
// them (the formatting of Go's strconv, which is also pflag's).
func (o *MethodOptions) KnobValues() map[string]string {
	out := map[string]string{}
	for _, k := range o.Knobs() {
		switch v := k.Value.(type) {
		case *string:
			out[k.Name] = *v
		case *int:
			out[k.Name] = strconv.Itoa(*v)
		case *uint64:
			out[k.Name] = strconv.FormatUint(*v, 10)
		case *float64:
			out[k.Name] = strconv.FormatFloat(*v, 'g', -1, 64)
		case *bool:
			out[k.Name] = strconv.FormatBool(*v)
		}
	}
	return out
}

// SetKnob sets the knob called name from its text form.
func (o *MethodOptions) SetKnob(name, value string) error {
	for _, k := range o.Knobs() {
		if k.Name != name {
			continue
		}
		var err error
		switch v := k.Value.(type) {
		case *string:
			*v = value
		case *int:
			var n int64
			n, err = strconv.ParseInt(value, 0, strconv.IntSize)
			*v = int(n)
		case *uint64:
			*v, err = strconv.ParseUint(value, 0, 64)
		case *float64:
			*v, err = strconv.ParseFloat(value, 64)
		case *bool:
			*v, err = strconv.ParseBool(value)
		}
		return err
	}
	return fmt.Errorf("quant: unknown method option %q", name)
}
