package kernels

// gemvChunk is how many elements of each row the generic matrix-vector
// product decodes at a time; four rows of it stay in L1.
const gemvChunk = 512

// gemvGeneric is the pure-Go twin of the gemv*AVX2 kernels: dst[j] =
// Σ_p x[p]·w[j][p] for j < len(dst), where w holds len(dst) rows of len(x)
// elements of type e. Rows are decoded a chunk at a time and taken four at
// a time so that each x value is loaded once per four rows.
func gemvGeneric(dst, x []float32, w []byte, e Elem) {
	k, es := len(x), e.Size()
	if len(w) < len(dst)*k*es {
		panic("kernels: gemv weights too short")
	}
	var buf [4 * gemvChunk]float32
	j := 0
	for ; j+4 <= len(dst); j += 4 {
		var s0, s1, s2, s3 float32
		for p := 0; p < k; p += gemvChunk {
			c := min(gemvChunk, k-p)
			for r := 0; r < 4; r++ {
				off := ((j+r)*k + p) * es
				toFloat32Generic(buf[r*c:(r+1)*c], w[off:off+c*es], e)
			}
			d0, d1, d2, d3 := dot4(x[p:p+c], buf[:c], buf[c:2*c], buf[2*c:3*c], buf[3*c:4*c])
			s0, s1, s2, s3 = s0+d0, s1+d1, s2+d2, s3+d3
		}
		dst[j], dst[j+1], dst[j+2], dst[j+3] = s0, s1, s2, s3
	}
	for ; j < len(dst); j++ {
		var s float32
		for p := 0; p < k; p += gemvChunk {
			c := min(gemvChunk, k-p)
			off := (j*k + p) * es
			toFloat32Generic(buf[:c], w[off:off+c*es], e)
			s += dotGeneric(x[p:p+c], buf[:c])
		}
		dst[j] = s
	}
}
