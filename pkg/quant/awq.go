package quant

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/ttqproject/ttq/internal/offheap"
	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
)

// AWQOptions are the knobs of AutoAWQ's quantizer (METHODS §3.2).
type AWQOptions struct {
	// DuoScaling divides s_X^α by s_W^(1−α) (AutoAWQ's default); off is
	// the paper's and llm-awq's s = s_X^α.
	DuoScaling bool `json:"duo_scaling"`
	// NGrid is the number of α values k/NGrid, k = 0…NGrid−1 (20).
	NGrid int `json:"n_grid"`
	// Clip enables the weight clipping search.
	Clip bool `json:"clip"`
	// ClipGrid and MaxShrink: shrink factors 1 − i/ClipGrid for
	// i < MaxShrink·ClipGrid (20 and 0.5: 1.00 … 0.55).
	ClipGrid  int     `json:"clip_grid"`
	MaxShrink float64 `json:"max_shrink"`
	// ClipTokens: tokens are subsampled with stride max(1, n/ClipTokens).
	ClipTokens int `json:"clip_tokens"`
}

// DefaultAWQOptions are AutoAWQ's defaults.
func DefaultAWQOptions() AWQOptions {
	return AWQOptions{DuoScaling: true, NGrid: 20, Clip: true, ClipGrid: 20, MaxShrink: 0.5, ClipTokens: 512}
}

func (o AWQOptions) validate() error {
	if o.NGrid < 1 || o.ClipGrid < 1 || !(o.MaxShrink >= 0 && o.MaxShrink < 1) || o.ClipTokens < 1 {
		return fmt.Errorf("quant: invalid AWQ options %+v", o)
	}
	return nil
}

// AWQ searches per-input-channel scales block by block on full-precision
// activations, folds them into the preceding norm or linear, clips the
// weights and rounds them (AutoAWQ's procedure, METHODS §3.2).
type AWQ struct{ Opts Options }

func (a *AWQ) Name() string { return "awq" }

// awqFeat is the concatenated input of one linear over every calibration
// token, rows × cols: cached in x, or derived on demand by derive (the
// normed inputs of q/k/v and gate/up, which RMSNorm gives back exactly from
// the layer's input and o_proj's output at a fraction of a GEMM's cost;
// caching them cost two of the layer's activations in memory).
type awqFeat struct {
	x    []float32
	rows int
	cols int
	// derive writes rows [r0, r1) into dst; div, once set, divides them
	// (the scales applied to the linears that read this input).
	derive func(dst []float32, r0, r1 int)
	div    []float32
}

// rowsOf returns rows [r0, r1): a view of x, or derived into buf.
func (f *awqFeat) rowsOf(buf []float32, r0, r1 int) []float32 {
	if f.derive == nil {
		return f.x[r0*f.cols : r1*f.cols]
	}
	dst := buf[:(r1-r0)*f.cols]
	f.derive(dst, r0, r1)
	if f.div != nil {
		for r := range r1 - r0 {
			divVec(dst[r*f.cols:(r+1)*f.cols], f.div)
		}
	}
	return dst
}

// divide divides every row by s.
func (f *awqFeat) divide(s []float32) {
	if f.derive != nil {
		if f.div != nil {
			panic("quant: awq input divided twice")
		}
		f.div = s
		return
	}
	for r := 0; r < f.rows; r++ {
		divVec(f.x[r*f.cols:(r+1)*f.cols], s)
	}
}

// sample is every step-th row, step = max(1, rows/tokens): the tokens
// AutoAWQ's clip search reads (awqClip subsamples the same way, so on the
// sample it reads every row).
func (f *awqFeat) sample(tokens int) *awqFeat {
	step := max(1, f.rows/tokens)
	out := &awqFeat{cols: f.cols}
	buf := make([]float32, f.cols)
	for t := 0; t < f.rows; t += step {
		out.add(f.rowsOf(buf, t, t+1), 1)
	}
	return out
}

// awqFeatChunk is how many rows at a time the loss and the statistics
// read from a feature.
const awqFeatChunk = 512

