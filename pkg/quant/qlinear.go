package quant

import (
	"fmt"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
)

// QLinear is a linear layer stored as packed integer codes with per-group
// scales and zero points. It implements model.Linear:
//
//	y = ((x ⊙ InScale) · Ŵᵀ) + Bias,  Ŵ[r][c] = (q[r][c] − zero[r][g(c)]) · scale[r][g(c)]
//
// where g(c) = c / GroupSize, or GIdx[c] when GPTQ's act-order left the
// groups non-contiguous. The packed codes are the source of truth: Forward
// decodes panels of rows to float32 for the matrix product, holding at most
// panelBytes of decoded weights per call.
type QLinear struct {
	Format   Format
	Rows     int       // outputs
	Cols     int       // inputs
	Q        []byte    // Rows × Format.RowBytes(Cols), packed codes
	Scales   []float32 // Rows × NumGroups
	Zeros    []uint8   // Rows × NumGroups; nil for symmetric grids
	GIdx     []int32   // group of each input; nil when contiguous
	InScale  []float32 // per-input multiplier applied to x; nil for none
	Bias     []float32 // nil when the layer has no bias
	groupLen int
	// scales16 is Scales as their stored half-precision bits, for the
	// 8-bit int8-activation decode kernel (kernels.QWeights.Scales16): a
	// decode step then streams 34 bytes per 32 weights of a symmetric
	// layer, as llama.cpp's Q8_0 does, instead of 36, for 2 bytes a group
	// of memory. Only 8-bit layers with f16 scales loaded from a
	// checkpoint hold it: nothing changes their scales afterwards, while
	// the layers TTQ re-quantizes per prompt would need it refreshed.
	scales16 []uint16
}

// NewQLinear allocates an empty layer of the given shape.
func NewQLinear(f Format, rows, cols int) *QLinear {
	codes, scales, zeros := qlinearLens(f, rows, cols)
	q := &QLinear{Format: f, Rows: rows, Cols: cols, Q: make([]byte, codes), Scales: make([]float32, scales)}
	if f.HasZeros() {
		q.Zeros = make([]uint8, zeros)
	}
	return q
}

// qlinearLens are the lengths of a rows×cols layer's codes (bytes),
// scales and zero points (0 without them).
func qlinearLens(f Format, rows, cols int) (codes, scales, zeros int) {
	ng := f.NumGroups(cols)
	if f.HasZeros() {
		zeros = rows * ng
	}
	return rows * f.RowBytes(cols), rows * ng, zeros
}

// Validate checks the layer's slices against its shape; Load uses it on
// tensors read from a file.
func (q *QLinear) Validate() error {
	f := q.Format
	if err := f.Validate(); err != nil {
		return err
	}
	ng := f.NumGroups(q.Cols)
	switch {
	case q.Rows < 0 || q.Cols < 0:
		return fmt.Errorf("quant: negative shape %d×%d", q.Rows, q.Cols)
	case len(q.Q) != q.Rows*f.RowBytes(q.Cols):
		return fmt.Errorf("quant: %d packed bytes for %d×%d at %d bits, want %d", len(q.Q), q.Rows, q.Cols, f.Bits, q.Rows*f.RowBytes(q.Cols))
	case len(q.Scales) != q.Rows*ng:
		return fmt.Errorf("quant: %d scales, want %d", len(q.Scales), q.Rows*ng)
	case f.HasZeros() && len(q.Zeros) != q.Rows*ng:
		return fmt.Errorf("quant: %d zero points, want %d", len(q.Zeros), q.Rows*ng)
	case !f.HasZeros() && q.Zeros != nil:
		return fmt.Errorf("quant: zero points given for a symmetric grid")
	case q.GIdx != nil && len(q.GIdx) != q.Cols:
		return fmt.Errorf("quant: g_idx has %d entries, want %d", len(q.GIdx), q.Cols)
	case q.InScale != nil && len(q.InScale) != q.Cols:
		return fmt.Errorf("quant: input scale has %d entries, want %d", len(q.InScale), q.Cols)
	case q.Bias != nil && len(q.Bias) != q.Rows:
		return fmt.Errorf("quant: bias has %d entries, want %d", len(q.Bias), q.Rows)
	}
	for _, z := range q.Zeros {
		if int(z) > f.MaxQ() {
			return fmt.Errorf("quant: zero point %d exceeds %d", z, f.MaxQ())
		}
	}
	for _, g := range q.GIdx {
		if g < 0 || int(g) >= ng {
			return fmt.Errorf("quant: g_idx entry %d outside [0, %d)", g, ng)
		}
	}
	return nil
}

func (q *QLinear) In() int  { return q.Cols }
func (q *QLinear) Out() int { return q.Rows }

// zero returns the zero point of row r, group g.
func (q *QLinear) zero(r, g, ng int) int32 {
	if q.Zeros == nil {
		return int32(q.Format.MaxQ()+1) / 2
	}
	return int32(q.Zeros[r*ng+g])
}

// SetRow stores one row's codes and per-group parameters.
func (q *QLinear) SetRow(r int, codes []uint8, scales []float32, zeros []int32) {
	f := q.Format
	rb, ng := f.RowBytes(q.Cols), f.NumGroups(q.Cols)
	packRow(q.Q[r*rb:(r+1)*rb], codes[:q.Cols], f.Bits)
	copy(q.Scales[r*ng:(r+1)*ng], scales[:ng])
	if q.Zeros != nil {
		for g := 0; g < ng; g++ {
			q.Zeros[r*ng+g] = uint8(zeros[g])
		}
	}
}

