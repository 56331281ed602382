package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/pflag"

	"github.com/ttqproject/ttq/pkg/eval"
	"github.com/ttqproject/ttq/pkg/quant"
)

// methodOptions are the flags that choose and configure a quantization
// method, shared by quantize (static methods) and by eval and generate
// (any method, applied in memory after loading).
type methodOptions struct {
	Method string
	Bits   int
	// Group 0 means the method's default (128; ttq 32); −1 per-channel.
	Group int
	// Grid "" means the method's default (minmax; gptq minmax0).
	Grid   string
	Scales string
	Ragged string

	Calib       string
	NSamples    int
	CalibSeqLen int
	Seed        uint64

	AWQNoDuo  bool
	AWQNoClip bool

	GPTQDamp      float64
	GPTQBlockSize int
	GPTQActOrder  bool
	GPTQStatic    bool

	// layerCheckpoint, when set, is asked for the layer checkpointing of a
	// static calibration once its options and calibration tokens are known.
	layerCheckpoint func(res *methodResult) (*quant.Checkpointer, error)

	TTQAlpha  float64
	TTQLambda float64
	TTQStat   string
	TTQWindow string
	TTQRank   int
	// TTQPrefill "" is the command's default: generate's "dense",
	// otherwise the paper's "quantized" scoring.
	TTQPrefill string
}

// addMethodFlags registers the method flags on fs; methodHelp lists the
// methods accepted by --method.
func addMethodFlags(fs *pflag.FlagSet, o *methodOptions, methodHelp string) {
	fs.StringVar(&o.Method, "method", o.Method, methodHelp)
	fs.IntVar(&o.Bits, "bits", 4, "bits per weight (2-8)")
	fs.IntVar(&o.Group, "group", 0, "inputs per quantization group: 32, 64, 128, or -1 for one group per row (default: 128; ttq 32)")
	fs.StringVar(&o.Grid, "grid", "", "rounding grid: minmax (AWQ/TTQ), minmax0 (GPTQ) or sym (default: the method's)")
	fs.StringVar(&o.Scales, "scale-type", "f16", "storage type of the scales: f16 or f32")
	fs.StringVar(&o.Ragged, "ragged", "last-group", "matrices whose inputs the group size does not divide: last-group, per-row, keep (full precision) or error")
	fs.StringVar(&o.Calib, "calib", "wikitext:valid", "calibration text for awq/gptq: wikitext:valid, wikitext:test, piqa (PIQA validation questions) or FILE (text, or JSONL with a \"text\" field)")
	fs.IntVar(&o.NSamples, "nsamples", 128, "calibration samples")
	fs.IntVar(&o.CalibSeqLen, "calib-seqlen", 512, "tokens per calibration sample (capped at the model's context)")
	// --calib-seed, not --seed: generate's --seed is its sampling seed.
	fs.Uint64Var(&o.Seed, "calib-seed", 0, "seed of the calibration sampling")
	fs.BoolVar(&o.AWQNoDuo, "awq-no-duo-scaling", false, "awq: s = s_X^α as in the paper, instead of AutoAWQ's s_X^α / s_W^(1−α)")
	fs.BoolVar(&o.AWQNoClip, "awq-no-clip", false, "awq: skip the weight clipping search")
	fs.Float64Var(&o.GPTQDamp, "gptq-damp", 0.01, "gptq: Hessian dampening as a fraction of its mean diagonal")
	fs.IntVar(&o.GPTQBlockSize, "gptq-blocksize", 128, "gptq: columns per lazy batch")
	fs.BoolVar(&o.GPTQActOrder, "gptq-act-order", false, "gptq: quantize columns by decreasing Hessian diagonal (desc_act)")
	fs.BoolVar(&o.GPTQStatic, "gptq-static-groups", false, "gptq: fit group grids before any update (keeps act-order groups contiguous)")
	fs.Float64Var(&o.TTQAlpha, "ttq-alpha", 0.5, "ttq: exponent α of D = (stat + λ)^α")
	fs.Float64Var(&o.TTQLambda, "ttq-lambda", 0.1, "ttq: λ added to the statistic")
	fs.StringVar(&o.TTQStat, "ttq-stat", "sumsq", "ttq: per-channel statistic: sumsq (Σx²), meansq or meanabs")
	fs.StringVar(&o.TTQWindow, "ttq-window", "full", "ttq: prompt tokens the statistic is taken from: full or prefix:N (strictly causal scoring)")
	fs.IntVar(&o.TTQRank, "ttq-rank", 0, "ttq: rank r of the full-precision low-rank part (W = BA + R, only R quantized per prompt)")
	fs.StringVar(&o.TTQPrefill, "ttq-prefill", o.TTQPrefill, "ttq: how the prompt runs: quantized (the paper's scoring, on the weights quantized for it) or dense (full precision while its statistics are taken; the generated tokens run quantized); generate defaults to dense, everything else to quantized")
}

