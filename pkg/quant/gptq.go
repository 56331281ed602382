package quant

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/ttqproject/ttq/internal/offheap"
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

// hessian accumulates Σ XᵀX over calibration sequences. Each sequence's
// XᵀX is a float32 product through the GEMM kernels (float32 products and
// sums over one sequence's tokens, as gptq's torch code computes it), and
// the sequences are summed in float64. Only the upper triangle is computed,
// in row blocks of hessianBlock against the columns right of them.
type hessian struct {
	d       int
	h       []float64 // d×d row-major; entries j ≥ i are the sums
	mem     *offheap.Array[float64]
	n       int
	scratch *hessianScratch
}

// hessianScratch is one sequence transposed (d × tokens) and one row block
// of its XᵀX. The Hessians of a layer are fed one after another by the
// same forward, so they share one.
type hessianScratch struct{ xt, t []float32 }

const hessianBlock = 256

// newHessian accumulates a d×d Hessian, transposing sequences into
// scratch (shared by the Hessians one forward feeds).
func newHessian(d int, scratch *hessianScratch) (*hessian, error) {
	mem, err := offheap.New[float64](d * d)
	if err != nil {
		return nil, err
	}
	return &hessian{d: d, h: mem.S, mem: mem, scratch: scratch}, nil
}

// free releases the accumulator, and with it the matrix and any factor
// computed in place from it.
func (h *hessian) free() {
	if h != nil {
		h.mem.Free()
		h.h = nil
	}
}

func (h *hessian) add(x []float32, rows int) {
	d := h.d
	if rows == 0 {
		return
	}
	sc := h.scratch
	sc.xt = growF32(sc.xt, d*rows)
	xt := sc.xt
	// Transpose in 32×32 tiles so both sides stay in cache.
	const tb = 32
	for t0 := 0; t0 < rows; t0 += tb {
		for c0 := 0; c0 < d; c0 += tb {
			for t := t0; t < min(t0+tb, rows); t++ {
				xr := x[t*d : (t+1)*d]
				for c := c0; c < min(c0+tb, d); c++ {
					xt[c*rows+t] = xr[c]
				}
			}
		}
	}
	for i0 := 0; i0 < d; i0 += hessianBlock {
		i1 := min(i0+hessianBlock, d)
		nc := d - i0
		sc.t = growF32(sc.t, (i1-i0)*nc)
		kernels.MatMulT(sc.t, xt[i0*rows:i1*rows], i1-i0, kernels.NewWeightsF32(nc, rows, xt[i0*rows:d*rows]))
		kernels.ParallelFor(i1-i0, 16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				hr := h.h[(i0+i)*d+i0+i : (i0+i+1)*d]
				tr := sc.t[i*nc+i : (i+1)*nc]
				for j, v := range tr {
					hr[j] += float64(v)
				}
			}
		})
	}
}

func growF32(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// matrix returns H = (2/n)·Σ XᵀX, as gptq's running mean over sequences
// ends up, row-major in the accumulator itself, so h takes no more data
// afterwards. Only the upper triangle (j ≥ i) holds H; the lower one is
// zero. Everything that factors or permutes H reads the upper triangle
// alone, so the mirror image is never written (writing it was 5 % of
// GPTQ's time on the TinyLlama shape).
func (h *hessian) matrix() []float64 {
	d := h.d
	out := h.h
	sc := 2 / float64(max(h.n, 1))
	kernels.ParallelFor(d, 64, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := out[i*d+i : (i+1)*d]
			for j := range row {
				row[j] *= sc
			}
		}
	})
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
	inps, acts, err := embedAll(m, calib)
	if err != nil {
		return err
	}
	defer acts.Free()
	run := new(layerRunner)
	cp := g.Opts.Checkpoint
	if cp.done() > len(m.Layers) {
		return fmt.Errorf("quant: gptq: resuming after layer %d of %d", cp.done(), len(m.Layers))
	}
	for l := range m.Layers {
		if l < cp.done() {
			// A finished layer: its quantized weights, then its outputs
			// on them as the next layer's inputs, as below.
			if err := cp.restore(m, l); err != nil {
				return err
			}
			if err := g.nextInputs(ctx, run, m, l, inps, calib); err != nil {
				return err
			}
			progress.report(l+1, len(m.Layers))
			continue
		}
		if err := g.quantizeLayer(ctx, run, m, l, inps, calib); err != nil {
			return err
		}
		if err := cp.save(m, l); err != nil {
			return err
		}
		if err := g.nextInputs(ctx, run, m, l, inps, calib); err != nil {
			return err
		}
		progress.report(l+1, len(m.Layers))
	}
	return nil
}

