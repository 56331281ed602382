package quant

import (
	"context"
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/mat"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
)

// GPTQOptions are the knobs of IST-DASLab/gptq's fasterquant (METHODS §4).
type GPTQOptions struct {
	// Damp is added to the Hessian's diagonal as a fraction of its mean
	// (percdamp, 0.01).
	Damp float64 `json:"damp"`
	// BlockSize is the width of the lazy column batches (128).
	BlockSize int `json:"blocksize"`
	// ActOrder processes columns by decreasing Hessian diagonal (desc_act).
	ActOrder bool `json:"act_order"`
	// StaticGroups fits every group's grid on the original weights before
	// any update, so act-order keeps groups contiguous.
	StaticGroups bool `json:"static_groups"`
}

// DefaultGPTQOptions are gptq's opt.py/llama.py defaults.
func DefaultGPTQOptions() GPTQOptions { return GPTQOptions{Damp: 0.01, BlockSize: 128} }

func (o GPTQOptions) validate() error {
	if !(o.Damp > 0 && o.Damp < 1) {
		return fmt.Errorf("quant: GPTQ damping %g outside (0, 1)", o.Damp)
	}
	if o.BlockSize < 1 {
		return fmt.Errorf("quant: GPTQ block size %d < 1", o.BlockSize)
	}
	return nil
}

// GPTQ quantizes layer by layer with second-order error compensation; the
// next layer is calibrated on the outputs of the already quantized ones.
type GPTQ struct{ Opts Options }

func (g *GPTQ) Name() string { return "gptq" }

// hessian accumulates Σ XᵀX over calibration sequences in float64.
type hessian struct {
	h *mat.SymDense
	n int
}

func newHessian(d int) *hessian { return &hessian{h: mat.NewSymDense(d, nil)} }

func (h *hessian) add(x []float32, rows int) {
	d := h.h.SymmetricDim()
	x64 := make([]float64, rows*d)
	for i, v := range x[:rows*d] {
		x64[i] = float64(v)
	}
	h.h.SymRankK(h.h, 1, mat.NewDense(rows, d, x64).T())
}

// matrix returns H = (2/n)·Σ XᵀX, as gptq's running mean over sequences
// ends up, as a dense row-major slice.
func (h *hessian) matrix() []float64 {
	d := h.h.SymmetricDim()
	out := make([]float64, d*d)
	s := 2 / float64(max(h.n, 1))
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			out[i*d+j] = s * h.h.At(i, j)
		}
	}
	return out
}

// gptqInputs groups the sites that share an input, so that one Hessian
// serves q/k/v and one serves gate/up.
var gptqInputs = []struct {
	tap   string
	sites []string
}{
	{"self_attn.q_proj", []string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}},
	{"self_attn.o_proj", []string{"self_attn.o_proj"}},
	{"mlp.gate_proj", []string{"mlp.gate_proj", "mlp.up_proj"}},
	{"mlp.down_proj", []string{"mlp.down_proj"}},
}

