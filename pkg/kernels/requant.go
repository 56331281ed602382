package kernels

import "math"

// Kernels of test-time quantization's calibration (pkg/quant's TTQ and
// RTN): the per-input-channel statistics of the activations and the
// group-wise re-quantization of scaled weights. Each gives bit for bit what
// the scalar code of pkg/quant gives, so that methods built on them keep
// matching their references exactly: the column statistics accumulate in
// float64 row after row (a float32 squared is exact in float64, so a fused
// multiply-add rounds as the separate add does), and the rounding to the
// grid divides, rounds half to even and clamps in float32 as
// pkg/quant's code() does.

// ColumnSumSq adds Σ_r x[r][c]² to dst[c] for the rows×len(dst) row-major
// matrix x, in float64, rows in order.
func ColumnSumSq(dst []float64, x []float32, rows int) { columnStat(dst, x, rows, false) }

// ColumnSumAbs adds Σ_r |x[r][c]| to dst[c] for the rows×len(dst)
// row-major matrix x, in float64, rows in order.
func ColumnSumAbs(dst []float64, x []float32, rows int) { columnStat(dst, x, rows, true) }

func columnStat(dst []float64, x []float32, rows int, abs bool) {
	cols := len(dst)
	if rows < 0 || len(x) < rows*cols {
		panic("kernels: column statistic slice too short")
	}
	if rows == 0 || cols == 0 {
		return
	}
	// Column blocks in parallel: each column still sums its rows in order,
	// so the result does not depend on the split. Serial, the statistic
	// was a tenth of TTQ's calibration on the TinyLlama shape (#9).
	blocks := (cols + colStatBlock - 1) / colStatBlock
	ParallelFor(blocks, max(1, (1<<16)/(rows*colStatBlock)), func(lo, hi int) {
		for b := lo; b < hi; b++ {
			c0, c1 := b*colStatBlock, min(cols, (b+1)*colStatBlock)
			colStatStrip(dst[c0:c1], x[c0:], cols, rows, abs)
		}
	})
}

// colStatStrip adds the statistic of rows rows of x (stride apart) to the
// len(dst) columns of dst, by the widest kernel that takes each part.
func colStatStrip(dst []float64, x []float32, stride, rows int, abs bool) {
	c, c1 := 0, len(dst)
	if v := c1 &^ 127; useAVX512 && v > 0 {
		colStatAVX512(dst[:v], x, stride, rows, abs)
		c += v
	}
	if v := (c1 - c) &^ 15; useAVX2 && v > 0 {
		colStatAVX2(dst[c:c+v], x[c:], stride, rows, abs)
		c += v
	}
	colStatGeneric(dst[c:c1], x[c:], stride, rows, abs)
}

// colStatBlock is the columns of one task of columnStat: a multiple of the
// vector kernel's sixteen.
var colStatBlock = 256

// colStatGeneric is the pure-Go twin of colStatAVX2: for c < len(dst),
// dst[c] += Σ_{r<rows} x[r*stride+c]² (|x| when abs), in float64.
func colStatGeneric(dst []float64, x []float32, stride, rows int, abs bool) {
	for r := 0; r < rows; r++ {
		xr := x[r*stride : r*stride+len(dst)]
		if abs {
			for c, v := range xr {
				dst[c] += math.Abs(float64(v))
			}
		} else {
			for c, v := range xr {
				dst[c] += float64(v) * float64(v)
			}
		}
	}
}

// ScaleMinMax multiplies w by d elementwise in float32 when d is not nil,
// and writes the least and greatest value of each group of group
// consecutive elements (the last one may be shorter) to lo and hi. It
// returns false, with lo and hi unspecified, when w holds a NaN: the
// vector minimum does not propagate it as Go's min does, so callers redo
// such rows in scalar code.
func ScaleMinMax(lo, hi, w, d []float32, group int) bool {
	n := len(w)
	if group <= 0 || (d != nil && len(d) < n) || len(lo) < (n+group-1)/group || len(hi) < (n+group-1)/group {
		panic("kernels: ScaleMinMax out of range")
	}
	ok := true
	for g, c0 := 0, 0; c0 < n; g, c0 = g+1, c0+group {
		c1 := min(c0+group, n)
		var dg []float32
		if d != nil {
			dg = d[c0:c1]
		}
		var l, h float32
		var nan bool
		if v := (c1 - c0) &^ 7; useAVX2 && v > 0 {
			if dg != nil {
				l, h, nan = scaleMinMaxAVX2(w[c0:c0+v], &dg[0])
			} else {
				l, h, nan = minMaxAVX2(w[c0 : c0+v])
			}
			if c0+v < c1 {
				var tl, th float32
				var tn bool
				if dg != nil {
					dg = dg[v:]
				}
				tl, th, tn = scaleMinMaxGeneric(w[c0+v:c1], dg)
				l, h, nan = min(l, tl), max(h, th), nan || tn
			}
		} else {
			l, h, nan = scaleMinMaxGeneric(w[c0:c1], dg)
		}
		lo[g], hi[g] = l, h
		ok = ok && !nan
	}
	return ok
}

