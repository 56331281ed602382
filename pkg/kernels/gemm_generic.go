package kernels

// Tile shape of the packed matrix product: mr activation rows by nr weight
// rows. 6×16 fills twelve of the sixteen YMM registers with accumulators,
// the usual AVX2 choice (BLIS's Haswell kernel).
const (
	mr = 6
	nr = 16
)

// gemm6x16Generic is the pure-Go twin of gemm6x16AVX2: with a packed as
// kc steps of mr values and b as kc steps of nr values, it stores (or adds,
// when acc is set) t[i][j] = Σ_{p<kc} a[p*mr+i]·b[p*nr+j] at c[i*ldc+j].
//
// It works through the tile in 2×4 sub-tiles so that the eight partial sums
// stay in registers; each sum still runs over p in order, as in the
// assembly.
func gemm6x16Generic(a, b []float32, kc int, c []float32, ldc int, acc bool) {
	a, b = a[:kc*mr], b[:kc*nr]
	_ = c[(mr-1)*ldc+nr-1]
	var t [mr][nr]float32
	for i := 0; i < mr; i += 2 {
		for j := 0; j < nr; j += 4 {
			var s00, s01, s02, s03, s10, s11, s12, s13 float32
			for p := 0; p < kc; p++ {
				ap := a[p*mr+i : p*mr+i+2 : p*mr+i+2]
				bp := b[p*nr+j : p*nr+j+4 : p*nr+j+4]
				a0, a1 := ap[0], ap[1]
				b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
				s00 += a0 * b0
				s01 += a0 * b1
				s02 += a0 * b2
				s03 += a0 * b3
				s10 += a1 * b0
				s11 += a1 * b1
				s12 += a1 * b2
				s13 += a1 * b3
			}
			t[i][j], t[i][j+1], t[i][j+2], t[i][j+3] = s00, s01, s02, s03
			t[i+1][j], t[i+1][j+1], t[i+1][j+2], t[i+1][j+3] = s10, s11, s12, s13
		}
	}
	for i := range t {
		row := c[i*ldc : i*ldc+nr]
		if acc {
			for j, v := range t[i] {
				row[j] += v
			}
		} else {
			copy(row, t[i][:])
		}
	}
}

// packPanelGeneric is the pure-Go twin of the packPanel*AVX2 kernels: it
// stores rows ≤ nr rows of kc elements of type e, row r at src[r*stride:],
// as dst[p*nr+r], with zeros for rows past the last.
func packPanelGeneric(dst []float32, src []byte, stride, rows, kc int, e Elem) {
	es := e.Size()
	dst = dst[:kc*nr]
	var buf [64]float32
	for r := 0; r < nr; r++ {
		if r >= rows {
			for p := 0; p < kc; p++ {
				dst[p*nr+r] = 0
			}
			continue
		}
		row := src[r*stride : r*stride+kc*es]
		for p0 := 0; p0 < kc; p0 += len(buf) {
			c := min(len(buf), kc-p0)
			toFloat32Generic(buf[:c], row[p0*es:], e)
			for p, v := range buf[:c] {
				dst[(p0+p)*nr+r] = v
			}
		}
	}
}
