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