// normedRows derives rows [r0, r1) of RMSNorm(x (+ add), weight) from the
// concatenated sequences seqs (each a whole number of rows of width cols)
// and, if add is non-nil, the matching rows of add: the forward's own
// kernels in its order (layerRunner.run), so the values are its values.
func normedRows(seqs [][]float32, add, weight []float32, eps float32) func(dst []float32, r0, r1 int) {
	cols := len(weight)
	return func(dst []float32, r0, r1 int) {
		pos := 0
		for _, x := range seqs {
			n := len(x) / cols
			lo, hi := max(r0, pos), min(r1, pos+n)
			if lo < hi {
				copy(dst[(lo-r0)*cols:(hi-r0)*cols], x[(lo-pos)*cols:(hi-pos)*cols])
			}
			pos += n
		}
		if add != nil {
			kernels.Add(dst, add[r0*cols:r1*cols])
		}
		kernels.RMSNorm(dst, dst, weight, eps)
	}
}

func (f *awqFeat) add(x []float32, rows int) {
	f.x = append(f.x, x...)
	f.rows += rows
}

// scalingGroup is one row of AutoAWQ's get_layers_for_scaling for Llama:
// prev absorbs 1/s, layers are multiplied by s, the loss is taken on
// inspect's output.
type scalingGroup struct {
	prev    string // "input_layernorm", "post_attention_layernorm" or a linear name
	layers  []string
	inspect string // "attn", "mlp" or the single linear's name
}

// Apply quantizes m with AWQ.
func (a *AWQ) Apply(ctx context.Context, m *model.Model, calib [][]int, progress Progress) error {
	o := a.Opts.AWQ
	if err := o.validate(); err != nil {
		return err
	}
	if len(calib) == 0 {
		return fmt.Errorf("quant: awq needs calibration data")
	}
	inps, acts, err := embedAll(m, calib)
	if err != nil {
		return err
	}
	defer acts.Free()
	run := new(layerRunner)
	cp := a.Opts.Checkpoint
	if cp.done() > len(m.Layers) {
		return fmt.Errorf("quant: awq: resuming after layer %d of %d", cp.done(), len(m.Layers))
	}
	for l := range m.Layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		if l < cp.done() {
			// A finished layer: AutoAWQ feeds each layer the previous
			// one's full-precision outputs, so those come first, from the
			// weights still loaded; then the saved layer replaces them.
			if err := run.advance(ctx, m, m.Layers[l], inps, calib, taps{}); err != nil {
				return err
			}
			if err := cp.restore(m, l); err != nil {
				return err
			}
			progress.report(l+1, len(m.Layers))
			continue
		}
		if err := a.quantizeLayer(ctx, run, m, l, inps, calib); err != nil {
			return err
		}
		if err := cp.save(m, l); err != nil {
			return err
		}
		progress.report(l+1, len(m.Layers))
	}
	return nil
}

