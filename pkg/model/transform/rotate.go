package transform

// Rotate is QuaRot's data-free rotation of the residual stream (Ashkboos et
// al. 2024, arXiv 2404.00456): with an orthogonal Q, a model whose RMSNorms
// have all-ones weights computes the same function when the residual
// stream x is replaced by x·Q, because RMSNorm(x·Q) = RMSNorm(x)·Q
// (‖x·Q‖ = ‖x‖). So
//
//  1. every RMSNorm weight g is folded into the linears that read the
//     norm's output (W ← W·diag(g): q/k/v after input_layernorm, gate/up
//     after post_attention_layernorm, lm_head after the final norm) and the
//     norm becomes all ones;
//  2. embed ← embed·Q, W ← W·Q for every linear reading the stream
//     (q/k/v, gate/up, lm_head), W ← Qᵀ·W and b ← Qᵀ·b for the linears
//     writing into it (o_proj, down_proj).
//
// The function is unchanged up to float32 rounding, but what a weight
// quantizer sees is not: a hidden channel whose activations are far larger
// than the rest (an outlier) is spread over every channel by a Hadamard Q,
// and the weights' input columns are mixed the same way. Qwen3's q/k norms
// act on head_dim inside attention, after the projections, and are left
// as they are; a tied LM head is untied (in memory) because it gets the
// final norm folded into it and the embedding does not.
//
// Q is diag(s)·H/√n, H the Sylvester Hadamard matrix and s seeded random
// signs (QuaRot's random_hadamard_matrix), when the hidden size n is a
// power of two, else the orthogonal factor of a seeded Gaussian matrix's QR
// (signs fixed by R's diagonal).

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
)

// Rotation is the seeded residual-stream rotation.
type Rotation struct {
	Seed uint64 `json:"seed"`
}

// Apply folds m's norms and rotates its residual stream by
// RotationMatrix(hidden, r.Seed), in memory. A Hadamard rotation is applied
// by the fast Walsh–Hadamard transform, O(n log n) per row instead of the
// O(n²) of a matrix product (the same rotation up to float64 rounding).
func (r Rotation) Apply(m *model.Model) error {
	n := m.Config.HiddenSize
	if signs := rotationSigns(n, r.Seed); signs != nil {
		return rotate(m, hadamardRows(signs))
	}
	return Rotate(m, RotationMatrix(n, r.Seed))
}

func rotationRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x517cc1b727220a95)) }

// rotationSigns are the Hadamard rotation's signs for n and a seed; nil
// when n is not a power of two.
func rotationSigns(n int, seed uint64) []float64 {
	if n <= 0 || n&(n-1) != 0 {
		return nil
	}
	r := rotationRand(seed)
	signs := make([]float64, n)
	for i := range signs {
		signs[i] = float64(1 - 2*r.IntN(2))
	}
	return signs
}

// RotationMatrix is the n×n orthogonal matrix (row-major) a seed picks: a
// randomized Hadamard matrix when n is a power of two, else the Q of a
// Gaussian matrix's QR.
func RotationMatrix(n int, seed uint64) []float64 {
	if signs := rotationSigns(n, seed); signs != nil {
		q, _ := HadamardRotation(signs)
		return q
	}
	return gaussianRotation(n, rotationRand(seed))
}

// gaussianRotation is the orthogonal factor of an n×n standard Gaussian
// matrix's QR, its columns' signs fixed so that R has a positive diagonal.
func gaussianRotation(n int, r *rand.Rand) []float64 {
	g := make([]float64, n*n)
	for i := range g {
		g[i] = r.NormFloat64()
	}
	var qr mat.QR
	qr.Factorize(mat.NewDense(n, n, g))
	var q, rr mat.Dense
	qr.QTo(&q)
	qr.RTo(&rr)
	out := make([]float64, n*n)
	for j := 0; j < n; j++ {
		s := 1.0
		if rr.At(j, j) < 0 {
			s = -1
		}
		for i := 0; i < n; i++ {
			out[i*n+j] = s * q.At(i, j)
		}
	}
	return out
}

// HadamardRotation is diag(signs)·H/√n, n = len(signs) a power of two and
// H[i][j] = (−1)^popcount(i AND j) the Sylvester Hadamard matrix.
func HadamardRotation(signs []float64) ([]float64, error) {
	n := len(signs)
	if n == 0 || n&(n-1) != 0 {
		return nil, fmt.Errorf("transform: a Hadamard rotation of size %d: want a power of two", n)
	}
	inv := 1 / math.Sqrt(float64(n))
	q := make([]float64, n*n)
	for i, s := range signs {
		for j := 0; j < n; j++ {
			v := s * inv
			if bits.OnesCount(uint(i&j))%2 == 1 {
				v = -v
			}
			q[i*n+j] = v
		}
	}
	return q, nil
}

// Rotate folds m's RMSNorm weights into the linears that read them and
// rotates the residual stream by q (hidden×hidden, row-major, orthogonal),
// replacing the touched tensors by float32 copies: m's checkpoint mapping
// is never written to. Every linear must still be full precision.
func Rotate(m *model.Model, q []float64) error {
	h := m.Config.HiddenSize
	if len(q) != h*h {
		return fmt.Errorf("transform: a %d-entry rotation for a hidden size of %d", len(q), h)
	}
	return rotate(m, denseRows(q, h))
}

// rowsTimesQ overwrites each of the rows (rows × n, row-major, float64)
// with itself times Q.
type rowsTimesQ func(x []float64, rows int)

