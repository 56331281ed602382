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
	var sum float32
	for i, v := range x {
		e := float32(math.Exp(float64(v - mx)))
		x[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range x {
		x[i] *= inv
	}
}

// SiLUMul computes gate[i] = silu(gate[i]) · up[i], the SwiGLU activation.
func SiLUMul(gate, up []float32) {
	up = up[:len(gate)]
	for i, g := range gate {
		gate[i] = g / (1 + float32(math.Exp(float64(-g)))) * up[i]
	}
}

// Add computes dst[i] += x[i].
func Add(dst, x []float32) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] += x[i]
	}
}