// quantizeLayer collects the Hessians of layer l's four inputs over inps
// and quantizes its linears with them. All four are collected in one pass
// and so are live together; each is freed as soon as the linears that read
// its input are quantized.
func (g *GPTQ) quantizeLayer(ctx context.Context, run *layerRunner, m *model.Model, l int, inps [][]float32, calib [][]int) error {
	hs := map[string]*hessian{}
	defer func() {
		for _, h := range hs {
			h.free()
		}
	}()
	tp := taps{in: map[string]func([]float32, int){}}
	scratch := new(hessianScratch)
	for _, in := range gptqInputs {
		lin := *layerLinear(&m.Layers[l], in.tap)
		h, err := newHessian(lin.In(), scratch)
		if err != nil {
			return fmt.Errorf("quant: gptq layer %d: %w", l, err)
		}
		hs[in.tap] = h
		tp.in[in.tap] = h.add
	}
	for i, x := range inps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := run.run(m, m.Layers[l], x, len(calib[i]), tp, false); err != nil {
			return err
		}
		for _, h := range hs {
			h.n++
		}
	}
	// The forward's scratch is idle until the next layer's collection;
	// held through the factorizations it is live heap the collector lets
	// grow by half again (GOGC 50).
	run.release()
	for _, h := range hs {
		h.scratch = nil
	}
	for _, in := range gptqInputs {
		if err := g.quantizeTap(ctx, m, l, in.sites, hs[in.tap]); err != nil {
			return err
		}
		hs[in.tap].free()
		delete(hs, in.tap)
	}
	return nil
}

// quantizeTap quantizes the linears of layer l that read the input whose
// Hessian is h; one factorization serves them all.
func (g *GPTQ) quantizeTap(ctx context.Context, m *model.Model, l int, sites []string, h *hessian) error {
	var fac *gptqFactor
	defer func() { fac.free() }()
	for _, name := range sites {
		if err := ctx.Err(); err != nil {
			return err
		}
		s := model.Site{Layer: l, Name: name}
		d, err := denseLinear(m, s)
		if err != nil {
			return err
		}
		cols := d.W.Cols
		f, keep, err := g.Opts.formatFor(s, cols)
		if err != nil {
			return err
		}
		if keep {
			continue
		}
		if fac == nil {
			if fac, err = gptqFactorize(h.matrix(), cols, g.Opts.GPTQ); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		q, err := gptqQuantize(d.W, fac, f, g.Opts.GPTQ)
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		q.Bias = d.Bias
		if err := replaceLinear(m, s, q); err != nil {
			return err
		}
	}
	return nil
}

// nextInputs replaces inps by layer l's outputs computed with its quantized
// weights; the last layer's outputs would feed nothing.
func (g *GPTQ) nextInputs(ctx context.Context, run *layerRunner, m *model.Model, l int, inps [][]float32, calib [][]int) error {
	if l+1 >= len(m.Layers) {
		return nil
	}
	return run.advance(ctx, m, m.Layers[l], inps, calib, taps{})
}

// GPTQQuantize is fasterquant: it quantizes w (rows×cols) column by column
// on the format's grid, spreading each column's rounding error over the
// not yet quantized columns through the upper Cholesky factor of H⁻¹. h is
// the cols×cols Hessian 2XXᵀ (row-major; only its upper triangle is read)
// and is overwritten.
//
// Every output row evolves independently (the update of row r only reads
// row r and the shared factor), so rows are processed in parallel; each
// keeps gptq's lazy-batch semantics, including fitting a group's grid on
// the weights as they stood at the last block boundary.
func GPTQQuantize(w []float32, rows, cols int, h []float64, f Format, o GPTQOptions) (*QLinear, error) {
	if len(w) != rows*cols || len(h) != cols*cols {
		return nil, fmt.Errorf("quant: GPTQ shapes: %d weights, %d Hessian entries for %d×%d", len(w), len(h), rows, cols)
	}
	fac, err := gptqFactorize(h, cols, o)
	if err != nil {
		return nil, err
	}
	defer fac.free()
	return gptqQuantize(kernels.NewWeightsF32(rows, cols, w), fac, f, o)
}

// gptqFactor is what fasterquant derives from the Hessian alone, shared by
// every linear that reads the same input (q/k/v, gate/up): the dead input
// columns, the column order and the upper Cholesky factor of the damped,
// permuted H⁻¹.
type gptqFactor struct {
	dead []bool
	perm []int
	u    []float64
	// permuted holds u when act-order needed a permuted copy of H;
	// otherwise u lives in the Hessian's own storage.
	permuted *offheap.Array[float64]
}

func (f *gptqFactor) free() {
	if f != nil {
		f.permuted.Free()
		f.u = nil
	}
}

// gptqFactorize overwrites h (cols×cols, row-major).
func gptqFactorize(h []float64, cols int, o GPTQOptions) (*gptqFactor, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	for _, v := range h {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("quant: GPTQ Hessian is not finite")
		}
	}
	fac := &gptqFactor{dead: make([]bool, cols), perm: make([]int, cols)}
	for i := 0; i < cols; i++ {
		if h[i*cols+i] == 0 {
			h[i*cols+i] = 1
			fac.dead[i] = true
		}
	}
	for i := range fac.perm {
		fac.perm[i] = i
	}
	if o.ActOrder {
		perm := fac.perm
		sort.SliceStable(perm, func(a, b int) bool { return h[perm[a]*cols+perm[a]] > h[perm[b]*cols+perm[b]] })
		mem, err := offheap.New[float64](cols * cols)
		if err != nil {
			return nil, err
		}
		fac.permuted = mem
		hp := mem.S
		for i, pi := range perm {
			for j, pj := range perm[i:] {
				hp[i*cols+i+j] = h[min(pi, pj)*cols+max(pi, pj)]
			}
		}
		h = hp
	}
	var err error
	if fac.u, err = inverseCholeskyUpper(h, cols, o.Damp); err != nil {
		fac.free()
		return nil, err
	}
	return fac, nil
}

