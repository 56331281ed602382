package kernels

// qgemvQuadGeneric is the pure-Go twin of the qgemvQuad*AVX2 kernels. For
// the four rows r < 4 whose codes start at w[r*wstride:], scales at
// s[r*ss:] and zero points at z[r*zs:] (strides may be 0 to repeat a row),
// it computes
//
//	dst[r] = Σ_{g} s[g]·Σ_{c∈g, c<k} code(c)·xp[c]  −  Σ_{g<len(xsum)} s[g]·z[g]·xsum[g]
//
// with k = len(xp), groups of group codes (the last one cut at k), codes in
// the kernels' chunk order (see qChunk). k and group are multiples of the
// chunk, len(xsum) a multiple of 8. The zero points enter through the sums
// of x over each group (xsum), so the inner loop multiplies bare codes.
func qgemvQuadGeneric(ch qChunk, bits int, dst, xp, xsum []float32, w []byte, wstride int, s []float32, ss int, z []byte, zs, group int) {
	k := len(xp)
	var buf [32]float32
	for r := 0; r < 4; r++ {
		row, sr, zr := w[r*wstride:], s[r*ss:], z[r*zs:]
		var total float32
		for g, g0 := 0, 0; g0 < k; g, g0 = g+1, g0+group {
			var acc float32
			for c := g0; c < min(g0+group, k); c += ch.codes {
				decodeChunkIn(buf[:ch.codes], row[c/ch.codes*ch.bytes:], bits, ch)
				for i, q := range buf[:ch.codes] {
					acc += q * xp[c+i]
				}
			}
			total += sr[g] * acc
		}
		for g, xs := range xsum {
			total -= sr[g] * float32(zr[g]) * xs
		}
		dst[r] = total
	}
}

// qdequantGeneric is the pure-Go twin of the qdequant*AVX2 kernels: for
// c < len(dst), dst[c] = code(c)·sc[c/group] + off[c/group], with the codes
// of src in chunk order; len(dst) and group are multiples of the chunk.
// With off = −zero·scale this is (code − zero)·scale up to one rounding.
func qdequantGeneric(bits int, dst []float32, src []byte, sc, off []float32, group int) {
	ch := qChunks[bits]
	for c := 0; c < len(dst); c += ch.codes {
		out := dst[c : c+ch.codes]
		decodeChunk(out, src[c/ch.codes*ch.bytes:], bits)
		s, o := sc[c/group], off[c/group]
		for i, q := range out {
			out[i] = q*s + o
		}
	}
}
