package kernels

import "math"

// RMSNorm writes x / sqrt(mean(x²) + eps) · weight into dst, row by row, for
// rows of len(weight) elements. The sum of squares is accumulated in float64,
// which costs nothing measurable here and removes the order dependence of a
// float32 sum over wide rows.
func RMSNorm(dst, x, weight []float32, eps float32) {
	d := len(weight)
	if d == 0 || len(x)%d != 0 || len(dst) < len(x) {
		panic("kernels: RMSNorm bad lengths")
	}
	for r := 0; r < len(x); r += d {
		row := x[r : r+d]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		inv := float32(1 / math.Sqrt(ss/float64(d)+float64(eps)))
		out := dst[r : r+d]
		for i, v := range row {
			out[i] = (v * inv) * weight[i]
		}
	}
}

// SoftmaxInPlace replaces x by softmax(x), subtracting the maximum first.
// Exponentials use expf32's polynomial (a few ulp), vectorized on AVX2.
func SoftmaxInPlace(x []float32) {
	if len(x) == 0 {
		return
	}
	mx := x[0]
	for _, v := range x[1:] {
		if v > mx {
			mx = v
		}
	}
	sum := expSum(x, x, mx)
	inv := 1 / sum
	for i := range x {
		x[i] *= inv
	}
}

// expSum writes exp(src[i]−shift) into dst and returns the sum.
func expSum(dst, src []float32, shift float32) float32 {
	var sum float32
	head := 0
	if useAVX2 {
		sum = expSumAVX2(dst, src, shift)
		head = len(src) &^ 7
	}
	for i := head; i < len(src); i++ {
		e := expf32(src[i] - shift)
		dst[i] = e
		sum += e
	}
	return sum
}

// SiLUMul computes gate[i] = silu(gate[i]) · up[i], the SwiGLU activation,
// with silu(g) = g / (1 + e^−g). The exponentials go through expSum in
// chunks, so they are vectorized where the CPU allows.
func SiLUMul(gate, up []float32) {
	up = up[:len(gate)]
	var buf [256]float32
	for c := 0; c < len(gate); c += len(buf) {
		g := gate[c:min(c+len(buf), len(gate))]
		e := buf[:len(g)]
		for i, v := range g {
			e[i] = -v
		}
		expSum(e, e, 0)
		u := up[c : c+len(g)]
		for i, v := range g {
			g[i] = v / (1 + e[i]) * u[i]
		}
	}
}

// Add computes dst[i] += x[i].
func Add(dst, x []float32) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] += x[i]
	}
}