// quantizeLayer quantizes layer l on its calibration inputs inps, then
// overwrites them with the layer's full-precision outputs: the next
// layer's inputs, as AutoAWQ computes them.
//
// Its caches (the inputs of q, o, gate and down, the reference outputs of o
// and down), the layer's float32 working weights and one scaling group's
// trial weights live outside the Go heap (package offheap) and are freed on
// return.
func (a *AWQ) quantizeLayer(ctx context.Context, run *layerRunner, m *model.Model, l int, inps [][]float32, calib [][]int) error {
	var arrays []*offheap.Array[float32]
	defer func() {
		for _, arr := range arrays {
			arr.Free()
		}
	}()
	cache := func(n int) ([]float32, error) {
		arr, err := offheap.New[float32](n)
		if err != nil {
			return nil, fmt.Errorf("quant: awq layer %d: calibration cache: %w", l, err)
		}
		arrays = append(arrays, arr)
		return arr.S[:0], nil
	}
	o := a.Opts.AWQ
	layer := &m.Layers[l]
	// [1] Full-precision run: inputs of every linear, reference outputs of
	// o_proj (the attention block) and down_proj (the MLP), and the
	// layer's output, which is the next layer's input.
	// Every cache is sized for all calibration tokens up front: growing by
	// append left the copies it outgrew as garbage on the peak.
	ntok := 0
	for _, seq := range calib {
		ntok += len(seq)
	}
	feats := map[string]*awqFeat{}
	tp := taps{in: map[string]func([]float32, int){}, out: map[string]func([]float32, int){}}
	for _, name := range []string{"self_attn.o_proj", "mlp.down_proj"} {
		cols := (*layerLinear(layer, name)).In()
		x, err := cache(ntok * cols)
		if err != nil {
			return err
		}
		f := &awqFeat{cols: cols, x: x}
		feats[name] = f
		tp.in[name] = f.add
	}
	hidden := m.Config.HiddenSize
	refO, err := cache(ntok * hidden)
	if err != nil {
		return err
	}
	refDown, err := cache(ntok * hidden)
	if err != nil {
		return err
	}
	eps := float32(m.Config.RMSNormEps)
	feats["self_attn.q_proj"] = &awqFeat{rows: ntok, cols: hidden, derive: normedRows(inps, nil, layer.AttnNorm, eps)}
	feats["mlp.gate_proj"] = &awqFeat{rows: ntok, cols: hidden, derive: normedRows(inps, refO, layer.MLPNorm, eps)}
	feats["self_attn.k_proj"], feats["self_attn.v_proj"] = feats["self_attn.q_proj"], feats["self_attn.q_proj"]
	feats["mlp.up_proj"] = feats["mlp.gate_proj"]
	tp.out["self_attn.o_proj"] = func(y []float32, _ int) { refO = append(refO, y...) }
	tp.out["mlp.down_proj"] = func(y []float32, _ int) { refDown = append(refDown, y...) }
	// The layer's output is x + o_proj's + down_proj's outputs, added in
	// that order (layerRunner.run): refO and refDown give it back exactly at
	// the end, so it is not cached.
	for i, x := range inps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := run.run(m, *layer, x, len(calib[i]), tp, false); err != nil {
			return err
		}
	}

	type lin struct {
		w          []float32
		rows, cols int
		bias       []float32
	}
	// The working float32 weights of the whole layer share one array
	// outside the Go heap; once decoded, the checkpoint's pages of the layer
	// may leave the resident set (the attention loss reads o_proj's back).
	ws := map[string]*lin{}
	dense := map[string]*model.Dense{}
	nw := 0
	for _, name := range model.LayerLinearNames {
		d, err := denseLinear(m, model.Site{Layer: l, Name: name})
		if err != nil {
			return err
		}
		dense[name] = d
		nw += d.W.Rows * d.W.Cols
	}
	wbuf, err := cache(nw)
	if err != nil {
		return err
	}
	for _, name := range model.LayerLinearNames {
		d := dense[name]
		n := d.W.Rows * d.W.Cols
		w := wbuf[len(wbuf) : len(wbuf)+n]
		wbuf = wbuf[:len(wbuf)+n]
		d.W.RowsTo(w, 0, d.W.Rows)
		m.ReleasePages(d.W.Data)
		ws[name] = &lin{w, d.W.Rows, d.W.Cols, d.Bias}
	}
	groups := []scalingGroup{{"input_layernorm", []string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}, "attn"}}
	v, ow := ws["self_attn.v_proj"], ws["self_attn.o_proj"]
	if v.rows == ow.rows && v.cols == ow.cols {
		groups = append(groups, scalingGroup{"self_attn.v_proj", []string{"self_attn.o_proj"}, "self_attn.o_proj"})
	}
	groups = append(groups,
		scalingGroup{"post_attention_layernorm", []string{"mlp.gate_proj", "mlp.up_proj"}, "mlp"},
		scalingGroup{"mlp.up_proj", []string{"mlp.down_proj"}, "mlp.down_proj"})

	// [2] Scale search, every group on the original weights.
	fmtOf := func(name string) (Format, bool, error) {
		return a.Opts.formatFor(model.Site{Layer: l, Name: name}, ws[name].cols)
	}
	best := make([][]float32, len(groups))
	scratch := &awqLossScratch{run: run}
	ntrial := 0
	for _, g := range groups {
		n := 0
		for _, name := range g.layers {
			n += len(ws[name].w)
		}
		ntrial = max(ntrial, n)
	}
	trialBuf, err := cache(ntrial)
	if err != nil {
		return err
	}
	trialBuf = trialBuf[:ntrial]
	for gi, g := range groups {
		if err := ctx.Err(); err != nil {
			return err
		}
		feat := feats[g.layers[0]]
		xMean := meanAbs(feat)
		var mats [][]float32
		for _, name := range g.layers {
			mats = append(mats, ws[name].w)
		}
		f0, _, err := fmtOf(g.layers[0])
		if err != nil {
			return err
		}
		wMean := awqWeightMeanOf(mats, feat.cols, f0.GroupSize(feat.cols))
		// Every grid point's trial weights, in one array for all groups.
		trial := map[string][]float32{}
		off := 0
		for _, name := range g.layers {
			n := len(ws[name].w)
			trial[name] = trialBuf[off : off+n]
			off += n
		}
		var err2 error
		best[gi], _, err2 = awqSearch(xMean, wMean, o, func(s []float32) (float64, error) {
			for _, name := range g.layers {
				f, keep, err := fmtOf(name)
				if err != nil {
					return 0, err
				}
				fakeQuantScaledInto(trial[name], ws[name].w, ws[name].rows, ws[name].cols, s, f, keep)
			}
			return a.groupLoss(m, l, g, trial, feat, inps, calib, refO, refDown, scratch, func(name string) *model.Dense {
				x := ws[name]
				return denseF32(x.w, x.rows, x.cols, x.bias)
			})
		})
		if err2 != nil {
			return err2
		}
		if best[gi] == nil {
			return fmt.Errorf("quant: AWQ scale search for %v found no finite loss", g.layers)
		}
	}

	// [3] Apply: prev ÷ s, layers' columns × s, cached inputs ÷ s.
	attnNorm := append([]float32(nil), layer.AttnNorm...)
	mlpNorm := append([]float32(nil), layer.MLPNorm...)
	for gi, g := range groups {
		s := best[gi]
		switch g.prev {
		case "input_layernorm":
			divVec(attnNorm, s)
		case "post_attention_layernorm":
			divVec(mlpNorm, s)
		default:
			p := ws[g.prev]
			off := p.rows - len(s)
			for r := 0; r < len(s); r++ {
				row := p.w[(off+r)*p.cols : (off+r+1)*p.cols]
				for c := range row {
					row[c] /= s[r]
				}
			}
			if p.bias != nil {
				b := append([]float32(nil), p.bias...)
				for r := range s {
					b[off+r] /= s[r]
				}
				p.bias = b
			}
		}
		for _, name := range g.layers {
			x := ws[name]
			for r := 0; r < x.rows; r++ {
				row := x.w[r*x.cols : (r+1)*x.cols]
				for c := range row {
					row[c] *= s[c]
				}
			}
		}
		feats[g.layers[0]].divide(s)
	}

	// [4] Clipping search, except for q and k whose errors the attention
	// scores amplify (AutoAWQ skips names containing q_/k_).
	if o.Clip {
		for _, name := range []string{"self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"} {
			if err := ctx.Err(); err != nil {
				return err
			}
			f, keep, err := fmtOf(name)
			if err != nil {
				return err
			}
			if keep {
				continue
			}
			x := ws[name]
			xs := feats[name].sample(o.ClipTokens)
			co := o
			co.ClipTokens = xs.rows
			awqClip(x.w, x.rows, x.cols, xs, f, co)
		}
	}

	// [5] Round every linear; install the rescaled norms.
	for _, name := range model.LayerLinearNames {
		x := ws[name]
		w := x.w
		if _, keep, err := fmtOf(name); err != nil {
			return err
		} else if keep {
			// Kept in full precision: the layer outlives the array.
			w = slices.Clone(w)
		}
		if err := setRTN(m, model.Site{Layer: l, Name: name}, w, x.rows, x.cols, x.bias, a.Opts); err != nil {
			return err
		}
	}
	layer.AttnNorm, layer.MLPNorm = attnNorm, mlpNorm
	off := 0
	for _, x := range inps {
		kernels.Add(x, refO[off:off+len(x)])
		kernels.Add(x, refDown[off:off+len(x)])
		off += len(x)
	}
	return nil
}

