package kernels

import (
	"unsafe"
)

// QMatMulT computes dst = (x ⊙ InScale) · Ŵᵀ for quantized weights w (see
// QWeights): x is m×w.Cols row-major, dst is m×w.Rows row-major.
//
// Below gemmMinRows activation rows (decode) the codes are streamed once
// per activation row and widened to float32 in registers, the scales and
// zero points applied per group; from gemmMinRows rows on (prefill) blocks
// of weights are dequantized into the packed panels of the float32 matrix
// product and multiplied by its micro-kernel. Accumulation is in float32.
// It panics on slices that do not match the shape; callers validate
// weights read from files once with QWeights.Validate.
func QMatMulT(dst, x []float32, m int, w QWeights) {
	k, n := w.Cols, w.Rows
	if m < 0 || len(x) < m*k || len(dst) < m*n {
		panic("kernels: QMatMulT slice too short")
	}
	if err := w.checkShape(); err != nil {
		panic("kernels: QMatMulT invalid weights: " + err.Error())
	}
	switch {
	case m == 0 || n == 0:
	case k == 0:
		clear(dst[:m*n])
	case m < gemmMinRows && useI8Act && qI8Applies(w):
		qMatMulRowsI8(dst, x, m, w)
	case m < gemmMinRows && qChunked(w):
		qMatMulRows(dst, x, m, w)
	default:
		qMatMulPacked(dst, x, m, w)
	}
}

// qChunked reports whether every group boundary of a row falls on a chunk
// boundary, which the matrix-vector kernels need. Formats with groups of
// 16, 32, 64, 128… and one group per row always qualify.
func qChunked(w QWeights) bool {
	return w.GroupSize()%qChunks[w.Bits].codes == 0 || w.NumGroups() == 1
}

var qFloatPool Floats

// qInputs lays out the m activation rows for the kernels: xp[i] is row i
// scaled by InScale and permuted into chunk order, xsum[i*ng+g] the sum of
// its scaled values over group g.
func qInputs(xp, xsum, x []float32, m int, w QWeights, ch qChunk) {
	k, g, ng := w.Cols, w.GroupSize(), w.NumGroups()
	for i := 0; i < m; i++ {
		xs := x[i*k : (i+1)*k]
		out := xp[i*k : (i+1)*k]
		if w.InScale != nil {
			// Scaled into out first, then permuted through a chunk-sized
			// copy so that out can be both.
			Mul(out, xs, w.InScale)
			xs = out
		}
		if xsum != nil {
			for gi := 0; gi < ng; gi++ {
				var s float32
				for _, v := range xs[gi*g : min((gi+1)*g, k)] {
					s += v
				}
				xsum[i*ng+gi] = s
			}
		}
		if &xs[0] == &out[0] {
			permuteInPlace(out, ch)
		} else {
			permuteRow(out, xs, ch)
		}
	}
}

func permuteInPlace(x []float32, ch qChunk) {
	if ch.perm == nil {
		return
	}
	var tmp [32]float32
	for c0 := 0; c0+ch.codes <= len(x); c0 += ch.codes {
		copy(tmp[:ch.codes], x[c0:c0+ch.codes])
		permuteRow(x[c0:c0+ch.codes], tmp[:ch.codes], ch)
	}
}

// qMatMulRows is the decode-time product: for each block of weight rows,
// every activation row runs the four-row kernel over it, while the block
// stays in L2.
func qMatMulRows(dst, x []float32, m int, w QWeights) {
	k, n := w.Cols, w.Rows
	ch := qGemvChunk(w)
	ng := w.NumGroups()
	kfull := k - k%ch.codes
	group := w.GroupSize()
	if ng == 1 {
		// One group per row: the kernel's group is the whole chunked part.
		group = max(ch.codes, kfull)
	}

	buf := qFloatPool.Get(m*k + m*ng)
	defer qFloatPool.Put(buf)
	xp, xsum := (*buf)[:m*k], (*buf)[m*k:]
	qInputs(xp, xsum, x, m, w, ch)

	zeros, zs := w.zeroPoints()
	grain := max(4, minTaskFlops/(2*m*k))
	qgemvParallel.For((n+3)/4, (grain+3)/4, qgemvArgs{dst, xp, xsum, w, ch, m, group, zeros, zs})
}

