package quant

import (
	"context"
	"math"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
)

// TTQ's per-prompt searches (TTQOptions.Clip, AlphaGrid) and the static
// scales of LowRankActStatic. Both searches measure a layer's output error
// ‖X_s(W − Ŵ)ᵀ‖² on X_s, at most SearchTokens of the prompt's tokens, so
// that their cost per layer is bounded by the grid size times
// SearchTokens·Out·In multiply-adds whatever the prompt's length.

// scalesFor is D for the prompt x: the closed form at Alpha, or with an α
// grid the grid value that minimizes the output error of every layer that
// reads x. Layers sharing an input compute it once.
func (t *TTQLinear) scalesFor(x []float32, rows int) []float64 {
	compute := func() []float64 {
		if len(t.opts.AlphaGrid) == 0 {
			return t.Scales(x, rows)
		}
		members := []*TTQLinear{t}
		if t.shared != nil {
			members = t.shared.members
		}
		return searchAlpha(members, x, rows)
	}
	if t.shared != nil {
		return t.shared.get(x, rows, compute)
	}
	return compute()
}

// ttqSubsample returns at most SearchTokens rows of the statistics window
// of x (rows × cols), at stride ⌈n/SearchTokens⌉ from the first, and their
// count.
func ttqSubsample(x []float32, rows, cols int, o TTQOptions) ([]float32, int) {
	n := ttqWindowRows(rows, o)
	limit := o.searchTokens()
	step := max(1, (n+limit-1)/limit)
	nt := (n + step - 1) / step
	xs := make([]float32, nt*cols)
	for i := range nt {
		copy(xs[i*cols:(i+1)*cols], x[i*step*cols:(i*step+1)*cols])
	}
	return xs, nt
}

// searchAlpha runs the α grid for the layers that read x: the first α of
// least Σ_layers ‖X_s(S − Q(S·D)·D⁻¹)ᵀ‖², S each layer's quantized matrix
// (W, or R with a low-rank part). It records the choice in every member.
func searchAlpha(members []*TTQLinear, x []float32, rows int) []float64 {
	o := members[0].opts
	k := members[0].In()
	st := ttqStat(x, rows, k, o)
	xs, nt := ttqSubsample(x, rows, k, o)
	srcs := make([][]float32, len(members))
	for i, mb := range members {
		srcs[i] = mb.quantizedSource()
	}
	var best []float64
	bestAlpha, bestLoss := o.Alpha, math.Inf(1)
	d32 := make([]float32, k)
	for _, a := range o.AlphaGrid {
		d := ttqPow(st, a, o.Lambda)
		for c, v := range d {
			d32[c] = float32(v)
		}
		var loss float64
		for i, mb := range members {
			wq := fakeQuantScaled(srcs[i], mb.Out(), k, d32, mb.format, false)
			loss += outputSqErr(xs, nt, srcs[i], wq, mb.Out(), k)
		}
		if loss < bestLoss {
			best, bestAlpha, bestLoss = d, a, loss
		}
	}
	if best == nil {
		best, bestAlpha = ttqPow(st, o.Alpha, o.Lambda), o.Alpha
	}
	for _, mb := range members {
		mb.alpha.Store(math.Float64bits(bestAlpha))
	}
	return best
}

// quantizedSource is the matrix the layer quantizes per prompt (R with a
// low-rank part, else W), as float32.
func (t *TTQLinear) quantizedSource() []float32 {
	if t.r != nil {
		return t.r
	}
	w := make([]float32, t.Out()*t.In())
	t.base.W.RowsTo(w, 0, t.Out())
	return w
}

// outputSqErr is ‖X(W − Wq)ᵀ‖² for x (tokens × cols) and two rows × cols
// matrices, the difference taken before the product as awqClip does.
func outputSqErr(x []float32, tokens int, w, wq []float32, rows, cols int) float64 {
	delta := make([]float32, rows*cols)
	for i := range delta {
		delta[i] = w[i] - wq[i]
	}
	prod := make([]float32, tokens*rows)
	kernels.MatMulT(prod, x, tokens, kernels.NewWeightsF32(rows, cols, delta))
	var s float64
	for _, v := range prod {
		s += float64(v) * float64(v)
	}
	return s
}

// clipScaled returns S·D clipped per row and group by AutoAWQ's clip
// search against the prompt's subsampled inputs D⁻¹·X, so that the error
// it minimizes is the layer's output error.
func (t *TTQLinear) clipScaled(src kernels.Weights, d32 []float32, x []float32, rows int) []float32 {
	n, k := t.Out(), t.In()
	ws := make([]float32, n*k)
	src.RowsTo(ws, 0, n)
	for i := range ws {
		ws[i] *= d32[i%k]
	}
	xs, nt := ttqSubsample(x, rows, k, t.opts)
	for i := range xs {
		xs[i] /= d32[i%k]
	}
	awqClip(ws, n, k, &awqFeat{x: xs, rows: nt, cols: k}, t.format, t.opts.clipOptions(nt))
	return ws
}

// ttqInput names the linear whose input a site reads: q/k/v read
// q_proj's, gate/up read gate_proj's.
func ttqInput(name string) string {
	switch name {
	case "self_attn.k_proj", "self_attn.v_proj":
		return "self_attn.q_proj"
	case "mlp.up_proj":
		return "mlp.gate_proj"
	}
	return name
}

// ttqStaticScales is LowRankActStatic's D for every site: the options'
// statistic over every calibration token of the site's full-precision
// input (each layer fed the previous one's full-precision output, as AWQ
// does), plus λ, to the power α.
func ttqStaticScales(ctx context.Context, m *model.Model, calib [][]int, o TTQOptions) (map[model.Site][]float64, error) {
	inps, acts, err := embedAll(m, calib)
	if err != nil {
		return nil, err
	}
	defer acts.Free()
	run := new(layerRunner)
	out := map[model.Site][]float64{}
	inputs := []string{"self_attn.q_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.down_proj"}
	for l := range m.Layers {
		st := map[string][]float64{}
		count := map[string]int{}
		tp := taps{in: map[string]func([]float32, int){}}
		for _, name := range inputs {
			st[name] = make([]float64, (*layerLinear(&m.Layers[l], name)).In())
			tp.in[name] = func(x []float32, rows int) {
				if o.Stat == StatMeanAbs {
					kernels.ColumnSumAbs(st[name], x, rows)
				} else {
					kernels.ColumnSumSq(st[name], x, rows)
				}
				count[name] += rows
			}
		}
		if err := run.advance(ctx, m, m.Layers[l], inps, calib, tp); err != nil {
			return nil, err
		}
		for _, name := range inputs {
			if o.Stat != StatSumSq && count[name] > 0 {
				for c := range st[name] {
					st[name][c] /= float64(count[name])
				}
			}
		}
		for _, s := range layerSites(l) {
			out[s] = ttqPow(st[ttqInput(s.Name)], o.Alpha, o.Lambda)
		}
	}
	return out, nil
}
