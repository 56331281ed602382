package kernels

// Decode attention's products, reading the key/value cache where it lies.
//
// A decode step scores the query heads that share one key/value head (a
// group of G rows) against every cached key, then weights the cached values
// by the softmax. As general matrix products these are MatMulT and MatMul
// with G rows; from G = 8 on (TinyLlama, Llama 3: 32 query heads over 4 or
// 8 key/value heads) those go through the packed GEMM, which copies the
// cache's keys and values into panels every step (8 % of a 1,000-token
// decode's samples on the 1.1B shape, #9). The row kernels read the cache
// in place but pay a horizontal sum per key, or a call per row and key.
// These kernels do neither: sixteen keys (eight on AVX2) are scored at
// once with one transpose-and-add tree for all their sums, and eight rows
// of weights (four on AVX2) take each value row once.

// AttnScores sets dst[r·n + j] = q_r·k_j for rows query rows q_r and n keys
// k_j, each of hd floats, rows and keys contiguous: MatMulT(dst, q, rows,
// NewWeightsF32(n, hd, k)).
func AttnScores(dst, q []float32, rows int, k []float32, n, hd int) {
	score, block := attnScoreKernel(hd)
	if score == nil {
		MatMulT(dst, q, rows, NewWeightsF32(n, hd, k))
		return
	}
	_, _, _ = dst[:rows*n], q[:rows*hd], k[:n*hd]
	whole := n / block * block
	// All rows score one stretch of keys before the next, so that the
	// stretch (16 KiB at hd = 64) is read from L1 by every row but the
	// first: row by row over the whole cache, each row fetched all of it
	// from L2 again (BenchmarkAttnDecode, 1,024 positions: 24 µs a head
	// row by row, in a version never committed; 13 µs in stretches).
	stretch := max(block, attnStretchBytes/(4*hd)/block*block)
	for j0 := 0; j0 < whole; j0 += stretch {
		j1 := min(j0+stretch, whole)
		kj := k[j0*hd : j1*hd]
		for r := 0; r < rows; r++ {
			score(dst[r*n+j0:r*n+j1], q[r*hd:(r+1)*hd], kj, (j1-j0)/block, hd)
		}
	}
	for r := 0; r < rows; r++ {
		qr := q[r*hd : (r+1)*hd]
		for j := whole; j < n; j++ {
			dst[r*n+j] = Dot(qr, k[j*hd:(j+1)*hd])
		}
	}
}

// attnStretchBytes is how much of the key cache AttnScores takes at a time:
// a third of a 48 KiB L1 data cache, leaving room for the query rows and
// the scores.
const attnStretchBytes = 16 << 10

// AttnValues sets out[r·hd + d] = Σ_j p[r·n + j]·v[j·hd + d] for rows rows
// of n weights and n value rows of hd floats: MatMul(out, p, rows, v, n,
// hd, hd).
func AttnValues(out, p []float32, rows int, v []float32, n, hd int) {
	r := 0
	if values, per := attnValueKernel(hd); values != nil && n > 0 {
		_, _, _ = out[:rows*hd], p[:rows*n], v[:n*hd]
		for ; r+per <= rows; r += per {
			values(out[r*hd:(r+per)*hd], p[r*n:(r+per)*n], n, v[:n*hd], n, hd)
		}
	}
	if r < rows {
		// Rows short of a kernel's: MatMul's row kernels, on v in place.
		MatMul(out[r*hd:rows*hd], p[r*n:rows*n], rows-r, v, n, hd, hd)
	}
}

type (
	attnScoreFunc func(dst, q, k []float32, blocks, hd int)
	attnValueFunc func(out, p []float32, ldp int, v []float32, n, hd int)
)

// attnScoreKernel returns the scoring kernel for heads of hd floats on this
// path and the keys it takes a block; nil where there is none (the
// pure-Go path, or hd not a multiple of the vector width).
func attnScoreKernel(hd int) (attnScoreFunc, int) {
	switch {
	case useAVX512 && hd%16 == 0:
		return attnScores16AVX512, 16
	case useAVX2 && hd%8 == 0:
		return attnScores8AVX2, 8
	}
	return nil, 0
}

// attnValueKernel returns the weighting kernel for heads of hd floats and
// the rows it takes at a time; nil where there is none.
func attnValueKernel(hd int) (attnValueFunc, int) {
	switch {
	case useAVX512 && hd%32 == 0:
		return attnValues8AVX512, 8
	case useAVX2 && hd%16 == 0:
		return attnValues4AVX2, 4
	}
	return nil, 0
}

// attnScoresGo is the pure-Go twin of the scoring kernels: blocks·block
// keys scored against q.
func attnScoresGo(dst, q, k []float32, keys, hd int) {
	for j := 0; j < keys; j++ {
		var s float32
		for d, x := range q[:hd] {
			s += x * k[j*hd+d]
		}
		dst[j] = s
	}
}

// attnValuesGo is the pure-Go twin of the weighting kernels, for rows rows.
func attnValuesGo(out, p []float32, ldp, rows int, v []float32, n, hd int) {
	for r := 0; r < rows; r++ {
		o := out[r*hd : (r+1)*hd]
		clear(o)
		for j := 0; j < n; j++ {
			w := p[r*ldp+j]
			for d := range o {
				o[d] += w * v[j*hd+d]
			}
		}
	}
}