type qgemvArgs struct {
	dst, xp, xsum []float32
	w             QWeights
	ch            qChunk
	m, group      int
	zeros         []byte
	zs            int
}

var qgemvParallel = NewParallel(func(a *qgemvArgs, lo, hi int) {
	dst, xp, xsum, w, ch, m, group, zeros, zs := a.dst, a.xp, a.xsum, a.w, a.ch, a.m, a.group, a.zeros, a.zs
	k, n, bits := w.Cols, w.Rows, w.Bits
	// The wide chunk is read by the single-row kernel (see
	// qgemv512_amd64.s for why one row at a time).
	rowKernel := ch.codes != qChunks[bits].codes
	ng := w.NumGroups()
	kfull := k - k%ch.codes
	ng8 := ng &^ 7
	rb := QRowBytes(bits, k)
	block := max(4, (128<<10)/max(rb, 1)) &^ 3
	lo, hi = lo*4, min(hi*4, n)
	var tmp [4]float32
	for j0 := lo; j0 < hi; j0 += block {
		j1 := min(j0+block, hi)
		for i := 0; i < m; i++ {
			xi, si := xp[i*k:(i+1)*k], xsum[i*ng:(i+1)*ng]
			d := dst[i*n : (i+1)*n]
			j := j0
			switch {
			case rowKernel:
				for ; j < j1; j++ {
					d[j] = qgemvRow(ch, bits, xi[:kfull], si[:ng8], w.Packed[j*rb:], w.Scales[j*ng:], zeros[j*zs:], group)
				}
			case useAVX512 && bits == 8:
				qgemvRows8(d[j0:j1], xi[:kfull], si[:ng8], w.Packed[j0*rb:], rb, w.Scales[j0*ng:], ng, zeros[j0*zs:], zs, group)
				j = j1
			}
			for ; j+4 <= j1; j += 4 {
				qgemvQuad(ch, bits, d[j:j+4], xi[:kfull], si[:ng8], w.Packed[j*rb:], rb, w.Scales[j*ng:], ng, zeros[j*zs:], zs, group)
			}
			for ; j < j1; j++ {
				// A lone row runs as a quad of copies of itself.
				qgemvQuad(ch, bits, tmp[:], xi[:kfull], si[:ng8], w.Packed[j*rb:], 0, w.Scales[j*ng:], 0, zeros[j*zs:], 0, group)
				d[j] = tmp[0]
			}
			if kfull == k && ng8 == ng {
				continue
			}
			// The tail codes and the zero points of the groups past
			// the last multiple of 8.
			for j := j0; j < j1; j++ {
				row, s, z := w.Packed[j*rb:(j+1)*rb], w.Scales[j*ng:(j+1)*ng], zeros[j*zs:]
				var extra, tail float32
				for c := kfull; c < k; c++ {
					tail += float32(qCode(row, bits, c)) * xi[c]
				}
				extra = s[ng-1] * tail
				for g := ng8; g < ng; g++ {
					extra -= s[g] * float32(z[g]) * si[g]
				}
				d[j] += extra
			}
		}
	}
})

