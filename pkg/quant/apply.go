package quant

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ttqproject/ttq/internal/sysmem"
	"github.com/ttqproject/ttq/pkg/eval"
	"github.com/ttqproject/ttq/pkg/model"
)

// Resolve validates o and turns it into the method and the Options its
// calibrator reads. Bad values are *model.OptionError.
func (o MethodOptions) Resolve() (Method, Options, error) {
	meth, err := Lookup(o.Method)
	if err != nil {
		return Method{}, Options{}, &model.OptionError{Err: err}
	}
	q, _ := DefaultOptions(o.Method)
	bad := model.OptionErrorf
	if o.Bits < 2 || o.Bits > 8 {
		return meth, q, bad("--bits %d: supported 2 to 8", o.Bits)
	}
	q.Format.Bits = o.Bits
	switch {
	case o.Group == 0:
	case o.Group == -1 || o.Group > 0:
		q.Format.Group = o.Group
	default:
		return meth, q, bad("--group %d: want a positive group size or -1 for per-row", o.Group)
	}
	if o.Grid != "" {
		if q.Format.Grid, err = ParseGrid(o.Grid); err != nil {
			return meth, q, bad("--grid %q: want minmax, minmax0 or sym", o.Grid)
		}
	}
	if q.Format.Scale, err = ParseScaleType(o.Scales); err != nil {
		return meth, q, bad("--scale-type %q: want f16 or f32", o.Scales)
	}
	if q.Ragged, err = ParseRagged(o.Ragged); err != nil {
		return meth, q, bad("--ragged %q: want last-group, per-row, keep or error", o.Ragged)
	}
	if o.NSamples < 1 || o.CalibSeqLen < 2 {
		return meth, q, bad("--nsamples must be ≥ 1 and --calib-seqlen ≥ 2")
	}
	q.AWQ.DuoScaling = !o.AWQNoDuo
	q.AWQ.Clip = !o.AWQNoClip
	q.GPTQ.Damp, q.GPTQ.BlockSize = o.GPTQDamp, o.GPTQBlockSize
	q.GPTQ.ActOrder, q.GPTQ.StaticGroups = o.GPTQActOrder, o.GPTQStatic
	if !(o.GPTQDamp > 0 && o.GPTQDamp < 1) || o.GPTQBlockSize < 1 {
		return meth, q, bad("--gptq-damp must be in (0, 1) and --gptq-blocksize ≥ 1")
	}
	q.TTQ.Alpha, q.TTQ.Lambda, q.TTQ.Rank = o.TTQAlpha, o.TTQLambda, o.TTQRank
	if q.TTQ.Stat, err = ParseStat(o.TTQStat); err != nil {
		return meth, q, bad("--ttq-stat %q: want sumsq, meansq or meanabs", o.TTQStat)
	}
	if q.TTQ.Window, err = ParseWindow(o.TTQWindow); err != nil {
		return meth, q, bad("--ttq-window %q: want full or prefix:N", o.TTQWindow)
	}
	if o.TTQPrefill != "" {
		if q.TTQ.Prefill, err = ParsePrefill(o.TTQPrefill); err != nil {
			return meth, q, bad("--ttq-prefill %q: want quantized or dense", o.TTQPrefill)
		}
	}
	if !(o.TTQAlpha >= 0 && o.TTQAlpha <= 1) || !(o.TTQLambda >= 0) || o.TTQRank < 0 {
		return meth, q, bad("--ttq-alpha must be in [0, 1], --ttq-lambda ≥ 0 and --ttq-rank ≥ 0")
	}
	if o.TTQPreset != "" {
		p, err := TTQPreset(o.TTQPreset)
		if err != nil {
			return meth, q, bad("--ttq-preset %q: want %s", o.TTQPreset, strings.Join(TTQPresetNames(), " or "))
		}
		q.TTQ.Clip, q.TTQ.AlphaGrid = p.Clip, p.AlphaGrid
		if p.GPTQ {
			// The preset's α (0) replaces --ttq-alpha.
			q.TTQ.GPTQ, q.TTQ.Alpha = true, p.Alpha
		}
	}
	q.TTQ.Clip = q.TTQ.Clip || o.TTQClip
	if o.TTQClipGrid < 1 || !(o.TTQClipMaxShrink > 0 && o.TTQClipMaxShrink < 1) || o.TTQSearchTokens < 1 {
		return meth, q, bad("--ttq-clip-grid and --ttq-search-tokens must be ≥ 1 and --ttq-clip-max-shrink in (0, 1)")
	}
	// The search knobs are set only where a search runs, so that the
	// closed form's options (and compare's cache keys) are what they were.
	if q.TTQ.Clip {
		q.TTQ.ClipGrid, q.TTQ.ClipMaxShrink = o.TTQClipGrid, o.TTQClipMaxShrink
	}
	if o.TTQAlphaGrid != "" {
		if q.TTQ.AlphaGrid, err = ParseAlphaGrid(o.TTQAlphaGrid); err != nil {
			return meth, q, bad("--ttq-alpha-grid %q: want comma-separated values in [0, 1]", o.TTQAlphaGrid)
		}
	}
	if q.TTQ.Clip || len(q.TTQ.AlphaGrid) > 0 {
		q.TTQ.SearchTokens = o.TTQSearchTokens
	}
	if q.TTQ.LowRank, err = ParseLowRank(o.TTQLowRank); err != nil {
		return meth, q, bad("--ttq-lowrank %q: want none, w, act or act-static", o.TTQLowRank)
	}
	// As the search knobs, GPTQ's damping is set only where it is used.
	if o.TTQGPTQ || q.TTQ.GPTQ {
		q.TTQ.GPTQ, q.TTQ.GPTQDamp = true, o.GPTQDamp
	}
	if err := q.TTQ.validate(); err != nil {
		return meth, q, &model.OptionError{Err: err}
	}
	if o.LMHeadBits != 0 && (o.LMHeadBits < 2 || o.LMHeadBits > 8) {
		return meth, q, bad("--lm-head-bits %d: 0 (full precision) or 2 to 8", o.LMHeadBits)
	}
	q.LMHeadBits = o.LMHeadBits
	return meth, q, nil
}