// Apply runs gptq's sequential procedure (llama.py without
// --true-sequential): per layer, collect the Hessians of every linear's
// input with the previous layers already quantized, quantize the layer's
// seven linears, then recompute its outputs with quantized weights as the
// next layer's inputs.
func (g *GPTQ) Apply(ctx context.Context, m *model.Model, calib [][]int, progress Progress) error {
	if err := g.Opts.GPTQ.validate(); err != nil {
		return err
	}
	if len(calib) == 0 {
		return fmt.Errorf("quant: gptq needs calibration data")
	}
	inps, err := embedAll(m, calib)
	if err != nil {
		return err
	}
	for l := range m.Layers {
		hs := map[string]*hessian{}
		tp := taps{in: map[string]func([]float32, int){}}
		for _, in := range gptqInputs {
			lin := *layerLinear(&m.Layers[l], in.tap)
			h := newHessian(lin.In())
			hs[in.tap] = h
			tp.in[in.tap] = h.add
		}
		for i, x := range inps {
			if err := ctx.Err(); err != nil {
				return err
			}
			if _, err := runLayer(m, m.Layers[l], x, len(calib[i]), tp, false); err != nil {
				return err
			}
			for _, h := range hs {
				h.n++
			}
		}
		for _, in := range gptqInputs {
			hm := hs[in.tap].matrix()
			for _, name := range in.sites {
				if err := ctx.Err(); err != nil {
					return err
				}
				s := model.Site{Layer: l, Name: name}
				w, rows, cols, bias, err := denseWeights(m, s)
				if err != nil {
					return err
				}
				f, keep, err := g.Opts.formatFor(s, cols)
				if err != nil {
					return err
				}
				if keep {
					continue
				}
				q, err := GPTQQuantize(w, rows, cols, append([]float64(nil), hm...), f, g.Opts.GPTQ)
				if err != nil {
					return fmt.Errorf("%s: %w", s, err)
				}
				q.Bias = bias
				if err := m.SetLinear(s, q); err != nil {
					return err
				}
			}
		}
		for i, x := range inps {
			if err := ctx.Err(); err != nil {
				return err
			}
			if inps[i], err = runLayer(m, m.Layers[l], x, len(calib[i]), taps{}, false); err != nil {
				return err
			}
		}
		progress.report(l+1, len(m.Layers))
	}
	return nil
}

// GPTQQuantize is fasterquant: it quantizes w (rows×cols) column by column
// on the format's grid, spreading each column's rounding error over the
// not yet quantized columns through the upper Cholesky factor of H⁻¹. h is
// the cols×cols Hessian 2XXᵀ (row-major) and is overwritten.
//
// Every output row evolves independently (the update of row r only reads
// row r and the shared factor), so rows are processed in parallel; each
// keeps gptq's lazy-batch semantics, including fitting a group's grid on
// the weights as they stood at the last block boundary.
func GPTQQuantize(w []float32, rows, cols int, h []float64, f Format, o GPTQOptions) (*QLinear, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if len(w) != rows*cols || len(h) != cols*cols {
		return nil, fmt.Errorf("quant: GPTQ shapes: %d weights, %d Hessian entries for %d×%d", len(w), len(h), rows, cols)
	}
	for _, v := range h {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("quant: GPTQ Hessian is not finite")
		}
	}
	grouped := f.Group > 0
	g := f.GroupSize(cols)
	ng := f.NumGroups(cols)
	W := make([]float64, rows*cols)
	for i, v := range w {
		W[i] = float64(v)
	}

	// Without groups, gptq fits each row's grid before zeroing dead inputs.
	scales := make([]float32, rows*ng)
	zeros := make([]int32, rows*ng)
	row32 := func(dst []float32, src []float64) []float32 {
		for i, v := range src {
			dst[i] = float32(v)
		}
		return dst[:len(src)]
	}
	if !grouped {
		buf := make([]float32, cols)
		for r := 0; r < rows; r++ {
			scales[r], zeros[r] = groupParams(row32(buf, W[r*cols:(r+1)*cols]), f)
		}
	}
	for i := 0; i < cols; i++ {
		if h[i*cols+i] == 0 {
			h[i*cols+i] = 1
			for r := 0; r < rows; r++ {
				W[r*cols+i] = 0
			}
		}
	}
	static := grouped && o.StaticGroups
	if static {
		buf := make([]float32, g)
		for r := 0; r < rows; r++ {
			for gi := 0; gi < ng; gi++ {
				c0, c1 := gi*g, min((gi+1)*g, cols)
				scales[r*ng+gi], zeros[r*ng+gi] = groupParams(row32(buf, W[r*cols+c0:r*cols+c1]), f)
			}
		}
	}
	perm := make([]int, cols)
	for i := range perm {
		perm[i] = i
	}
	if o.ActOrder {
		sort.SliceStable(perm, func(a, b int) bool { return h[perm[a]*cols+perm[a]] > h[perm[b]*cols+perm[b]] })
		W = permuteCols(W, rows, cols, perm)
		hp := make([]float64, cols*cols)
		for i, pi := range perm {
			for j, pj := range perm {
				hp[i*cols+j] = h[pi*cols+pj]
			}
		}
		h = hp
	}
	u, err := inverseCholeskyUpper(h, cols, o.Damp)
	if err != nil {
		return nil, err
	}

	maxq := float32(f.MaxQ())
	codes := make([]uint8, rows*cols) // natural column order
	var gidx []int32
	if o.ActOrder && grouped && !static {
		gidx = make([]int32, cols)
		for p, c := range perm {
			gidx[c] = int32(p / g)
		}
	}
	bs := o.BlockSize
	kernels.ParallelFor(rows, 1, func(lo, hi int) {
		w1 := make([]float64, bs)
		e1 := make([]float64, bs)
		buf := make([]float32, g)
		for r := lo; r < hi; r++ {
			wr := W[r*cols : (r+1)*cols]
			sr, zr := scales[r*ng:(r+1)*ng], zeros[r*ng:(r+1)*ng]
			var s float32
			var z int32
			if !grouped {
				s, z = sr[0], zr[0]
			}
			for i1 := 0; i1 < cols; i1 += bs {
				i2 := min(i1+bs, cols)
				n := i2 - i1
				copy(w1, wr[i1:i2])
				for i := 0; i < n; i++ {
					col := i1 + i
					switch {
					case static:
						gi := perm[col] / g
						s, z = sr[gi], zr[gi]
					case grouped && col%g == 0:
						gi := col / g
						sr[gi], zr[gi] = groupParams(row32(buf, wr[col:min(col+g, cols)]), f)
						s, z = sr[gi], zr[gi]
					}
					wv := w1[i]
					q := code(float32(wv), s, z, maxq)
					codes[r*cols+perm[col]] = q
					d := u[col*cols+col]
					e := (wv - float64(dequant(q, s, z))) / d
					e1[i] = e
					urow := u[col*cols+i1 : col*cols+i2]
					for j := i; j < n; j++ {
						w1[j] -= e * urow[j]
					}
				}
				for k := 0; k < n; k++ {
					e := e1[k]
					urow := u[(i1+k)*cols : (i1+k+1)*cols]
					for j := i2; j < cols; j++ {
						wr[j] -= e * urow[j]
					}
				}
			}
		}
	})
	q := NewQLinear(f, rows, cols)
	q.GIdx = gidx
	for r := 0; r < rows; r++ {
		q.SetRow(r, codes[r*cols:(r+1)*cols], scales[r*ng:(r+1)*ng], zeros[r*ng:(r+1)*ng])
	}
	return q, nil
}

