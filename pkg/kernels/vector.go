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

// SoftmaxInPlace replaces x by softmax(scale·x): each x[i]·scale rounded
// to float32 first (as a separate scaling pass would), then the maximum
// subtracted. Exponentials use expf32's polynomial (a few ulp); the passes
// are vectorized on AVX2.
func SoftmaxInPlace(x []float32, scale float32) {
	if len(x) == 0 {
		return
	}
	mx := scaleMax(x, scale)
	sum := expSum(x, x, mx)
	scaleMax(x, 1/sum)
}

// scaleMax multiplies x by s in place and returns the largest product
// (−Inf for an empty x).
func scaleMax(x []float32, s float32) float32 {
	mx := float32(math.Inf(-1))
	head := 0
	if useAVX2 && len(x) >= 8 {
		mx = scaleMaxAVX2(x, s)
		head = len(x) &^ 7
	}
	return scaleMaxGo(x[head:], s, mx)
}

// scaleMaxGo is scaleMax's pure-Go twin, starting from the maximum mx.
func scaleMaxGo(x []float32, s, mx float32) float32 {
	for i := range x {
		x[i] *= s
		mx = max(mx, x[i])
	}
	return mx
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