// MethodResult describes what ApplyMethod did, for reports and checkpoint
// metadata.
type MethodResult struct {
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
	// model must serve one request at a time.
	TestTime bool    `json:"test_time"`
	Seconds  float64 `json:"seconds"`
}

// Metadata is the checkpoint's __metadata__ for a model quantized by r,
// from source, by ttq version.
func (r *MethodResult) Metadata(source, version string) map[string]string {
	return map[string]string{
		MetaMethod:                r.Method,
		MetaVersion:               version,
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

// NoMethod reports whether name asks for no quantization at all.
func NoMethod(name string) bool { return name == "" || name == "fp" || name == "none" }

// ApplyMethod quantizes lm's model in place with o.Method; no method (see
// NoMethod) leaves the model as it is and returns nil. Static methods read
// and sample their calibration text here; ttq installs per-request layers.
// progress, if not nil, hears of each finished decoder layer.
func ApplyMethod(ctx context.Context, lm *LoadedModel, o MethodOptions, progress Progress) (*MethodResult, error) {
	if NoMethod(o.Method) {
		return nil, nil
	}
	meth, qo, err := o.Resolve()
	if err != nil {
		return nil, err
	}
	res := &MethodResult{Method: meth.Name, Format: qo.Format.String(), Ragged: qo.Ragged.String(), TestTime: meth.TestTime}
	opts := map[string]any{"format": qo.Format.String(), "ragged": qo.Ragged.String()}
	switch meth.Name {
	case "awq":
		opts["awq"] = qo.AWQ
	case "gptq":
		opts["gptq"] = qo.GPTQ
	case "ttq":
		// Record keeps the closed form's keys as reports had them, so that
		// compare's cache keys of plain TTQ stay as they were.
		opts["ttq"] = qo.TTQ.Record()
	}
	if qo.LMHeadBits > 0 {
		opts["lm_head_bits"] = qo.LMHeadBits
	}
	res.Options, _ = json.Marshal(opts)
	var calib [][]int
	if meth.NeedsData || meth.Name == "ttq" && qo.TTQ.NeedsData() {
		if calib, err = sampleCalibration(lm, o, res); err != nil {
			return nil, err
		}
		if o.LayerCheckpoint != nil {
			if qo.Checkpoint, err = o.LayerCheckpoint(res); err != nil {
				return nil, err
			}
		}
	}
	c, err := New(meth.Name, qo)
	if err != nil {
		return nil, &model.OptionError{Err: err}
	}
	start := time.Now()
	if err := c.Apply(ctx, lm.Model, calib, progress); err != nil {
		return nil, err
	}
	res.Seconds = time.Since(start).Seconds()
	res.EffectiveBits = effectiveBits(lm.Model, qo)
	return res, nil
}

// sampleCalibration tokenizes o's calibration text and samples it,
// recording in res what was sampled.
func sampleCalibration(lm *LoadedModel, o MethodOptions, res *MethodResult) ([][]int, error) {
	text, name := o.CalibText, o.Calib
	if text == "" {
		var err error
		if text, name, err = CalibrationText(o.Calib); err != nil {
			return nil, err
		}
	}
	toks, err := lm.Tokenizer.Encode(text, true)
	if err != nil {
		return nil, fmt.Errorf("--calib %s: %w", o.Calib, err)
	}
	seqlen := min(o.CalibSeqLen, lm.Model.Config.MaxPositions)
	perToken, fixed := calibrationBytes(o.Method, lm.Model.Config)
	if err := sysmem.Check(fixed, o.Method+"'s per-layer working arrays", "the model size (they do not depend on the calibration set)"); err != nil {
		return nil, err
	}
	if err := sysmem.Check(fixed+int64(o.NSamples)*int64(seqlen)*perToken, "the calibration activations and "+o.Method+"'s working arrays", "--nsamples or --calib-seqlen"); err != nil {
		return nil, err
	}
	calib, err := SampleCalibration(toks, o.NSamples, seqlen, o.Seed)
	if err != nil {
		return nil, fmt.Errorf("--calib %s: %w", o.Calib, err)
	}
	res.Calib, res.CalibSHA256 = name, model.BytesSHA256([]byte(text))
	res.CalibSamples, res.CalibSeqLen, res.CalibSeed = o.NSamples, seqlen, o.Seed
	res.CalibTokensSHA256 = SamplesSHA256(calib)
	return calib, nil
}

// effectiveBits averages the storage cost over the quantized matrices
// (for ttq: the layers as they are packed per request).
func effectiveBits(m *model.Model, qo Options) float64 {
	var bits, n float64
	for _, s := range m.Sites() {
		l, err := m.Linear(s)
		if err != nil {
			continue
		}
		f := qo.Format
		var extra float64 // bits stored beside the format's codes, scales and zeros
		switch q := l.(type) {
		case *QLinear:
			f = q.Format
		case *TTQLinear:
			if qo.Format.Ragged(l.In()) && qo.Ragged == RaggedPerRow {
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

// CalibrationText resolves a calibration source to its text and the name
// it is recorded under: wikitext:valid or wikitext:test (WikiText-2 rows
// joined as the gptq protocol joins them), piqa (the PIQA validation
// questions), or a text or JSONL file.
func CalibrationText(src string) (text, name string, err error) {
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
		return "", "", model.OptionErrorf("--calib is empty: give wikitext:valid, piqa or FILE")
	}
	t, err := eval.ReadTextFile(src, eval.ProtocolGPTQ)
	if err != nil {
		return "", "", fmt.Errorf("--calib: %w", err)
	}
	return t.Text, t.Name, nil
}

// calibrationBytes is what a calibration holds besides the checkpoint, as
// the README's memory section derives it: perToken bytes for every
// calibration token (the hidden states carried between layers and the
// method's caches of one layer's activations) and fixed bytes whatever
// the calibration set (GPTQ's float64 Hessians and working matrix, AWQ's
// float32 working weights and one scaling group's trial weights).
func calibrationBytes(method string, c model.Config) (perToken, fixed int64) {
	h, q, kv, inter := int64(c.HiddenSize), int64(c.QDim()), int64(c.KVDim()), int64(c.IntermediateSize)
	perToken = 4 * h
	switch method {
	case "gptq":
		// The four Hessians, and the float64 copy of the largest matrix
		// (every linear is hidden × q_dim, kv_dim or intermediate).
		fixed = 8 * (h*h + q*q + h*h + inter*inter + h*max(q, inter))
	case "awq":
		// o_proj's and down_proj's inputs, o_proj's and down_proj's
		// reference outputs.
		perToken += 4 * (q + inter + 2*h)
		layer := h*(q+2*kv) + q*h + 3*h*inter
		fixed = 4 * (layer + max(h*(q+2*kv), 2*h*inter))
	}
	return perToken, fixed
}
