package quant

import (
	"math"
	"slices"

	"github.com/ttqproject/ttq/pkg/kernels"
)

// cholBlock is the block size of the factorizations below: diagonal blocks
// are factored and inverted in float64 scalar code, everything between
// blocks goes through the float32 GEMM kernels with float64 accumulation
// from one block to the next (each product sums at most cholBlock float32
// terms). A matrix of at most cholBlock columns is all float64.
const cholBlock = 256

// inverseCholeskyBlocked turns a, whose lower triangle holds a symmetric
// positive definite A (n×n, row-major; the strict upper triangle is not
// read), into U = J·L⁻¹·J, where A = LLᵀ and J reverses the order: with
// A = JHJ, U is the upper Cholesky factor of H⁻¹ (see
// inverseCholeskyUpper). It reports false when A is not positive definite
// to working precision, and then has written nothing above the diagonal.
//
// Right-looking blocked Cholesky, then the blocked inverse of L by block
// rows, X[i,:i] = −L[i,i]⁻¹·(L[i,:i]·X[:i,:i]); both are n³/3 multiply-adds,
// almost all of them in GEMM.
func inverseCholeskyBlocked(a []float64, n int) bool {
	const nb = cholBlock
	nblk := (n + nb - 1) / nb
	dinv := make([][]float64, nblk) // L[k,k]⁻¹, kb×kb row-major
	var ap, p32, tmp, linv32 []float32
	for k0 := 0; k0 < n; k0 += nb {
		k1 := min(k0+nb, n)
		kb := k1 - k0
		if !cholUnblocked(a[k0*n+k0:], kb, n) {
			return false
		}
		inv := triInvLower(a[k0*n+k0:], kb, n)
		dinv[k0/nb] = inv
		if k1 == n {
			break
		}
		m := n - k1
		// Panel: L[k1:, k0:k1] = A[k1:, k0:k1]·L[k,k]⁻ᵀ.
		ap = blockF32(ap, a[k1*n+k0:], m, kb, n)
		linv32 = blockF32(linv32, inv, kb, kb, kb)
		p32 = growF32(p32, m*kb)
		kernels.MatMulT(p32, ap, m, kernels.NewWeightsF32(kb, kb, linv32))
		for r := 0; r < m; r++ {
			dst := a[(k1+r)*n+k0 : (k1+r)*n+k1]
			for c := range dst {
				dst[c] = float64(p32[r*kb+c])
			}
		}
		// Trailing lower triangle: A[k1:, k1:] −= P·Pᵀ, a block of rows at
		// a time against the rows of P up to the block's end.
		for r0 := 0; r0 < m; r0 += nb {
			r1 := min(r0+nb, m)
			tmp = growF32(tmp, (r1-r0)*r1)
			kernels.MatMulT(tmp, p32[r0*kb:r1*kb], r1-r0, kernels.NewWeightsF32(r1, kb, p32[:r1*kb]))
			kernels.ParallelFor(r1-r0, 16, func(lo, hi int) {
				for r := r0 + lo; r < r0+hi; r++ {
					row := a[(k1+r)*n+k1 : (k1+r)*n+k1+r+1]
					t := tmp[(r-r0)*r1 : (r-r0)*r1+r+1]
					for c, v := range t {
						row[c] -= float64(v)
					}
				}
			})
		}
	}

	// X = L⁻¹ by block rows, into a (rows of L are read before the same
	// rows of X are written). The products of later rows read X's block
	// rows converted to float32 one chunk at a time: a float32 copy of the
	// whole X was n² × 4 bytes (127 MB for the MLP's 5632 inputs) at the
	// peak of GPTQ's memory, for conversions that cost n³/(6·cholBlock),
	// under 1 % of the products.
	t64 := make([]float64, 0, nb*n)
	var lblk, xblk, t32, res []float32
	for i0 := 0; i0 < n; i0 += nb {
		i1 := min(i0+nb, n)
		ib := i1 - i0
		inv := dinv[i0/nb]
		if i0 > 0 {
			// T = L[i, :i0]·X[:i0, :i0], chunk by chunk of the inner
			// dimension; X[p, q] = 0 for q > p bounds each chunk's columns.
			t64 = t64[:ib*i0]
			clear(t64)
			for kc := 0; kc < i0; kc += nb {
				kc1 := min(kc+nb, i0)
				kk := kc1 - kc
				lblk = blockF32(lblk, a[i0*n+kc:], ib, kk, n)
				xblk = blockF32(xblk, a[kc*n:], kk, kc1, n)
				tmp = growF32(tmp, ib*kc1)
				kernels.MatMul(tmp, lblk, ib, xblk, kk, kc1, kc1)
				kernels.ParallelFor(ib, 16, func(lo, hi int) {
					for r := lo; r < hi; r++ {
						dst := t64[r*i0 : r*i0+kc1]
						for c, v := range tmp[r*kc1 : (r+1)*kc1] {
							dst[c] += float64(v)
						}
					}
				})
			}
			// X[i, :i0] = −L[i,i]⁻¹·T.
			t32 = blockF32(t32, t64, ib, i0, i0)
			linv32 = blockF32(linv32, inv, ib, ib, ib)
			res = growF32(res, ib*i0)
			kernels.MatMul(res, linv32, ib, t32, ib, i0, i0)
			for r := 0; r < ib; r++ {
				dst := a[(i0+r)*n : (i0+r)*n+i0]
				for c, v := range res[r*i0 : (r+1)*i0] {
					dst[c] = -float64(v)
				}
			}
		}
		for r := 0; r < ib; r++ {
			for c := 0; c < ib; c++ {
				a[(i0+r)*n+i0+c] = inv[r*ib+c]
			}
		}
	}
	// U[i][j] = X[n−1−i][n−1−j]: the row-major array reversed; what was
	// above X's diagonal lands below U's and is cleared.
	slices.Reverse(a[:n*n])
	kernels.ParallelFor(n, 64, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			clear(a[i*n : i*n+i])
		}
	})
	return true
}