// qgemvQuad checks the bounds of a four-row kernel call and dispatches it.
func qgemvQuad(ch qChunk, bits int, dst, xp, xsum []float32, w []byte, wstride int, s []float32, ss int, z []byte, zs, group int) {
	k := len(xp)
	ng := (k + group - 1) / group
	if len(dst) < 4 || k%ch.codes != 0 || group%ch.codes != 0 || len(xsum)%8 != 0 ||
		len(w) < 3*wstride+k/ch.codes*ch.bytes || len(s) < 3*ss+max(ng, len(xsum)) || len(z) < 3*zs+len(xsum) {
		panic("kernels: qgemvQuad out of range")
	}
	if ch.codes != qChunks[bits].codes {
		panic("kernels: qgemvQuad with a chunk its kernels do not read")
	}
	if useAVX2 && k > 0 {
		switch bits {
		case 2:
			qgemvQuad2AVX2(&dst[0], xp, xsum, &w[0], wstride, &s[0], ss, unsafe.SliceData(z), zs, group)
			return
		case 3:
			qgemvQuad3AVX2(&dst[0], xp, xsum, &w[0], wstride, &s[0], ss, unsafe.SliceData(z), zs, group)
			return
		case 4:
			qgemvQuad4AVX2(&dst[0], xp, xsum, &w[0], wstride, &s[0], ss, unsafe.SliceData(z), zs, group)
			return
		case 8:
			qgemvQuad8AVX2(&dst[0], xp, xsum, &w[0], wstride, &s[0], ss, unsafe.SliceData(z), zs, group)
			return
		}
	}
	qgemvQuadGeneric(ch, bits, dst, xp, xsum, w, wstride, s, ss, z, zs, group)
}

// qgemvRow checks the bounds of a single-row kernel call and dispatches it:
// the AVX-512 kernel for the wide chunk, else the four-row twin on one row.
func qgemvRow(ch qChunk, bits int, xp, xsum []float32, w []byte, s []float32, z []byte, group int) float32 {
	k := len(xp)
	ng := (k + group - 1) / group
	if k%ch.codes != 0 || group%ch.codes != 0 || len(xsum)%8 != 0 ||
		len(w) < k/ch.codes*ch.bytes || len(s) < max(ng, len(xsum)) || len(z) < len(xsum) {
		panic("kernels: qgemvRow out of range")
	}
	if useAVX512 && bits == 4 && ch.codes == qChunk4x32.codes && k > 0 {
		return qgemvRow4AVX512(xp, xsum, &w[0], &s[0], unsafe.SliceData(z), group)
	}
	var out [4]float32
	qgemvQuadGeneric(ch, bits, out[:], xp, xsum, w, 0, s, 0, z, 0, group)
	return out[0]
}

// qgemvRows8 checks the bounds of an 8-bit multi-row kernel call (rows
// len(dst), row r at w[r*wstride:], s[r*ss:], z[r*zs:]) and dispatches it:
// the AVX-512 kernel where it runs, else the four-row twin on each row.
func qgemvRows8(dst, xp, xsum []float32, w []byte, wstride int, s []float32, ss int, z []byte, zs, group int) {
	k, n := len(xp), len(dst)
	ng := (k + group - 1) / group
	if n == 0 {
		return
	}
	if k%16 != 0 || group%16 != 0 || len(xsum)%8 != 0 ||
		len(w) < (n-1)*wstride+k || len(s) < (n-1)*ss+max(ng, len(xsum)) || len(z) < (n-1)*zs+len(xsum) {
		panic("kernels: qgemvRows8 out of range")
	}
	if useAVX512 && k > 0 {
		qgemvRows8AVX512(dst, xp, xsum, &w[0], wstride, &s[0], ss, unsafe.SliceData(z), zs, group)
		return
	}
	var out [4]float32
	for r := range dst {
		qgemvQuadGeneric(qChunks[8], 8, out[:], xp, xsum, w[r*wstride:], 0, s[r*ss:], 0, z[r*zs:], 0, group)
		dst[r] = out[0]
	}
}

