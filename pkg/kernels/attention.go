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
// These kernels do neither: sixteen keys are scored at once with one
// transpose-and-add tree for all sixteen sums, and eight rows of weights
// take each value row once.

// AttnScores sets dst[r·n + j] = q_r·k_j for rows query rows q_r and n keys
// k_j, each of hd floats, rows and keys contiguous: MatMulT(dst, q, rows,
// NewWeightsF32(n, hd, k)).
func AttnScores(dst, q []float32, rows int, k []float32, n, hd int) {
	if !attnKernels(hd) {
		MatMulT(dst, q, rows, NewWeightsF32(n, hd, k))
		return
	}
	_, _, _ = dst[:rows*n], q[:rows*hd], k[:n*hd]
	whole := n / 16 * 16
	// All rows score one stretch of keys before the next, so that the
	// stretch (16 KiB at hd = 64) is read from L1 by every row but the
	// first: row by row over the whole cache, each row fetched all of it
	// from L2 again (BenchmarkAttnDecode: 24 µs a head, 1,024 positions).
	stretch := max(16, attnStretchBytes/(4*hd)/16*16)
	for j0 := 0; j0 < whole; j0 += stretch {
		j1 := min(j0+stretch, whole)
		kj := k[j0*hd : j1*hd]
		for r := 0; r < rows; r++ {
			attnScores16AVX512(dst[r*n+j0:r*n+j1], q[r*hd:(r+1)*hd], kj, (j1-j0)/16, hd)
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
	if attnKernels(hd) && n > 0 {
		_, _, _ = out[:rows*hd], p[:rows*n], v[:n*hd]
		for ; r+8 <= rows; r += 8 {
			attnValues8AVX512(out[r*hd:(r+8)*hd], p[r*n:(r+8)*n], n, v[:n*hd], n, hd)
		}
	}
	if r < rows {
		// Fewer than eight rows: MatMul's row kernels, on v in place.
		MatMul(out[r*hd:rows*hd], p[r*n:rows*n], rows-r, v, n, hd, hd)
	}
}

// attnKernels reports whether the AVX-512 attention kernels take heads of
// hd floats; elsewhere the general products do the work.
func attnKernels(hd int) bool { return useAVX512 && hd >= 32 && hd%32 == 0 }

// attnScores16Go is attnScores16AVX512's pure-Go twin.
func attnScores16Go(dst, q, k []float32, blocks, hd int) {
	for j := 0; j < blocks*16; j++ {
		var s float32
		for d, x := range q[:hd] {
			s += x * k[j*hd+d]
		}
		dst[j] = s
	}
}

// attnValues8Go is attnValues8AVX512's pure-Go twin.
func attnValues8Go(out, p []float32, ldp int, v []float32, n, hd int) {
	for r := 0; r < 8; r++ {
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