// denseRows is rowsTimesQ for a dense q (n×n), in float64.
func denseRows(q []float64, n int) rowsTimesQ {
	qm := mat.NewDense(n, n, q)
	return func(x []float64, rows int) {
		in := mat.NewDense(rows, n, slices.Clone(x))
		mat.NewDense(rows, n, x).Mul(in, qm)
	}
}

// hadamardRows is rowsTimesQ for Q = diag(signs)·H/√n: x·Q is the fast
// Walsh–Hadamard transform of x ⊙ signs, over √n (H is symmetric, and the
// transform's butterflies compute x·H in the Sylvester order).
func hadamardRows(signs []float64) rowsTimesQ {
	n := len(signs)
	inv := 1 / math.Sqrt(float64(n))
	return func(x []float64, rows int) {
		kernels.ParallelFor(rows, 64, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				v := x[r*n : (r+1)*n]
				for i, s := range signs {
					v[i] *= s
				}
				for h := 1; h < n; h *= 2 {
					for i := 0; i < n; i += 2 * h {
						for j := i; j < i+h; j++ {
							a, b := v[j], v[j+h]
							v[j], v[j+h] = a+b, a-b
						}
					}
				}
				for i := range v {
					v[i] *= inv
				}
			}
		})
	}
}

// rotate is Rotate with the rotation given as rowsTimesQ.
func rotate(m *model.Model, byQ rowsTimesQ) error {
	h := m.Config.HiddenSize
	dense := func(s model.Site) (*model.Dense, error) {
		lin, err := m.Linear(s)
		if err != nil {
			return nil, err
		}
		d, ok := lin.(*model.Dense)
		if !ok {
			return nil, fmt.Errorf("transform: %s is %T, not a full-precision layer: rotate before quantizing", s, lin)
		}
		return d, nil
	}
	// Check every site before changing anything.
	for _, s := range m.Sites() {
		if _, err := dense(s); err != nil {
			return err
		}
	}
	ones := make([]float32, h)
	for i := range ones {
		ones[i] = 1
	}
	// in rewrites the linears reading a norm of weight g: W ← W·diag(g)·Q.
	in := func(s model.Site, g []float32) error {
		d, _ := dense(s)
		w := rotateRows(d.W, g, byQ)
		return m.SetLinear(s, &model.Dense{W: kernels.NewWeightsF32(d.W.Rows, h, w), Bias: d.Bias})
	}
	// out rewrites a linear writing into the stream: W ← Qᵀ·W, b ← Qᵀ·b,
	// as (Wᵀ·Q)ᵀ and bᵀ·Q.
	out := func(s model.Site) error {
		d, _ := dense(s)
		cols := d.W.Cols
		w := make([]float32, h*cols)
		d.W.RowsTo(w, 0, h)
		wt := rotateRows(kernels.NewWeightsF32(cols, h, transpose(w, h, cols)), nil, byQ)
		nd := &model.Dense{W: kernels.NewWeightsF32(h, cols, transpose(wt, cols, h))}
		if d.Bias != nil {
			nd.Bias = rotateRows(kernels.NewWeightsF32(1, h, d.Bias), nil, byQ)
		}
		return m.SetLinear(s, nd)
	}
	for i := range m.Layers {
		l := &m.Layers[i]
		for _, name := range []string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"} {
			if err := in(model.Site{Layer: i, Name: name}, l.AttnNorm); err != nil {
				return err
			}
		}
		for _, name := range []string{"mlp.gate_proj", "mlp.up_proj"} {
			if err := in(model.Site{Layer: i, Name: name}, l.MLPNorm); err != nil {
				return err
			}
		}
		for _, name := range []string{"self_attn.o_proj", "mlp.down_proj"} {
			if err := out(model.Site{Layer: i, Name: name}); err != nil {
				return err
			}
		}
		l.AttnNorm, l.MLPNorm = ones, ones
	}
	// The LM head (a fresh copy when tied) gets the final norm and Q; the
	// embedding gets Q alone.
	if err := in(model.Site{Layer: -1, Name: "lm_head"}, m.Norm); err != nil {
		return err
	}
	m.Norm = ones
	m.Embed = kernels.NewWeightsF32(m.Embed.Rows, h, rotateRows(m.Embed, nil, byQ))
	return nil
}

// rotateRows returns w·diag(g)·Q (g nil: w·Q) as float32, computed in
// float64 a chunk of rows at a time, so that a large embedding needs no
// float64 copy of itself.
func rotateRows(w kernels.Weights, g []float32, byQ rowsTimesQ) []float32 {
	const chunk = 1024
	n := w.Cols
	out := make([]float32, w.Rows*n)
	buf32 := make([]float32, min(chunk, w.Rows)*n)
	buf := make([]float64, len(buf32))
	for r0 := 0; r0 < w.Rows; r0 += chunk {
		rows := min(chunk, w.Rows-r0)
		w.RowsTo(buf32[:rows*n], r0, rows)
		x := buf[:rows*n]
		for i, v := range buf32[:rows*n] {
			x[i] = float64(v)
			if g != nil {
				x[i] *= float64(g[i%n])
			}
		}
		byQ(x, rows)
		for i, v := range x {
			out[r0*n+i] = float32(v)
		}
	}
	return out
}

func transpose(x []float32, rows, cols int) []float32 {
	t := make([]float32, len(x))
	for i := range rows {
		for j := range cols {
			t[j*rows+i] = x[i*cols+j]
		}
	}
	return t
}