// groupLoss is mean((Y_fp − Y)²) over every element of the inspected
// module's output with the group's layers replaced by trial weights.
// awqLossScratch is what groupLoss reuses from one grid point to the next:
// the layer runner and the MLP's chunk buffers.
type awqLossScratch struct {
	run            *layerRunner
	gb, ub, yb, xb []float32
}

func (a *AWQ) groupLoss(m *model.Model, l int, g scalingGroup, trial map[string][]float32, feat *awqFeat,
	inps [][]float32, calib [][]int, refO, refDown []float32, sc *awqLossScratch, orig func(string) *model.Dense) (float64, error) {
	dense := func(name string) *model.Dense {
		d := orig(name)
		if w, ok := trial[name]; ok {
			d = denseF32(w, d.W.Rows, d.W.Cols, d.Bias)
		}
		return d
	}
	var sum float64
	var n int
	acc := func(y, ref []float32) {
		sum += sqDiff(y, ref)
		n += len(y)
	}
	switch g.inspect {
	case "attn":
		lay := m.Layers[l]
		lay.Attn.Q, lay.Attn.K, lay.Attn.V = dense("self_attn.q_proj"), dense("self_attn.k_proj"), dense("self_attn.v_proj")
		off := 0
		tp := taps{out: map[string]func([]float32, int){"self_attn.o_proj": func(y []float32, _ int) {
			acc(y, refO[off:off+len(y)])
			off += len(y)
		}}}
		for i, x := range inps {
			if _, err := sc.run.run(m, lay, x, len(calib[i]), tp, true); err != nil {
				return 0, err
			}
		}
	case "mlp":
		gate, up, dn := dense("mlp.gate_proj"), dense("mlp.up_proj"), orig("mlp.down_proj")
		inter := gate.Out()
		h := dn.Out()
		const chunk = awqFeatChunk
		sc.gb, sc.ub, sc.yb = growF32(sc.gb, chunk*inter), growF32(sc.ub, chunk*inter), growF32(sc.yb, chunk*h)
		sc.xb = growF32(sc.xb, chunk*feat.cols)
		gb, ub, yb := sc.gb, sc.ub, sc.yb
		for r0 := 0; r0 < feat.rows; r0 += chunk {
			rows := min(chunk, feat.rows-r0)
			x := feat.rowsOf(sc.xb, r0, r0+rows)
			gate.Forward(gb, x, rows)
			up.Forward(ub, x, rows)
			kernels.SiLUMul(gb[:rows*inter], ub[:rows*inter])
			dn.Forward(yb, gb, rows)
			acc(yb[:rows*h], refDown[r0*h:(r0+rows)*h])
		}
	default:
		d := dense(g.inspect)
		ref := refO
		if g.inspect == "mlp.down_proj" {
			ref = refDown
		}
		const chunk = awqFeatChunk
		sc.yb = growF32(sc.yb, chunk*d.Out())
		sc.xb = growF32(sc.xb, chunk*feat.cols)
		yb := sc.yb
		for r0 := 0; r0 < feat.rows; r0 += chunk {
			rows := min(chunk, feat.rows-r0)
			d.Forward(yb, feat.rowsOf(sc.xb, r0, r0+rows), rows)
			acc(yb[:rows*d.Out()], ref[r0*d.Out():(r0+rows)*d.Out()])
		}
	}
	if n == 0 {
		return math.Inf(1), nil
	}
	return sum / float64(n), nil
}