func permuteCols(w []float64, rows, cols int, perm []int) []float64 {
	out := make([]float64, len(w))
	for r := 0; r < rows; r++ {
		for i, p := range perm {
			out[r*cols+i] = w[r*cols+p]
		}
	}
	return out
}

// inverseCholeskyUpper dampens H (diag += damp·mean(diag)) and returns the
// upper Cholesky factor U of H⁻¹ (H⁻¹ = UᵀU), row-major. When H is not
// positive definite the damping is raised by 0.01 at a time, as
// GPTQModel's damp_auto_increment does.
func inverseCholeskyUpper(h []float64, n int, damp float64) ([]float64, error) {
	var mean float64
	for i := 0; i < n; i++ {
		mean += h[i*n+i]
	}
	mean /= float64(n)
	for pd := damp; pd < 1; pd += 0.01 {
		a := mat.NewSymDense(n, nil)
		for i := 0; i < n; i++ {
			for j := i; j < n; j++ {
				v := h[i*n+j]
				if i == j {
					v += pd * mean
				}
				a.SetSym(i, j, v)
			}
		}
		var ch mat.Cholesky
		if !ch.Factorize(a) {
			continue
		}
		var inv mat.SymDense
		if err := ch.InverseTo(&inv); err != nil {
			continue
		}
		var ch2 mat.Cholesky
		if !ch2.Factorize(&inv) {
			continue
		}
		var ut mat.TriDense
		ch2.UTo(&ut)
		u := make([]float64, n*n)
		for i := 0; i < n; i++ {
			for j := i; j < n; j++ {
				u[i*n+j] = ut.At(i, j)
			}
		}
		return u, nil
	}
	return nil, fmt.Errorf("quant: GPTQ Hessian is not positive definite even with damping near 1")
}