// Codes decodes the integer codes of row r into dst[:Cols].
func (q *QLinear) Codes(dst []uint8, r int) {
	rb := q.Format.RowBytes(q.Cols)
	unpackRow(dst[:q.Cols], q.Q[r*rb:(r+1)*rb], q.Format.Bits)
}

// DequantizeRows writes Ŵ for rows [r0, r0+n) into dst (n×Cols), without
// the input scale.
func (q *QLinear) DequantizeRows(dst []float32, r0, n int) {
	f := q.Format
	ng := f.NumGroups(q.Cols)
	g := f.GroupSize(q.Cols)
	codes := make([]uint8, q.Cols)
	for i := 0; i < n; i++ {
		r := r0 + i
		q.Codes(codes, r)
		row := dst[i*q.Cols : (i+1)*q.Cols]
		sc := q.Scales[r*ng : (r+1)*ng]
		if q.GIdx != nil {
			for c, k := range codes {
				gi := int(q.GIdx[c])
				row[c] = dequant(k, sc[gi], q.zero(r, gi, ng))
			}
			continue
		}
		for gi, c0 := 0, 0; c0 < q.Cols; gi, c0 = gi+1, c0+g {
			s, z := sc[gi], q.zero(r, gi, ng)
			for c := c0; c < min(c0+g, q.Cols); c++ {
				row[c] = dequant(codes[c], s, z)
			}
		}
	}
}

// Dequantize returns Ŵ (Rows×Cols) as float32.
func (q *QLinear) Dequantize() []float32 {
	w := make([]float32, q.Rows*q.Cols)
	kernels.ParallelFor(q.Rows, 16, func(lo, hi int) { q.DequantizeRows(w[lo*q.Cols:], lo, hi-lo) })
	return w
}

// panelBytes bounds the float32 weights Forward decodes at once.
const panelBytes = 4 << 20

var scratch kernels.Floats

// Forward implements model.Linear. It is safe for concurrent use.
func (q *QLinear) Forward(dst, x []float32, rows int) {
	k, n := q.Cols, q.Rows
	if len(x) < rows*k || len(dst) < rows*n {
		panic("quant: QLinear.Forward slice too short")
	}
	if q.GIdx == nil {
		// Contiguous groups: the quantized kernels dequantize in registers
		// (decode) or while packing panels (prefill).
		kernels.QMatMulT(dst, x, rows, q.kernelWeights())
		q.addBias(dst, rows)
		return
	}
	// Act-order (GIdx) layers dequantize panels to float32 first.
	if q.InScale != nil {
		xs := scratch.Get(rows * k)
		defer scratch.Put(xs)
		for r := 0; r < rows; r++ {
			xr, sr := x[r*k:(r+1)*k], (*xs)[r*k:(r+1)*k]
			for c, s := range q.InScale {
				sr[c] = xr[c] * s
			}
		}
		x = *xs
	}
	panel := max(1, min(n, panelBytes/4/max(k, 1)))
	wbuf := scratch.Get(panel * k)
	defer scratch.Put(wbuf)
	var tmp *[]float32
	if panel < n {
		tmp = scratch.Get(rows * panel)
		defer scratch.Put(tmp)
	}
	for r0 := 0; r0 < n; r0 += panel {
		pn := min(panel, n-r0)
		w := (*wbuf)[:pn*k]
		kernels.ParallelFor(pn, 16, func(lo, hi int) { q.DequantizeRows(w[lo*k:], r0+lo, hi-lo) })
		wt := kernels.NewWeightsF32(pn, k, w)
		if pn == n {
			kernels.MatMulT(dst, x, rows, wt)
			break
		}
		out := (*tmp)[:rows*pn]
		kernels.MatMulT(out, x, rows, wt)
		for r := 0; r < rows; r++ {
			copy(dst[r*n+r0:r*n+r0+pn], out[r*pn:(r+1)*pn])
		}
	}
	q.addBias(dst, rows)
}

func (q *QLinear) addBias(dst []float32, rows int) {
	if q.Bias == nil {
		return
	}
	n := q.Rows
	for r := 0; r < rows; r++ {
		kernels.Add(dst[r*n:(r+1)*n], q.Bias)
	}
}

// kernelWeights describes the packed storage for the quantized kernels; the
// layouts are the same by construction (kernels.QWeights mirrors Format).
func (q *QLinear) kernelWeights() kernels.QWeights {
	g := q.Format.Group
	return kernels.QWeights{
		Bits: q.Format.Bits, Group: g, Rows: q.Rows, Cols: q.Cols,
		Packed: q.Q, Scales: q.Scales, Scales16: q.scales16, Zeros: q.Zeros, InScale: q.InScale,
	}
}

var _ model.Linear = (*QLinear)(nil)

// Quantize rounds a rows×cols float32 matrix to nearest on the format's
// grid (RTN).
func Quantize(w []float32, rows, cols int, f Format) (*QLinear, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if len(w) != rows*cols {
		return nil, fmt.Errorf("quant: %d weights for a %d×%d matrix", len(w), rows, cols)
	}
	q := NewQLinear(f, rows, cols)
	ng := f.NumGroups(cols)
	kernels.ParallelFor(rows, 8, func(lo, hi int) {
		codes := make([]uint8, cols)
		sc := make([]float32, ng)
		zs := make([]int32, ng)
		for r := lo; r < hi; r++ {
			quantizeRow(codes, sc, zs, w[r*cols:(r+1)*cols], f)
			q.SetRow(r, codes, sc, zs)
		}
	})
	return q, nil
}