// gptqQuantize is GPTQQuantize on a factored Hessian. It decodes w's rows
// straight into its float64 working copy: a float32 copy of the matrix
// besides would be 4 more bytes per weight at the peak.
func gptqQuantize(w kernels.Weights, fac *gptqFactor, f Format, o GPTQOptions) (*QLinear, error) {
	rows, cols := w.Rows, w.Cols
	if err := f.Validate(); err != nil {
		return nil, err
	}
	grouped := f.Group > 0
	g := f.GroupSize(cols)
	ng := f.NumGroups(cols)
	work, err := offheap.New[float64](rows * cols)
	if err != nil {
		return nil, err
	}
	defer work.Free()
	W := work.S
	rowBuf := make([]float32, cols)
	for r := 0; r < rows; r++ {
		w.RowsTo(rowBuf, r, 1)
		for c, v := range rowBuf {
			W[r*cols+c] = float64(v)
		}
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
	for i, d := range fac.dead {
		if d {
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
	perm, u := fac.perm, fac.u
	if o.ActOrder {
		permuted, err := offheap.New[float64](rows * cols)
		if err != nil {
			return nil, err
		}
		defer permuted.Free()
		permuteCols(permuted.S, W, rows, cols, perm)
		W = permuted.S
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
	gptqColumns(W, rows, cols, u, o.BlockSize, func(r int, wr []float64, w1 []float64, e1 []float64, i1, i2 int, buf []float32) {
		sr, zr := scales[r*ng:(r+1)*ng], zeros[r*ng:(r+1)*ng]
		var s float32
		var z int32
		if !grouped {
			s, z = sr[0], zr[0]
		}
		n := i2 - i1
		for i := 0; i < n; i++ {
			col := i1 + i
			switch {
			case static:
				gi := perm[col] / g
				s, z = sr[gi], zr[gi]
			case grouped:
				gi := col / g
				if col%g == 0 {
					sr[gi], zr[gi] = groupParams(row32(buf[:g], wr[col:min(col+g, cols)]), f)
				}
				s, z = sr[gi], zr[gi]
			}
			wv := w1[i]
			q := code(float32(wv), s, z, maxq)
			codes[r*cols+perm[col]] = q
			d := u[col*cols+col]
			e := (wv - float64(dequant(q, s, z))) / d
			e1[i] = e
			urow := u[col*cols+i1 : col*cols+i2]
			kernels.AxpyF64(-e, urow[i+1:n], w1[i+1:n])
		}
	}, g)
	q := NewQLinear(f, rows, cols)
	q.GIdx = gidx
	for r := 0; r < rows; r++ {
		q.SetRow(r, codes[r*cols:(r+1)*cols], scales[r*ng:(r+1)*ng], zeros[r*ng:(r+1)*ng])
	}
	return q, nil
}

func permuteCols(out, w []float64, rows, cols int, perm []int) {
	for r := 0; r < rows; r++ {
		for i, p := range perm {
			out[r*cols+i] = w[r*cols+p]
		}
	}
}

// inverseCholeskyUpper dampens H (diag += damp·mean(diag)) and returns the
// upper Cholesky factor U of H⁻¹ (H⁻¹ = UᵀU), row-major, in h's own storage
// (h is overwritten). When H is not positive definite the damping is raised
// by 0.01 at a time, as GPTQModel's damp_auto_increment does.
//
// gptq computes U as chol(cholesky_inverse(chol(H)), upper): three
// factorizations' worth of work. The same U is one Cholesky factorization
// and one triangular inverse: with J the order-reversing permutation and
// JHJ = LLᵀ, H = (JLJ)(JLJ)ᵀ with JLJ upper triangular, so
// H⁻¹ = UᵀU for U = (JLJ)⁻¹ = J·L⁻¹·J, and the Cholesky factor with a
// positive diagonal is unique (inverseCholeskyBlocked).
//
// Only H's upper triangle is read. J·H·J's lower triangle is built in the
// lower triangle of the same array (entry (i, j), j < i, comes from
// (n−1−i, n−1−j), strictly above the diagonal), and the factorization
// leaves the strict upper triangle alone until it succeeds, so a retry with
// more damping rebuilds from it and the saved diagonal. A separate n×n
// array cost as much in first-touch page faults as the factorization's
// scalar parts (the MLP Hessian is 5632² float64, 254 MB).
func inverseCholeskyUpper(h []float64, n int, damp float64) ([]float64, error) {
	diag := make([]float64, n)
	var mean float64
	for i := range diag {
		diag[i] = h[i*n+i]
		mean += diag[i]
	}
	mean /= float64(n)
	for pd := damp; pd < 1; pd += 0.01 {
		kernels.ParallelFor(n, 64, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				ar := h[i*n : i*n+i]
				src := h[(n-1-i)*n : (n-i)*n]
				for j := range ar {
					ar[j] = src[n-1-j]
				}
				h[i*n+i] = diag[n-1-i] + pd*mean
			}
		})
		if inverseCholeskyBlocked(h, n) {
			return h, nil
		}
	}
	return nil, fmt.Errorf("quant: GPTQ Hessian is not positive definite even with damping near 1")
}

// gptqColumns runs gptq's lazy batches over every row of W (rows × cols,
// float64): for each block [i1, i2) of bs columns, quant(r, ...) quantizes
// row r's block in w1 (a copy of W[r, i1:i2]; wr is the global row, as it
// stood at the block boundary) and leaves the scaled errors in e1; then the
// block's errors reach the columns right of it, W[:, i2:] −= Err·U[i1:i2,
// i2:], as one float32 GEMM per row chunk through the kernels (the panel of
// U is converted once per block). Within a block everything is float64.
func gptqColumns(W []float64, rows, cols int, u []float64, bs int,
	quant func(r int, wr, w1, e1 []float64, i1, i2 int, buf []float32), g int) {
	const chunk = 256
	errs := make([]float32, min(rows, chunk)*bs)
	var panel, tmp []float32
	for i1 := 0; i1 < cols; i1 += bs {
		i2 := min(i1+bs, cols)
		n, rem := i2-i1, cols-i2
		if rem > 0 {
			panel = growF32(panel, n*rem)
			for k := 0; k < n; k++ {
				src := u[(i1+k)*cols+i2 : (i1+k+1)*cols]
				dst := panel[k*rem : (k+1)*rem]
				for j, v := range src {
					dst[j] = float32(v)
				}
			}
		}
		for r0 := 0; r0 < rows; r0 += chunk {
			r1 := min(r0+chunk, rows)
			kernels.ParallelFor(r1-r0, 1, func(lo, hi int) {
				w1 := make([]float64, n)
				e1 := make([]float64, n)
				buf := make([]float32, max(g, 1))
				for r := r0 + lo; r < r0+hi; r++ {
					wr := W[r*cols : (r+1)*cols]
					copy(w1, wr[i1:i2])
					quant(r, wr, w1, e1, i1, i2, buf)
					er := errs[(r-r0)*n : (r-r0+1)*n]
					for k, e := range e1 {
						er[k] = float32(-e)
					}
				}
			})
			if rem == 0 {
				continue
			}
			tmp = growF32(tmp, (r1-r0)*rem)
			kernels.MatMul(tmp, errs[:(r1-r0)*n], r1-r0, panel, n, rem, rem)
			kernels.ParallelFor(r1-r0, 8, func(lo, hi int) {
				for r := r0 + lo; r < r0+hi; r++ {
					wr := W[r*cols+i2 : (r+1)*cols]
					for j, v := range tmp[(r-r0)*rem : (r-r0+1)*rem] {
						wr[j] += float64(v)
					}
				}
			})
		}
	}
}