// awqSearch runs the α grid: for α = k/NGrid, k = 0…NGrid−1, the scales
// awqScales(α) and their loss; the first lowest loss wins. It returns the
// best scales and α.
func awqSearch(xMean, wMean []float32, o AWQOptions, loss func(s []float32) (float64, error)) ([]float32, float32, error) {
	var best []float32
	var bestAlpha float32
	bestLoss := math.Inf(1)
	for k := 0; k < o.NGrid; k++ {
		alpha := float32(k) / float32(o.NGrid)
		s := awqScales(xMean, wMean, alpha, o.DuoScaling)
		l, err := loss(s)
		if err != nil {
			return nil, 0, err
		}
		if l < bestLoss {
			best, bestLoss, bestAlpha = s, l, alpha
		}
	}
	if best == nil {
		return nil, 0, fmt.Errorf("quant: AWQ scale search found no finite loss")
	}
	return best, bestAlpha, nil
}

// meanAbs is s_X: the mean |x| of every input channel over all tokens.
func meanAbs(f *awqFeat) []float32 {
	s := make([]float64, f.cols)
	var buf []float32
	if f.derive != nil {
		buf = make([]float32, awqFeatChunk*f.cols)
	}
	for r0 := 0; r0 < f.rows; r0 += awqFeatChunk {
		x := f.rowsOf(buf, r0, min(r0+awqFeatChunk, f.rows))
		for r := 0; r < len(x)/f.cols; r++ {
			for c, v := range x[r*f.cols : (r+1)*f.cols] {
				s[c] += math.Abs(float64(v))
			}
		}
	}
	out := make([]float32, f.cols)
	for c := range s {
		out[c] = float32(s[c] / float64(max(f.rows, 1)))
	}
	return out
}

// awqWeightMean is s_W: per input channel, the mean over all rows of
// |w| / max|w| within the weight's own group.
func awqWeightMean(w []float32, rows, cols, g int) []float32 {
	return awqWeightMeanOf([][]float32{w}, cols, g)
}

