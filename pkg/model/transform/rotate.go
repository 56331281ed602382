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

	"gonum.org/v1/gonum/mat"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
)

// Rotation is the seeded residual-stream rotation.
type Rotation struct {
	Seed uint64 `json:"seed"`
}

// Apply folds m's norms and rotates its residual stream by
// RotationMatrix(hidden, r.Seed), in memory.
func (r Rotation) Apply(m *model.Model) error {
	return Rotate(m, RotationMatrix(m.Config.HiddenSize, r.Seed))
}

// RotationMatrix is the n×n orthogonal matrix (row-major) a seed picks: a
// randomized Hadamard matrix when n is a power of two, else the Q of a
// Gaussian matrix's QR.
func RotationMatrix(n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 0x517cc1b727220a95))
	if n > 0 && n&(n-1) == 0 {
		signs := make([]float64, n)
		for i := range signs {
			signs[i] = float64(1 - 2*r.IntN(2))
		}
		q, _ := HadamardRotation(signs)
		return q
	}
	return gaussianRotation(n, r)
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
		w := toF64(d.W)
		for r := 0; r < d.W.Rows; r++ {
			for c := range h {
				w[r*h+c] *= float64(g[c])
			}
		}
		return m.SetLinear(s, &model.Dense{W: kernels.NewWeightsF32(d.W.Rows, h, toF32(mulRight(w, d.W.Rows, h, q))), Bias: d.Bias})
	}
	// out rewrites a linear writing into the stream: W ← Qᵀ·W, b ← Qᵀ·b.
	out := func(s model.Site) error {
		d, _ := dense(s)
		cols := d.W.Cols
		w := toF64(d.W)
		var wt mat.Dense
		wt.Mul(mat.NewDense(h, h, q).T(), mat.NewDense(h, cols, w))
		nd := &model.Dense{W: kernels.NewWeightsF32(h, cols, toF32(wt.RawMatrix().Data))}
		if d.Bias != nil {
			b := make([]float64, h)
			for i, v := range d.Bias {
				b[i] = float64(v)
			}
			nd.Bias = toF32(mulRight(b, 1, h, q))
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
	m.Embed = kernels.NewWeightsF32(m.Embed.Rows, h, toF32(mulRight(toF64(m.Embed), m.Embed.Rows, h, q)))
	return nil
}

// toF64 decodes w's rows into a float64 row-major copy.
func toF64(w kernels.Weights) []float64 {
	row := make([]float32, w.Cols)
	out := make([]float64, w.Rows*w.Cols)
	for r := 0; r < w.Rows; r++ {
		w.Row(row, r)
		for c, v := range row {
			out[r*w.Cols+c] = float64(v)
		}
	}
	return out
}

func toF32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// mulRight returns w·q for w rows×n and q n×n, in float64, in row chunks
// so that a large embedding needs no second float64 copy at once.
func mulRight(w []float64, rows, n int, q []float64) []float64 {
	const chunk = 1024
	out := make([]float64, rows*n)
	qm := mat.NewDense(n, n, q)
	for r0 := 0; r0 < rows; r0 += chunk {
		r1 := min(r0+chunk, rows)
		dst := mat.NewDense(r1-r0, n, out[r0*n:r1*n])
		dst.Mul(mat.NewDense(r1-r0, n, w[r0*n:r1*n]), qm)
	}
	return out
}