// quantOptions validates the flags and turns them into pkg/quant options.
func (o methodOptions) quantOptions() (quant.Method, quant.Options, error) {
	meth, err := quant.Lookup(o.Method)
	if err != nil {
		return quant.Method{}, quant.Options{}, usageError{err}
	}
	q, _ := quant.DefaultOptions(o.Method)
	if o.Bits < 2 || o.Bits > 8 {
		return meth, q, usagef("--bits %d: supported 2 to 8", o.Bits)
	}
	q.Format.Bits = o.Bits
	switch {
	case o.Group == 0:
	case o.Group == -1 || o.Group > 0:
		q.Format.Group = o.Group
	default:
		return meth, q, usagef("--group %d: want a positive group size or -1 for per-row", o.Group)
	}
	if o.Grid != "" {
		if q.Format.Grid, err = quant.ParseGrid(o.Grid); err != nil {
			return meth, q, usagef("--grid %q: want minmax, minmax0 or sym", o.Grid)
		}
	}
	if q.Format.Scale, err = quant.ParseScaleType(o.Scales); err != nil {
		return meth, q, usagef("--scale-type %q: want f16 or f32", o.Scales)
	}
	if q.Ragged, err = quant.ParseRagged(o.Ragged); err != nil {
		return meth, q, usagef("--ragged %q: want last-group, per-row, keep or error", o.Ragged)
	}
	if o.NSamples < 1 || o.CalibSeqLen < 2 {
		return meth, q, usagef("--nsamples must be ≥ 1 and --calib-seqlen ≥ 2")
	}
	q.AWQ.DuoScaling = !o.AWQNoDuo
	q.AWQ.Clip = !o.AWQNoClip
	q.GPTQ.Damp, q.GPTQ.BlockSize = o.GPTQDamp, o.GPTQBlockSize
	q.GPTQ.ActOrder, q.GPTQ.StaticGroups = o.GPTQActOrder, o.GPTQStatic
	if !(o.GPTQDamp > 0 && o.GPTQDamp < 1) || o.GPTQBlockSize < 1 {
		return meth, q, usagef("--gptq-damp must be in (0, 1) and --gptq-blocksize ≥ 1")
	}
	q.TTQ.Alpha, q.TTQ.Lambda, q.TTQ.Rank = o.TTQAlpha, o.TTQLambda, o.TTQRank
	if q.TTQ.Stat, err = quant.ParseStat(o.TTQStat); err != nil {
		return meth, q, usagef("--ttq-stat %q: want sumsq, meansq or meanabs", o.TTQStat)
	}
	if q.TTQ.Window, err = quant.ParseWindow(o.TTQWindow); err != nil {
		return meth, q, usagef("--ttq-window %q: want full or prefix:N", o.TTQWindow)
	}
	if o.TTQPrefill != "" {
		if q.TTQ.Prefill, err = quant.ParsePrefill(o.TTQPrefill); err != nil {
			return meth, q, usagef("--ttq-prefill %q: want quantized or dense", o.TTQPrefill)
		}
	}
	if !(o.TTQAlpha >= 0 && o.TTQAlpha <= 1) || !(o.TTQLambda >= 0) || o.TTQRank < 0 {
		return meth, q, usagef("--ttq-alpha must be in [0, 1], --ttq-lambda ≥ 0 and --ttq-rank ≥ 0")
	}
	return meth, q, nil
}