// awqWeightMeanOf is awqWeightMean of the matrices stacked by rows (q, k
// and v, or gate and up), without the stacked copy.
func awqWeightMeanOf(ws [][]float32, cols, g int) []float32 {
	sum := make([]float64, cols)
	rows := 0
	for _, w := range ws {
		rows += len(w) / cols
		for r := 0; r < len(w)/cols; r++ {
			row := w[r*cols : (r+1)*cols]
			for c0 := 0; c0 < cols; c0 += g {
				c1 := min(c0+g, cols)
				var mx float32
				for _, v := range row[c0:c1] {
					mx = max(mx, float32(math.Abs(float64(v))))
				}
				for c := c0; c < c1; c++ {
					sum[c] += float64(float32(math.Abs(float64(row[c]))) / (mx + 1e-6))
				}
			}
		}
	}
	out := make([]float32, cols)
	for c := range sum {
		out[c] = float32(sum[c] / float64(max(rows, 1)))
	}
	return out
}

// awqScales is one grid point: s = s_X^α (÷ (s_W^(1−α) + 1e-4) with duo
// scaling), clamped at 1e-4, normalized by sqrt(max·min); non-finite
// entries become 1.
func awqScales(xMean, wMean []float32, alpha float32, duo bool) []float32 {
	s := make([]float32, len(xMean))
	for c := range s {
		v := float32(math.Pow(float64(xMean[c]), float64(alpha)))
		if duo {
			v /= float32(math.Pow(float64(wMean[c]), float64(1-alpha))) + 1e-4
		}
		s[c] = max(v, 1e-4)
	}
	lo, hi := s[0], s[0]
	for _, v := range s {
		lo, hi = min(lo, v), max(hi, v)
	}
	norm := float32(math.Sqrt(float64(hi * lo)))
	for c := range s {
		s[c] /= norm
		if math.IsInf(float64(s[c]), 0) || s[c] != s[c] {
			s[c] = 1
		}
	}
	return s
}

// fakeQuantScaled returns Q(W·diag(s))·diag(s)⁻¹ as float32 (W itself
// when the ragged policy keeps the matrix in full precision).
func fakeQuantScaled(w []float32, rows, cols int, s []float32, f Format, keep bool) []float32 {
	out := make([]float32, len(w))
	fakeQuantScaledInto(out, w, rows, cols, s, f, keep)
	return out
}

// fakeQuantScaledInto is fakeQuantScaled into out (len(w) floats).
func fakeQuantScaledInto(out, w []float32, rows, cols int, s []float32, f Format, keep bool) {
	if keep {
		copy(out, w)
		return
	}
	ng := f.NumGroups(cols)
	g := f.GroupSize(cols)
	kernels.ParallelFor(rows, 8, func(lo, hi int) {
		codes := make([]uint8, cols)
		sc := make([]float32, ng)
		zs := make([]int32, ng)
		for r := lo; r < hi; r++ {
			row := out[r*cols : (r+1)*cols]
			for c, v := range w[r*cols : (r+1)*cols] {
				row[c] = v * s[c]
			}
			quantizeRow(codes, sc, zs, row, f)
			for c := range row {
				row[c] = dequant(codes[c], sc[c/g], zs[c/g]) / s[c]
			}
		}
	})
}

func divVec(x, s []float32) {
	for i := range x {
		x[i] /= s[i]
	}
}

