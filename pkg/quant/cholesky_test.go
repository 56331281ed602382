package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// refInverseCholeskyUpper is gptq's own sequence in float64 (gonum):
// chol(H), cholesky_inverse, chol(H⁻¹, upper).
func refInverseCholeskyUpper(t *testing.T, h []float64, n int, damp float64) []float64 {
	var mean float64
	for i := 0; i < n; i++ {
		mean += h[i*n+i]
	}
	mean /= float64(n)
	a := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			v := h[i*n+j]
			if i == j {
				v += damp * mean
			}
			a.SetSym(i, j, v)
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(a) {
		t.Fatal("reference Cholesky failed")
	}
	var inv mat.SymDense
	if err := ch.InverseTo(&inv); err != nil {
		t.Fatal(err)
	}
	var ch2 mat.Cholesky
	if !ch2.Factorize(&inv) {
		t.Fatal("reference second Cholesky failed")
	}
	var ut mat.TriDense
	ch2.UTo(&ut)
	u := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			u[i*n+j] = ut.At(i, j)
		}
	}
	return u
}

// The blocked factorization (float64 diagonal blocks, float32 GEMM between
// them) gives gptq's factor to float32 accuracy, on sizes that are one
// block, several blocks and a ragged last block, for a Hessian of
// correlated inputs as calibration data produces.
func TestInverseCholeskyBlocked(t *testing.T) {
	for _, n := range []int{7, cholBlock, 3*cholBlock + 45} {
		rng := rand.New(rand.NewPCG(uint64(n), 3))
		tokens := 2 * n
		x := make([]float32, tokens*n)
		for r := 0; r < tokens; r++ {
			common := rng.NormFloat64()
			for c := 0; c < n; c++ {
				x[r*n+c] = float32(0.7*common + rng.NormFloat64()*(1+float64(c%5)))
			}
		}
		h := newHessian(n)
		h.add(x, tokens)
		h.n = 1
		hm := h.matrix()
		want := refInverseCholeskyUpper(t, hm, n, 0.01)
		got, err := inverseCholeskyUpper(hm, n, 0.01)
		if err != nil {
			t.Fatal(err)
		}
		var maxAbs, maxErr float64
		for i, w := range want {
			maxAbs = math.Max(maxAbs, math.Abs(w))
			maxErr = math.Max(maxErr, math.Abs(got[i]-w))
			if j, r := i%n, i/n; j < r && got[i] != 0 {
				t.Fatalf("n=%d: U[%d][%d] = %g below the diagonal", n, r, j, got[i])
			}
		}
		tol := 1e-12
		if n > cholBlock {
			tol = 1e-4 // float32 products between blocks
		}
		t.Logf("n=%d: max |U − U_ref| = %.3g of max |U_ref| = %.3g", n, maxErr, maxAbs)
		if maxErr > tol*maxAbs {
			t.Errorf("n=%d: U differs from gptq's by %g (max |U| %g)", n, maxErr, maxAbs)
		}
	}
}
