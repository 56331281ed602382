package kernels

import "math"

// expf32 returns e^x in float32 with a relative error of a few ulp: the
// range reduction x = n·ln2 + r, |r| ≤ ln2/2, and the degree-6 minimax
// polynomial for e^r are Cephes' expf (S. Moshier, public domain). It is
// several times faster than math.Exp, which matters because softmax over
// attention scores evaluates one exponential per (query, key) pair.
func expf32(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
	)
	switch {
	case x > 88.72283:
		return float32(math.Inf(1))
	case x < -103.97208:
		return 0
	case x != x:
		return x
	}
	n := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - n*ln2hi - n*ln2lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r*r + r + 1
	// Scale by 2^n in two steps so that results in the subnormal range
	// (n < -126) are still formed correctly.
	ni := int32(n)
	if ni < -126 {
		y *= math.Float32frombits(uint32(ni+126+127) << 23)
		return y * math.Float32frombits(1<<23) // 2^-126
	}
	if ni > 127 {
		return y * 2 * math.Float32frombits(uint32(ni-1+127)<<23)
	}
	return y * math.Float32frombits(uint32(ni+127)<<23)
}