// awqClip is AutoAWQ's auto_clip for one linear: per row and group, the
// symmetric clipping threshold max|w|·(1 − i/ClipGrid) that minimizes the
// mean squared error of the group's partial dot products over subsampled
// tokens; w is clamped in place.
//
// The error of every row at one threshold index is one matrix product: with
// X the subsampled tokens' inputs of a group (tokens × g) and Δ the group's
// fake-quantized weights minus the originals (rows × g), X·Δᵀ holds each
// token's partial-dot-product error for every row. Taking the difference
// before the product (rather than subtracting two dot products, as the
// reference does) keeps float32 accumulation accurate, since Δ is the small
// quantity; the profile of the scalar float64 loop this replaces was 85 %
// of AWQ's time.
func awqClip(w []float32, rows, cols int, feat *awqFeat, f Format, o AWQOptions) {
	step := max(1, feat.rows/o.ClipTokens)
	var toks []int
	for t := 0; t < feat.rows; t += step {
		toks = append(toks, t)
	}
	nt := len(toks)
	g := f.GroupSize(cols)
	nShrink := int(o.MaxShrink * float64(o.ClipGrid))
	maxq := float32(f.MaxQ())
	xg := make([]float32, nt*g)
	delta := make([]float32, rows*g)
	prod := make([]float32, nt*rows)
	orgMax := make([]float32, rows)
	bestMax := make([]float32, rows)
	bestErr := make([]float64, rows)
	errs := make([]float64, rows)
	groupLo, groupHi := make([]float32, rows), make([]float32, rows)
	// Per row: one group's codes, scale and zero point, reused by every
	// group and threshold.
	codes, rowScale, rowZero := make([]uint8, rows*g), make([]float32, rows), make([]int32, rows)
	for c0 := 0; c0 < cols; c0 += g {
		c1 := min(c0+g, cols)
		gw := c1 - c0
		for i, t := range toks {
			copy(xg[i*gw:(i+1)*gw], feat.x[t*feat.cols+c0:t*feat.cols+c1])
		}
		for r := range rows {
			var m float32
			lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
			for _, v := range w[r*cols+c0 : r*cols+c1] {
				m = max(m, float32(math.Abs(float64(v))))
				lo, hi = min(lo, v), max(hi, v)
			}
			orgMax[r], bestMax[r], bestErr[r] = m, m, 1e9
			groupLo[r], groupHi[r] = lo, hi
		}
		for is := 0; is < nShrink; is++ {
			shrink := 1 - float32(is)/float32(o.ClipGrid)
			kernels.ParallelFor(rows, 16, func(lo, hi int) {
				for r := lo; r < hi; r++ {
					wg := w[r*cols+c0 : r*cols+c1]
					d := delta[r*gw : (r+1)*gw]
					mv := orgMax[r] * shrink
					for c, v := range wg {
						d[c] = min(max(v, -mv), mv)
					}
					// Clamping is monotone, so the clamped group's range
					// is the clamped range: no scan per threshold. The
					// rounding is the vector kernel's, bit for bit code().
					sc, z := rangeParams(min(max(groupLo[r], -mv), mv), min(max(groupHi[r], -mv), mv), f)
					rowScale[r], rowZero[r] = sc, z
					rc := codes[r*g : r*g+gw]
					kernels.QuantizeGroups(rc, d, rowScale[r:r+1], rowZero[r:r+1], gw, int(maxq))
					for c, q := range rc {
						d[c] = dequant(q, sc, z) - wg[c]
					}
				}
			})
			kernels.MatMulT(prod, xg[:nt*gw], nt, kernels.NewWeightsF32(rows, gw, delta[:rows*gw]))
			// Per row, the tokens' squared errors in token order, rows
			// split across cores in blocks (the sums do not depend on
			// the split).
			kernels.ParallelFor(rows, 64, func(lo, hi int) {
				e := errs[lo:hi]
				clear(e)
				for i := range nt {
					for r, v := range prod[i*rows+lo : i*rows+hi] {
						e[r] += float64(v) * float64(v)
					}
				}
			})
			for r, e := range errs {
				if e /= float64(max(nt, 1)); e < bestErr[r] {
					bestErr[r], bestMax[r] = e, orgMax[r]*shrink
				}
			}
		}
		for r := range rows {
			mv := bestMax[r]
			wg := w[r*cols+c0 : r*cols+c1]
			for c, v := range wg {
				wg[c] = min(max(v, -mv), mv)
			}
		}
	}
}

// sqDiffChunk is the span of sqDiff's partial sums: fixed, so the total
// is the same whatever the number of cores.
const sqDiffChunk = 1 << 15

// sqDiff returns Σ (ref[i] − y[i])² in float64, summed chunk by chunk in
// parallel and the chunks in order (on the TinyLlama shape this loss over
// every block output at every grid point was AWQ's largest serial part).
func sqDiff(y, ref []float32) float64 {
	nc := (len(y) + sqDiffChunk - 1) / sqDiffChunk
	part := make([]float64, nc)
	kernels.ParallelFor(nc, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			i0, i1 := c*sqDiffChunk, min((c+1)*sqDiffChunk, len(y))
			r := ref[i0:i1]
			var s float64
			for i, v := range y[i0:i1] {
				e := float64(r[i]) - float64(v)
				s += e * e
			}
			part[c] = s
		}
	})
	var s float64
	for _, p := range part {
		s += p
	}
	return s
}
