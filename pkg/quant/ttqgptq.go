package quant

import (
	"github.com/ttqproject/ttq/pkg/kernels"
)

// Test-time GPTQ (TTQOptions.GPTQ): per prompt, the layer's own inputs
// give the Hessian, and GPTQ's column updates (gptqFactorize,
// gptqQuantize: the static method's code) quantize W·D against it. With
// X the window's tokens (T × In) and D TTQ's scales, the layer computes
// Q(W·D)·(D⁻¹X), so the Hessian of the scaled problem is
// H_D = 2·(XD⁻¹)ᵀ(XD⁻¹) = D⁻¹·2XᵀX·D⁻¹: GPTQ minimizes ‖(W·D − Ŵ)·D⁻¹Xᵀ‖²,
// the layer's output error on the prompt, on the grid that D chose.

// ttqHessian is H_D for the statistics window of x (rows × len(d)): the
// float32 products and float64 sums of GPTQ's accumulator, one sequence,
// then scaled by D⁻¹ on both sides (upper triangle only, as the factor
// reads it).
func ttqHessian(x []float32, rows int, d []float64, o TTQOptions) []float64 {
	k := len(d)
	n := ttqWindowRows(rows, o)
	h := &hessian{d: k, h: make([]float64, k*k), scratch: new(hessianScratch)}
	h.add(x[:n*k], n)
	h.n = 1
	hm := h.matrix()
	for i := range k {
		row := hm[i*k+i : (i+1)*k]
		for j := range row {
			row[j] /= d[i] * d[i+j]
		}
	}
	return hm
}

// gptqFactor is the prompt's factored H_D, computed once for the layers
// that read the same input.
func (t *TTQLinear) gptqFactor(x []float32, rows int, d []float64) (*gptqFactor, error) {
	compute := func() (*gptqFactor, error) {
		return gptqFactorize(ttqHessian(x, rows, d, t.opts), t.In(), t.opts.gptqOptions())
	}
	if t.shared != nil {
		return t.shared.factor(x, rows, compute)
	}
	return compute()
}

// gptqInto quantizes src·D into q with GPTQ on the prompt's Hessian. It
// reports false, leaving q alone, where the Hessian cannot be factored
// (not even with damping near 1) or the format is not GPTQ's; the caller
// then rounds to nearest.
func (t *TTQLinear) gptqInto(q *QLinear, src kernels.Weights, d []float64, d32 []float32, x []float32, rows int) bool {
	fac, err := t.gptqFactor(x, rows, d)
	if err != nil {
		return false
	}
	n, k := t.Out(), t.In()
	ws := make([]float32, n*k)
	src.RowsTo(ws, 0, n)
	for i := range ws {
		ws[i] *= d32[i%k]
	}
	g, err := gptqQuantize(kernels.NewWeightsF32(n, k, ws), fac, t.format, t.opts.gptqOptions())
	if err != nil {
		return false
	}
	copy(q.Q, g.Q)
	copy(q.Scales, g.Scales)
	copy(q.Zeros, g.Zeros)
	return true
}
