package kernels

// Dot returns Σ x[i]·y[i] over len(x) elements.
func Dot(x, y []float32) float32 {
	if len(y) < len(x) {
		panic("kernels: Dot length mismatch")
	}
	if useAVX2 {
		return dotAVX2(x, y)
	}
	return dotGeneric(x, y)
}

// Axpy computes y[i] += a·x[i] over len(x) elements.
func Axpy(a float32, x, y []float32) {
	if len(y) < len(x) {
		panic("kernels: Axpy length mismatch")
	}
	if useAVX2 {
		axpyAVX2(a, x, y)
		return
	}
	axpyGeneric(a, x, y)
}

// Mul computes dst[i] = x[i]·y[i] over len(dst) elements.
func Mul(dst, x, y []float32) {
	if len(x) < len(dst) || len(y) < len(dst) {
		panic("kernels: Mul length mismatch")
	}
	if useAVX2 {
		mulAVX2(dst, x, y)
		return
	}
	mulGeneric(dst, x, y)
}

// AxpyF64 computes y[i] += a·x[i] over len(x) float64 elements. GPTQ's
// column-by-column error propagation within a block runs on it.
func AxpyF64(a float64, x, y []float64) {
	if len(y) < len(x) {
		panic("kernels: AxpyF64 length mismatch")
	}
	if useAVX2 {
		axpyF64AVX2(a, x, y)
		return
	}
	axpyF64Generic(a, x, y)
}