// methodResult describes what applyMethod did, for reports and checkpoint
// metadata.
type methodResult struct {
	Method string `json:"method"`
	Format string `json:"format"`
	// EffectiveBits counts scales and zeros, over the quantized matrices.
	EffectiveBits float64 `json:"effective_bits"`
	Ragged        string  `json:"ragged"`
	// Static methods' calibration.
	Calib             string `json:"calib,omitempty"`
	CalibSHA256       string `json:"calib_sha256,omitempty"`
	CalibSamples      int    `json:"calib_samples,omitempty"`
	CalibSeqLen       int    `json:"calib_seqlen,omitempty"`
	CalibSeed         uint64 `json:"calib_seed"`
	CalibTokensSHA256 string `json:"calib_tokens_sha256,omitempty"`
	// Options is every knob of the method, as JSON.
	Options json.RawMessage `json:"options"`
	// TestTime methods quantize per request inside the forward pass: their
	// model must serve one request at a time (eval --parallel 1).
	TestTime bool    `json:"test_time"`
	Seconds  float64 `json:"seconds"`
}

// metadata is the checkpoint's __metadata__ for a quantized model.
func (r *methodResult) metadata(source string) map[string]string {
	return map[string]string{
		quant.MetaMethod:          r.Method,
		quant.MetaVersion:         version,
		"ttq.quant_format":        r.Format,
		"ttq.effective_bits":      strconv.FormatFloat(r.EffectiveBits, 'f', 4, 64),
		"ttq.ragged":              r.Ragged,
		"ttq.calib":               r.Calib,
		"ttq.calib_sha256":        r.CalibSHA256,
		"ttq.calib_samples":       strconv.Itoa(r.CalibSamples),
		"ttq.calib_seqlen":        strconv.Itoa(r.CalibSeqLen),
		"ttq.calib_seed":          strconv.FormatUint(r.CalibSeed, 10),
		"ttq.calib_tokens_sha256": r.CalibTokensSHA256,
		"ttq.options":             string(r.Options),
		"ttq.source_model":        source,
	}
}

// applyMethod quantizes lm's model in place with o.Method; an empty method
// leaves the model as it is and returns nil. Static methods read their
// calibration set here; ttq installs per-request layers.
func applyMethod(ctx context.Context, io *streams, lm *loadedModel, o methodOptions) (*methodResult, error) {
	if o.Method == "" || o.Method == "fp" || o.Method == "none" {
		return nil, nil
	}
	meth, qo, err := o.quantOptions()
	if err != nil {
		return nil, err
	}
	res := &methodResult{Method: meth.Name, Format: qo.Format.String(), Ragged: qo.Ragged.String(), TestTime: meth.TestTime}
	opts := map[string]any{"format": qo.Format.String(), "ragged": qo.Ragged.String()}
	switch meth.Name {
	case "awq":
		opts["awq"] = qo.AWQ
	case "gptq":
		opts["gptq"] = qo.GPTQ
	case "ttq":
		opts["ttq"] = map[string]any{"alpha": qo.TTQ.Alpha, "lambda": qo.TTQ.Lambda, "stat": qo.TTQ.Stat.String(),
			"window": qo.TTQ.WindowString(), "rank": qo.TTQ.Rank}
		if qo.TTQ.Prefill != quant.PrefillQuantized {
			// Only the non-default mode is recorded, so that reports and
			// compare's cache keys of the paper's scoring stay as they were.
			opts["ttq"].(map[string]any)["prefill"] = qo.TTQ.Prefill.String()
		}
	}
	res.Options, _ = json.Marshal(opts)
	var calib [][]int
	if meth.NeedsData {
		text, name, err := calibrationText(o.Calib)
		if err != nil {
			return nil, err
		}
		toks, err := lm.Tokenizer.Encode(text, true)
		if err != nil {
			return nil, fmt.Errorf("--calib %s: %w", o.Calib, err)
		}
		seqlen := min(o.CalibSeqLen, lm.Model.Config.MaxPositions)
		// The pipeline keeps every sample's hidden states between layers
		// and a layer's linear inputs while it is quantized.
		c := lm.Model.Config
		need := int64(o.NSamples) * int64(seqlen) * 4 * int64(2*c.HiddenSize+2*c.IntermediateSize)
		if err := checkMemory(need, "the calibration activations", "--nsamples or --calib-seqlen"); err != nil {
			return nil, err
		}
		if calib, err = quant.SampleCalibration(toks, o.NSamples, seqlen, o.Seed); err != nil {
			return nil, fmt.Errorf("--calib %s: %w", o.Calib, err)
		}
		sum := sha256.Sum256([]byte(text))
		res.Calib, res.CalibSHA256 = name, hex.EncodeToString(sum[:])
		res.CalibSamples, res.CalibSeqLen, res.CalibSeed = o.NSamples, seqlen, o.Seed
		res.CalibTokensSHA256 = quant.SamplesSHA256(calib)
	}
	if meth.NeedsData && o.layerCheckpoint != nil {
		if qo.Checkpoint, err = o.layerCheckpoint(res); err != nil {
			return nil, err
		}
	}
	c, err := quant.New(meth.Name, qo)
	if err != nil {
		return nil, usageError{err}
	}
	bar := newBlockBar(io, len(lm.Model.Layers), meth.Name)
	start := time.Now()
	err = c.Apply(ctx, lm.Model, calib, func(done, total int) {
		if bar != nil {
			_ = bar.Set(done)
		}
	})
	if bar != nil {
		_ = bar.Clear()
	}
	if err != nil {
		return nil, err
	}
	res.Seconds = time.Since(start).Seconds()
	res.EffectiveBits = effectiveBits(lm, qo)
	return res, nil
}