// qMatMulPacked is the prefill product: the float32 blocked product of
// matMulPacked, with each ncBlock×kcBlock block of weights dequantized
// (in chunk order, matching the permuted activations) as it is packed.
func qMatMulPacked(dst, x []float32, m int, w QWeights) {
	k, n := w.Cols, w.Rows
	xbuf := qFloatPool.Get(m * k)
	defer qFloatPool.Put(xbuf)
	xp := *xbuf
	// Rows in parallel: on the caller alone the permutation into chunk
	// order was 6 % of a 4-bit prefill's time at two threads, the other
	// core waiting.
	ParallelFor(m, max(1, (1<<14)/max(k, 1)), func(lo, hi int) {
		qInputs(xp[lo*k:], nil, x[lo*k:], hi-lo, w, qChunks[w.Bits])
	})
	gemmPacked(dst, xp, m, n, k, 0, blockSource{kind: fromQuantized, q: w}, nil, nil, nil)
}

// qDequantRow writes Ŵ[j][c0+p] (without InScale) for p < len(dst) into
// dst in the kernels' order: chunk order up to the last whole chunk of the
// row, natural order in the tail. c0 is a multiple of every chunk size.
func qDequantRow(dst []float32, w QWeights, j, c0 int) {
	bits, k := w.Bits, w.Cols
	ch := qChunks[bits]
	ng, g := w.NumGroups(), w.GroupSize()
	rb := QRowBytes(bits, k)
	row := w.Packed[j*rb : (j+1)*rb]
	s := w.Scales[j*ng : (j+1)*ng]
	zero := func(gi int) float32 {
		if w.Zeros == nil {
			return float32(symZero(bits))
		}
		return float32(w.Zeros[j*ng+gi])
	}
	c1 := c0 + len(dst)
	kfull := k - k%ch.codes
	c := c0
	if end := min(c1, kfull); c < end && qChunked(w) {
		// Runs of whole groups, each scaled by the vector kernel; a run
		// starts mid-group only at c0.
		var off [64]float32
		for c < end {
			gi := c / g
			span, group := min(end-c, len(off)*g-c%g), g
			if ng == 1 {
				span, group = end-c, end-c
			} else if c%g != 0 {
				span = min(end-c, g-c%g)
				group = span
			}
			cnt := (span + group - 1) / group
			for i := range cnt {
				off[i] = -zero(gi+i) * s[gi+i]
			}
			qdequant(bits, dst[c-c0:c-c0+span], row[c/ch.codes*ch.bytes:], s[gi:gi+cnt], off[:cnt], group)
			c += span
		}
	}
	var buf [32]float32
	for ; c < min(c1, kfull); c += ch.codes {
		// Groups that straddle chunks: one group lookup per code.
		decodeChunk(buf[:ch.codes], row[c/ch.codes*ch.bytes:], bits)
		for i, q := range buf[:ch.codes] {
			p := i
			if ch.perm != nil {
				p = int(ch.perm[i])
			}
			gi := (c + p) / g
			dst[c-c0+i] = (q - zero(gi)) * s[gi]
		}
	}
	for ; c < c1; c++ {
		gi := c / g
		dst[c-c0] = (float32(qCode(row, bits, c)) - zero(gi)) * s[gi]
	}
}

// qdequant checks the bounds of a dequantization kernel call and
// dispatches it; see qdequantGeneric.
func qdequant(bits int, dst []float32, src []byte, sc, off []float32, group int) {
	ch := qChunks[bits]
	n := len(dst)
	ng := (n + group - 1) / group
	if n%ch.codes != 0 || group%ch.codes != 0 || len(src) < n/ch.codes*ch.bytes || len(sc) < ng || len(off) < ng {
		panic("kernels: qdequant out of range")
	}
	if useAVX2 && n > 0 {
		switch bits {
		case 2:
			qdequant2AVX2(dst, &src[0], &sc[0], &off[0], group)
			return
		case 3:
			qdequant3AVX2(dst, &src[0], &sc[0], &off[0], group)
			return
		case 4:
			qdequant4AVX2(dst, &src[0], &sc[0], &off[0], group)
			return
		case 8:
			qdequant8AVX2(dst, &src[0], &sc[0], &off[0], group)
			return
		}
	}
	qdequantGeneric(bits, dst, src, sc, off, group)
}
