package kernels

import "sync"

// panelRows is how many weight rows are decoded together: enough to reuse
// each activation row several times while the panel stays in L1/L2.
const panelRows = 16

// rowBlock bounds how many activation rows are swept per panel so that the
// activations touched stay cache resident for long prompts.
const rowBlock = 64

var panelPool = sync.Pool{New: func() any { return new([]float32) }}

// MatMulT computes dst = x · wᵀ: x is m×w.Cols row-major, dst is m×w.Rows
// row-major. Weights are decoded to float32 one panel at a time, so half
// precision weights are converted where they are used. Accumulation is in
// float32.
func MatMulT(dst, x []float32, m int, w Weights) {
	k, n := w.Cols, w.Rows
	if len(x) < m*k || len(dst) < m*n {
		panic("kernels: MatMulT slice too short")
	}
	if !w.Validate() {
		panic("kernels: MatMulT invalid weights")
	}
	if m == 0 || n == 0 {
		return
	}
	// Each panel costs about panelRows·k·m flops; keep goroutines for
	// work that amortizes them.
	grain := panelRows
	if work := panelRows * k * m; work < 1<<15 {
		grain = panelRows * ((1<<15)/max(work, 1) + 1)
	}
	ParallelFor(n, grain, func(lo, hi int) {
		bufp := panelPool.Get().(*[]float32)
		defer panelPool.Put(bufp)
		if cap(*bufp) < panelRows*k {
			*bufp = make([]float32, panelRows*k)
		}
		buf := (*bufp)[:panelRows*k]
		for j0 := lo; j0 < hi; j0 += panelRows {
			rows := min(panelRows, hi-j0)
			panel := w.f32View(j0, rows)
			if panel == nil {
				panel = buf[:rows*k]
				w.RowsTo(panel, j0, rows)
			}
			matMulPanel(dst, x, m, n, k, panel, j0, rows)
		}
	})
}

// matMulPanel computes dst[i][j0+j] for all i < m and j < rows from a decoded
// panel of weight rows.
func matMulPanel(dst, x []float32, m, n, k int, panel []float32, j0, rows int) {
	for i0 := 0; i0 < m; i0 += rowBlock {
		i1 := min(i0+rowBlock, m)
		j := 0
		for ; j+4 <= rows; j += 4 {
			w0 := panel[j*k : (j+1)*k]
			w1 := panel[(j+1)*k : (j+2)*k]
			w2 := panel[(j+2)*k : (j+3)*k]
			w3 := panel[(j+3)*k : (j+4)*k]
			for i := i0; i < i1; i++ {
				s0, s1, s2, s3 := dot4(x[i*k:(i+1)*k], w0, w1, w2, w3)
				d := dst[i*n+j0+j : i*n+j0+j+4]
				d[0], d[1], d[2], d[3] = s0, s1, s2, s3
			}
		}
		for ; j < rows; j++ {
			wj := panel[j*k : (j+1)*k]
			for i := i0; i < i1; i++ {
				dst[i*n+j0+j] = Dot(x[i*k:(i+1)*k], wj)
			}
		}
	}
}

// dot4 returns the dot products of x with four vectors of the same length.
func dot4(x, w0, w1, w2, w3 []float32) (s0, s1, s2, s3 float32) {
	n := len(x)
	w0, w1, w2, w3 = w0[:n], w1[:n], w2[:n], w3[:n]
	for i, v := range x {
		s0 += v * w0[i]
		s1 += v * w1[i]
		s2 += v * w2[i]
		s3 += v * w3[i]
	}
	return
}

// Dot returns Σ x[i]·y[i] over len(x) elements.
func Dot(x, y []float32) float32 {
	n := len(x)
	y = y[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < n; i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// Axpy computes y += a·x.
func Axpy(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}