// cholUnblocked factors the kb×kb block at b (leading dimension ld) in
// place: its lower triangle becomes L with A = LLᵀ.
func cholUnblocked(b []float64, kb, ld int) bool {
	for j := 0; j < kb; j++ {
		rj := b[j*ld : j*ld+j+1]
		d := rj[j]
		for _, v := range rj[:j] {
			d -= v * v
		}
		if !(d > 0) || math.IsInf(d, 0) {
			return false
		}
		l := math.Sqrt(d)
		rj[j] = l
		for i := j + 1; i < kb; i++ {
			ri := b[i*ld : i*ld+j+1]
			s := ri[j]
			for p, v := range rj[:j] {
				s -= ri[p] * v
			}
			ri[j] = s / l
		}
	}
	return true
}

// triInvLower returns the inverse of the lower triangular kb×kb block at b
// (leading dimension ld) as a kb×kb row-major slice.
func triInvLower(b []float64, kb, ld int) []float64 {
	x := make([]float64, kb*kb)
	for j := 0; j < kb; j++ {
		x[j*kb+j] = 1 / b[j*ld+j]
		for i := j + 1; i < kb; i++ {
			var s float64
			for p := j; p < i; p++ {
				s += b[i*ld+p] * x[p*kb+j]
			}
			x[i*kb+j] = -s / b[i*ld+i]
		}
	}
	return x
}

// blockF32 converts the rows×cols block at src (leading dimension ld) to a
// contiguous float32 block in dst, grown as needed.
func blockF32(dst []float32, src []float64, rows, cols, ld int) []float32 {
	dst = growF32(dst, rows*cols)
	for r := 0; r < rows; r++ {
		for c, v := range src[r*ld : r*ld+cols] {
			dst[r*cols+c] = float32(v)
		}
	}
	return dst
}
