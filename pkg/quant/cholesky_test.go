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
		h := testHessian(n)
		h.add(x, tokens)
		h.n = 1
		hm := h.matrix()
		want := refInverseCholeskyUpper(t, hm, n, 0.01)
		got, err := inverseCholeskyUpper(hm, n, 0.01)
		if err != nil {
			t.Fatal(err)
		}
		maxErr, maxAbs := maxAbsDiff(got, want)
		for i := range got {
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

// An indefinite Hessian makes the factorization fail partway (the offending
// pair is factored last, after every earlier block has been updated in
// place) until the damping reaches 0.04; the retries must rebuild the
// matrix from what the failed attempts left, and the result equal the
// reference factorization at that damping.
func TestInverseCholeskyUpperRetriesDamping(t *testing.T) {
	n := cholBlock + 10
	rng := rand.New(rand.NewPCG(5, 6))
	h := make([]float64, n*n)
	for i := 0; i < n; i++ {
		h[i*n+i] = 1
	}
	// Small couplings everywhere keep every block's update non-trivial;
	// the 0↔1 coupling of 1.035 gives an eigenvalue near −0.035 − ε.
	for i := 2; i < n; i++ {
		for j := i + 1; j < n; j++ {
			v := 0.001 * rng.NormFloat64()
			h[i*n+j], h[j*n+i] = v, v
		}
	}
	h[0*n+1], h[1*n+0] = 1.035, 1.035
	for _, d := range []float64{0.01, 0.02, 0.03} {
		a := mat.NewSymDense(n, nil)
		for i := 0; i < n; i++ {
			for j := i; j < n; j++ {
				a.SetSym(i, j, h[i*n+j]+map[bool]float64{true: d}[i == j])
			}
		}
		var ch mat.Cholesky
		if ch.Factorize(a) {
			t.Fatalf("test matrix is already positive definite at damping %g", d)
		}
	}
	want := refInverseCholeskyUpper(t, h, n, 0.04)
	got, err := inverseCholeskyUpper(append([]float64(nil), h...), n, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	maxErr, maxAbs := maxAbsDiff(got, want)
	if maxErr > 1e-4*maxAbs {
		t.Fatalf("after retries U differs from the reference at damping 0.04 by %g (max |U| %g)", maxErr, maxAbs)
	}
}

// maxAbsDiff returns max |got − want| and max |want|.
func maxAbsDiff(got, want []float64) (maxErr, maxAbs float64) {
	for i, w := range want {
		maxAbs = math.Max(maxAbs, math.Abs(w))
		maxErr = math.Max(maxErr, math.Abs(got[i]-w))
	}
	return maxErr, maxAbs
}

// testHessian is newHessian for the tests' small inputs, where only a
// broken allocator could fail.
func testHessian(d int) *hessian {
	h, err := newHessian(d, new(hessianScratch))
	if err != nil {
		panic(err)
	}
	return h
}