// scaleMinMaxGeneric is the pure-Go twin of scaleMinMaxAVX2 and
// minMaxAVX2 (d nil): w[i] *= d[i], then the minimum and maximum of w and
// whether it holds a NaN. An empty w gives +Inf, −Inf.
func scaleMinMaxGeneric(w, d []float32) (lo, hi float32, nan bool) {
	lo, hi = float32(math.Inf(1)), float32(math.Inf(-1))
	if d != nil {
		d = d[:len(w)]
		for i := range w {
			w[i] *= d[i]
		}
	}
	for _, v := range w {
		if v != v {
			nan = true
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi, nan
}

// QuantizeGroups rounds w to the grid of each group of group consecutive
// elements: codes[c] = clamp(roundHalfEven(w[c]/scales[g]) + zeros[g], 0,
// maxq) in float32, a NaN giving 0, with g = c/group. This is pkg/quant's
// code() for a whole row.
func QuantizeGroups(codes []uint8, w, scales []float32, zeros []int32, group, maxq int) {
	n := len(w)
	ng := (n + group - 1) / max(group, 1)
	if group <= 0 || len(codes) < n || len(scales) < ng || len(zeros) < ng || maxq < 1 || maxq > 255 {
		panic("kernels: QuantizeGroups out of range")
	}
	mq := float32(maxq)
	for g, c0 := 0, 0; c0 < n; g, c0 = g+1, c0+group {
		c1 := min(c0+group, n)
		s, z := scales[g], float32(zeros[g])
		c := c0
		if v := (c1 - c0) &^ 7; useAVX2 && v > 0 {
			quantizeAVX2(codes[c0:c0+v], &w[c0], s, z, mq)
			c += v
		}
		quantizeGeneric(codes[c:c1], w[c:c1], s, z, mq)
	}
}

// quantizeGeneric is the pure-Go twin of quantizeAVX2: codes[i] =
// clamp(roundHalfEven(w[i]/s) + z, 0, maxq) in float32, NaN → 0.
func quantizeGeneric(codes []uint8, w []float32, s, z, maxq float32) {
	w = w[:len(codes)]
	for i, v := range w {
		q := float32(math.RoundToEven(float64(v/s))) + z
		switch {
		case q > maxq:
			q = maxq
		case q >= 0:
		default: // negative or NaN
			q = 0
		}
		codes[i] = uint8(q)
	}
}

// PackCodes packs codes of bits bits (each at most 2^bits − 1) into dst,
// QRowBytes(bits, len(codes)) bytes, in the QWeights layout: blocks of
// QBlockCodes codes filling QBlockBytes bytes, first code in the lowest
// bits; a partial last block is padded with zero bits.
func PackCodes(dst []byte, codes []uint8, bits int) {
	if bits < 2 || bits > 8 || len(dst) < QRowBytes(bits, len(codes)) {
		panic("kernels: PackCodes out of range")
	}
	n := len(codes)
	switch bits {
	case 8:
		copy(dst, codes)
		return
	case 4:
		i := 0
		if useAVX2 && n >= 32 {
			i = n &^ 31
			pack4AVX2(dst[:i/2], &codes[0])
		}
		for ; i+1 < n; i += 2 {
			dst[i/2] = codes[i] | codes[i+1]<<4
		}
		if i < n {
			dst[i/2] = codes[i]
		}
		return
	case 2:
		i := 0
		for ; i+3 < n; i += 4 {
			dst[i/4] = codes[i] | codes[i+1]<<2 | codes[i+2]<<4 | codes[i+3]<<6
		}
		codes, dst = codes[i:], dst[i/4:]
	}
	b := qBlocks[bits]
	for o, c0 := 0, 0; c0 < len(codes); o, c0 = o+b.bytes, c0+b.codes {
		var acc uint64
		for j, q := range codes[c0:min(c0+b.codes, len(codes))] {
			acc |= uint64(q) << (j * bits)
		}
		for k := 0; k < b.bytes; k++ {
			dst[o+k] = byte(acc >> (8 * k))
		}
	}
}

// RequantRow4G32 re-quantizes row r of w scaled by d (TTQ's Q(W·D)) to
// 4-bit codes on the minmax grid in groups of 32, in one fused pass:
// packed codes (two per byte, low nibble first) into dst, scales (rounded
// through float16 when f16) and zero points. It returns false, with dst,
// scales and zeros unspecified, where the fused kernel does not apply —
// no AVX-512, w neither float32 nor bfloat16, a row length that is not a
// multiple of 256 (Qwen2-1.5B's 8960 is an odd one), or a non-finite w·d —
// and the caller quantizes the row its general way, which gives the same
// result wherever both run. tmp is scratch of at least
// RequantScratch(w.Cols) floats.
func RequantRow4G32(dst []byte, scales []float32, zeros []uint8, w Weights, r int, d []float32, f16 bool, tmp []float32) bool {
	k := w.Cols
	if !useAVX512 || k == 0 || k%256 != 0 || (w.Elem != ElemF32 && w.Elem != ElemBF16) {
		return false
	}
	es := w.Elem.Size()
	if r < 0 || r >= w.Rows || len(dst) < k/2 || len(scales) < k/32 || len(zeros) < k/32 ||
		len(d) < k || len(tmp) < RequantScratch(k) || len(w.Data) < (r+1)*k*es {
		panic("kernels: RequantRow4G32 out of range")
	}
	return requant4G32AVX512(&dst[0], &scales[0], &zeros[0], &w.Data[r*k*es], w.Elem == ElemBF16, &d[0], k, f16, &tmp[0])
}

// RequantFused reports whether RequantRow4G32 runs here (AVX-512), so that
// callers can plan around the fused kernel.
func RequantFused() bool { return useAVX512 }

// RequantScratch is the scratch RequantRow4G32 needs for rows of k inputs.
func RequantScratch(k int) int { return k + 2*((k+31)/32) + 256 }