// effectiveBits averages the storage cost over the quantized matrices
// (for ttq: the layers as they are packed per request).
func effectiveBits(lm *loadedModel, qo quant.Options) float64 {
	var bits, n float64
	for _, s := range lm.Model.Sites() {
		l, err := lm.Model.Linear(s)
		if err != nil {
			continue
		}
		f := qo.Format
		var extra float64 // bits stored beside the format's codes, scales and zeros
		switch q := l.(type) {
		case *quant.QLinear:
			f = q.Format
		case *quant.TTQLinear:
			if qo.Format.Ragged(l.In()) && qo.Ragged == quant.RaggedPerRow {
				f.Group = -1
			}
			extra = q.LowRankBits()
		default:
			continue
		}
		w := float64(l.In()) * float64(l.Out())
		bits += f.EffectiveBits(l.Out(), l.In())*w + extra
		n += w
	}
	if n == 0 {
		return 0
	}
	return bits / n
}

// newBlockBar draws one step per decoder layer with an ETA, on stderr and
// only when stderr is a terminal.
func newBlockBar(io *streams, blocks int, desc string) *progressbar.ProgressBar {
	if !io.ErrTTY || blocks <= 0 {
		return nil
	}
	return progressbar.NewOptions(blocks,
		progressbar.OptionSetWriter(io.ErrOut),
		progressbar.OptionSetVisibility(true),
		progressbar.OptionSetDescription(desc+" blocks"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionClearOnFinish(),
	)
}

// calibrationText resolves --calib to a text and the name it is recorded
// under.
func calibrationText(src string) (text, name string, err error) {
	switch {
	case src == "wikitext:valid" || src == "wikitext:test":
		split := strings.TrimPrefix(src, "wikitext:")
		t, err := eval.WikiText(split, eval.ProtocolGPTQ)
		if err != nil {
			return "", "", err
		}
		return t.Text, t.Name, nil
	case src == "piqa":
		items, err := eval.PIQA()
		if err != nil {
			return "", "", err
		}
		parts := make([]string, len(items))
		for i, it := range items {
			parts[i] = it.Context
		}
		return strings.Join(parts, "\n\n"), "piqa/valid (questions only)", nil
	case src == "":
		return "", "", usagef("--calib is empty: give wikitext:valid, piqa or FILE")
	}
	t, err := eval.ReadTextFile(src, eval.ProtocolGPTQ)
	if err != nil {
		return "", "", fmt.Errorf("--calib: %w", err)
	}
	return t.Text, t.Name, nil
}
