package kernels

import (
	"sync/atomic"
	"time"
	"unsafe"
)

// Blocking of the packed product (see matMulPacked). A packed block of
// weights, ncBlock×kcBlock float32 = 256 KiB, stays in the per-core L2
// while every activation panel sweeps it; one activation micro-panel,
// mr×kcBlock = 6 KiB, stays in L1 while it meets each weight panel.
const (
	kcBlock = 256
	ncBlock = 256
)

// gemmMinRows is the number of activation rows from which packing the
// weights pays off. Below it each weight row is streamed once per
// activation row by the matrix-vector kernel, which reads the stored
// element type directly (decode, m = 1, is the common case). Measured on a
// 2-core AVX2 machine (AMD EPYC, n = k = 1024 and 4096, F32 and BF16): the
// row-wise path is faster up to m = 6 and even at m = 8.
const gemmMinRows = 8

// minTaskFlops is the least work worth a goroutine hand-off.
const minTaskFlops = 1 << 18

// Packing buffers, one list per kind so that each keeps its size.
var packedAPool, packedBPool Floats

// MatMulT computes dst = x · wᵀ: x is m×w.Cols row-major, dst is m×w.Rows
// row-major. Weights are decoded to float32 one panel at a time (or in
// registers by the matrix-vector kernel), so half-precision weights are
// converted where they are used. Accumulation is in float32.
func MatMulT(dst, x []float32, m int, w Weights) { matMulT(dst, x, m, w, nil, nil) }

// RowVisitor receives the rows [j0, j1) of a weight matrix, whole.
type RowVisitor func(j0, j1 int)

// matMulT is MatMulT that, with rq, also re-quantizes W·D into it from the
// packed blocks (MatMulTRequant), and hands every block of w's rows that
// rq did not take to visit (when not nil) right after the product has
// multiplied by them, on the goroutine that did, so that a second pass
// over those weights finds them in cache. The blocks cover the rows once;
// calls on disjoint blocks run concurrently.
func matMulT(dst, x []float32, m int, w Weights, rq *Requant4G32, visit RowVisitor) {
	k, n := w.Cols, w.Rows
	if m < 0 || len(x) < m*k || len(dst) < m*n {
		panic("kernels: MatMulT slice too short")
	}
	if !w.Validate() {
		panic("kernels: MatMulT invalid weights")
	}
	switch {
	case n == 0:
	case m == 0 || k == 0:
		clear(dst[:m*n])
		if visit != nil {
			visit(0, n)
		}
	case m < gemmMinRows:
		matMulRows(dst, x, m, w, visit)
	default:
		matMulPacked(dst, x, m, w, rq, visit)
	}
}

// matMulRows computes the product row by row of x with the matrix-vector
// kernel. The weights are walked in blocks small enough to stay in L2 while
// every activation row passes over them.
func matMulRows(dst, x []float32, m int, w Weights, visit RowVisitor) {
	k := w.Cols
	grain := max(4, minTaskFlops/(2*m*k))
	matMulRowsParallel.For(w.Rows, grain, matMulRowsArgs{dst, x, m, w, visit})
}

type matMulRowsArgs struct {
	dst, x []float32
	m      int
	w      Weights
	visit  RowVisitor
}

var matMulRowsParallel = NewParallel(func(a *matMulRowsArgs, lo, hi int) {
	w, m := a.w, a.m
	k, n, es := w.Cols, w.Rows, w.Elem.Size()
	block := max(4, (128<<10)/(k*es)) &^ 3
	if m == 1 {
		// Nothing to keep in L2 for a second row of x; the half-precision
		// kernels' four rows a step stream best from far apart.
		block = hi - lo
	}
	for j0 := lo; j0 < hi; j0 += block {
		j1 := min(j0+block, hi)
		wb := w.Data[j0*k*es : j1*k*es]
		for i := 0; i < m; i++ {
			gemv(a.dst[i*n+j0:i*n+j1], a.x[i*k:(i+1)*k], wb, w.Elem)
		}
		if a.visit != nil {
			a.visit(j0, j1)
		}
	}
})

// gemv computes dst[j] = Σ_p x[p]·w[j][p] for the len(dst) rows of len(x)
// elements of type e held in w.
func gemv(dst, x []float32, w []byte, e Elem) {
	if len(w) < len(dst)*len(x)*e.Size() {
		panic("kernels: gemv weights too short")
	}
	if !useAVX2 {
		gemvGeneric(dst, x, w, e)
		return
	}
	if useAVX512 && len(x)%16 == 0 {
		var one, four func(dst, x []float32, w []byte)
		switch e {
		case ElemF32:
			gemvF32AVX512(dst, x, w)
			return
		case ElemF16:
			one, four = gemvF16AVX512, gemv4F16AVX512
		case ElemBF16:
			one, four = gemvBF16AVX512, gemv4BF16AVX512
		default:
			panic("kernels: gemv unknown element type")
		}
		// Half-precision rows four at a time (body512x4 in _asm), the last
		// len(dst) mod 4 alone.
		quads := len(dst) &^ 3
		if quads > 0 {
			four(dst[:quads], x, w)
		}
		if quads < len(dst) {
			one(dst[quads:], x, w[quads*len(x)*e.Size():])
		}
		return
	}
	switch e {
	case ElemF32:
		gemvF32AVX2(dst, x, w)
	case ElemF16:
		gemvF16AVX2(dst, x, w)
	case ElemBF16:
		gemvBF16AVX2(dst, x, w)
	default:
		panic("kernels: gemv unknown element type")
	}
}

// matMulPacked is the blocked product for many activation rows, in the
// loop order of BLIS: x is packed once into panels of mr rows; each worker
// takes a range of weight rows, packs ncBlock×kcBlock blocks of them into
// panels of nr rows (decoding the stored type) and runs the mr×nr
// micro-kernel over every pair of panels, accumulating over k blocks in
// dst.
func matMulPacked(dst, x []float32, m int, w Weights, rq *Requant4G32, visit RowVisitor) {
	src := blockSource{kind: fromWeights, w: w}
	if rq == nil || !packsForRequant(m, w.Rows, w.Cols) {
		gemmPacked(dst, x, m, w.Rows, w.Cols, 0, src, nil, visit, nil)
		return
	}
	gemmPacked(dst, x, m, w.Rows, w.Cols, requantPanelTmp/4, src, rq, visit, rq.Stat)
}

// Requant4G32 is where MatMulTRequant writes W·D re-quantized, in
// RequantRow4G32's format, for a Rows×Cols matrix: Codes Cols/2 bytes a
// row, Scales and Zeros Cols/32 a row.
type Requant4G32 struct {
	Codes  []byte
	Scales []float32
	Zeros  []uint8
	D      []float32 // the Cols multipliers of the inputs
	F16    bool      // scales rounded through float16

	// Stat, when not nil, is x's column statistic for D, which the
	// product takes as it packs x instead of in a pass of its own.
	Stat *ColumnStat

	// Spent, when not nil, gains the nanoseconds the re-quantization of
	// the blocks took, summed over the workers that ran it.
	Spent *atomic.Int64
}

// ColumnStat asks MatMulTRequant for the statistic D is made from: Sums
// (one per column of x) gains ColumnSumSq of x's Rows leading rows, or
// ColumnSumAbs with Abs, bit for bit, and Ready runs once it is complete,
// before any weight is re-quantized — the place to fill Requant4G32.D.
//
// The product reads x anyway to pack it; in a pass of its own beforehand
// the statistic read x from memory a second time. Taken in the packing it
// brought the 4-layer model's calibration (BenchmarkTTQPrefill's
// calib/fp-prefill, interleaved) from 3.09/3.29 % to 2.86/2.74 % of the
// prefill; what making D still costs is its scales/fp-prefill (#9).
type ColumnStat struct {
	Sums  []float64
	Rows  int
	Abs   bool
	Ready func()
	// Spent, when not nil, gains the nanoseconds the statistic took,
	// summed over the workers that took it.
	Spent *atomic.Int64
}

// take adds the statistic of rows [i0, i1) ∩ [0, Rows) of x's columns
// [pc, pc+kcb) (x has k columns).
func (s *ColumnStat) take(x []float32, k, i0, i1, pc, kcb int) {
	i1 = min(i1, s.Rows)
	if i0 >= i1 {
		return
	}
	var start time.Time
	if s.Spent != nil {
		start = time.Now()
	}
	colStatStrip(s.Sums[pc:pc+kcb], x[i0*k+pc:], k, i1-i0, s.Abs)
	if s.Spent != nil {
		s.Spent.Add(int64(time.Since(start)))
	}
}

// MatMulTRequant is MatMulT for TTQ's dense prefill: besides dst = x · wᵀ
// it re-quantizes W·D into rq from the packed blocks of weights the
// product has just read (requantPanel), while they are in L2; reading them
// back afterwards, row by row, cost the row kernel 0.24 ns a weight per
// thread in the prefill against 0.16 for this (BenchmarkTTQPrefill's
// calib-ns/weight/thread, #9). The row blocks it does not take go to redo
// once the product has used them: those holding a non-finite w·d, and all
// of them where the product does not pack its weights (fewer than
// gemmMinRows rows of x), where there is no AVX-512 (the panel kernel's
// twin is scalar code), or where w.Cols is not a multiple of 128.
func MatMulTRequant(dst, x []float32, m int, w Weights, rq Requant4G32, redo RowVisitor) {
	k, n := w.Cols, w.Rows
	if len(rq.Codes) < n*(k/2) || len(rq.Scales) < n*(k/32) || len(rq.Zeros) < n*(k/32) || len(rq.D) < k {
		panic("kernels: MatMulTRequant outputs too short")
	}
	if st := rq.Stat; st != nil {
		if len(st.Sums) != k || st.Rows < 0 || st.Rows > m || len(x) < m*k {
			panic("kernels: MatMulTRequant statistic out of range")
		}
		if !packsForRequant(m, n, k) {
			// No packing to take it in: a pass of its own.
			st.take(x, k, 0, st.Rows, 0, k)
			st.Ready()
			rq.Stat = nil
		}
	}
	rq.D = rq.D[:k] // block reads the row length from it
	matMulT(dst, x, m, w, &rq, redo)
}

// packsForRequant reports whether matMulT hands an m×k by n×k product
// to the panel re-quantization (and so makes a ColumnStat Ready).
func packsForRequant(m, n, k int) bool {
	return m >= gemmMinRows && n > 0 && k > 0 && useAVX512 && k%128 == 0
}

// block re-quantizes the panels of one packed block (a blockVisitor).
func (rq *Requant4G32) block(bp, scratch []float32, j0, j1, pc, kcb int) bool {
	var start time.Time
	if rq.Spent != nil {
		start = time.Now()
	}
	k := len(rq.D)
	rb, ng := k/2, k/32
	tmp := unsafe.Slice((*byte)(unsafe.Pointer(&scratch[0])), requantPanelTmp)
	ok := true
	for j := j0; j < j1; j += nr {
		q := (j - j0) / nr
		ok = requantPanel(rq.Codes[j*rb+pc/2:], rb, rq.Scales[j*ng+pc/32:], rq.Zeros[j*ng+pc/32:], ng,
			bp[q*nr*kcb:(q+1)*nr*kcb], rq.D[pc:pc+kcb], min(nr, j1-j), kcb, rq.F16, tmp) && ok
	}
	if rq.Spent != nil {
		rq.Spent.Add(int64(time.Since(start)))
	}
	return ok
}

// blockSource is where gemmPacked's weight blocks come from; pack fills bp
// with the panels of weight rows [j0, j1) over the k block [pc, pc+kcb), in
// packPanel's layout. A value rather than a packing closure: a closure
// handed to the parallel workers is a heap object per product, and a decode
// step's grouped-query attention makes two products per key/value head and
// layer (528 allocations a token on the 1.1B shape, #9).
type blockSource struct {
	kind blockKind
	w    Weights   // fromWeights: the rows of W
	kn   []float32 // fromKN: W as k rows of n, ldw apart
	ldw  int
	q    QWeights // fromQuantized: rows dequantized first
}

type blockKind uint8

const (
	fromWeights blockKind = iota
	fromKN
	fromQuantized
)

// scratchLen is the per-worker scratch pack needs.
func (s *blockSource) scratchLen() int {
	if s.kind == fromQuantized {
		return nr * kcBlock
	}
	return 0
}

// pack fills bp; scratch is the worker's, of at least scratchLen() values.
func (s *blockSource) pack(bp, scratch []float32, j0, j1, pc, kcb int) {
	switch s.kind {
	case fromWeights:
		packB(bp, s.w, j0, j1, pc, kcb)
	case fromKN:
		for q := 0; j0+q*nr < j1; q++ {
			j := j0 + q*nr
			cnt := min(nr, j1-j)
			panel := bp[q*nr*kcb : (q+1)*nr*kcb]
			for p := 0; p < kcb; p++ {
				row := panel[p*nr : (p+1)*nr]
				copy(row, s.kn[(pc+p)*s.ldw+j:(pc+p)*s.ldw+j+cnt])
				clear(row[cnt:])
			}
		}
	case fromQuantized:
		for q := 0; j0+q*nr < j1; q++ {
			j := j0 + q*nr
			cnt := min(nr, j1-j)
			for r := 0; r < cnt; r++ {
				qDequantRow(scratch[r*kcb:(r+1)*kcb], s.q, j+r, pc)
			}
			rows := unsafe.Slice((*byte)(unsafe.Pointer(&scratch[0])), 4*nr*kcb)
			packPanel(bp[q*nr*kcb:(q+1)*nr*kcb], rows, 4*kcb, cnt, kcb, ElemF32)
		}
	}
}

// gemmPacked is the driver shared by the float and the quantized products:
// dst (m×n) = x (m×k) · Wᵀ with W's blocks from src. Each packed block goes
// to rq's panel re-quantization (when rq is not nil); each block of rows,
// once multiplied, to visit (when not nil) unless rq took all its k blocks.
// stat (when not nil) is taken as x is packed and made Ready before the
// first block. tmpLen is the per-worker scratch rq needs.
func gemmPacked(dst, x []float32, m, n, k, tmpLen int, src blockSource, rq *Requant4G32, visit RowVisitor, stat *ColumnStat) {
	mp := (m + mr - 1) / mr
	mpad := mp * mr
	apBuf := packedAPool.Get(mpad * k)
	defer packedAPool.Put(apBuf)
	ap := *apBuf
	packA(ap, x, m, k, mpad, stat)
	if stat != nil {
		stat.Ready()
	}

	panels := (n + nr - 1) / nr
	grain := max(1, minTaskFlops/(2*nr*m*k))
	scratchLen := max(tmpLen, src.scratchLen())
	gemmParallel.For(panels, grain, gemmArgs{dst, ap, m, n, k, scratchLen, src, rq, visit})
}

type gemmArgs struct {
	dst, ap    []float32
	m, n, k    int
	scratchLen int
	src        blockSource
	rq         *Requant4G32
	visit      RowVisitor
}

var gemmParallel = NewParallel(func(a *gemmArgs, lo, hi int) {
	dst, ap, m, n, k, rq, visit := a.dst, a.ap, a.m, a.n, a.k, a.rq, a.visit
	mp := (m + mr - 1) / mr
	mpad := mp * mr
	bpBuf := packedBPool.Get(ncBlock*kcBlock + a.scratchLen)
	defer packedBPool.Put(bpBuf)
	bp, scratch := (*bpBuf)[:ncBlock*kcBlock], (*bpBuf)[ncBlock*kcBlock:ncBlock*kcBlock+a.scratchLen]
	var tile [mr * nr]float32
	for q0 := lo; q0 < hi; q0 += ncBlock / nr {
		q1 := min(hi, q0+ncBlock/nr)
		took := rq != nil
		for pc := 0; pc < k; pc += kcBlock {
			kcb := min(kcBlock, k-pc)
			acc := pc > 0
			a.src.pack(bp, scratch, q0*nr, min(q1*nr, n), pc, kcb)
			if rq != nil {
				took = rq.block(bp, scratch, q0*nr, min(q1*nr, n), pc, kcb) && took
			}
			ablk := ap[pc*mpad : (pc+kcb)*mpad]
			for ip := 0; ip < mp; ip++ {
				a := ablk[ip*mr*kcb : (ip+1)*mr*kcb]
				i0 := ip * mr
				rows := min(mr, m-i0)
				for q := q0; q < q1; q++ {
					b := bp[(q-q0)*nr*kcb : (q-q0+1)*nr*kcb]
					j0 := q * nr
					cols := min(nr, n-j0)
					if useAVX512 && rows == mr && q+1 < q1 && j0+2*nr <= n {
						gemmTilePair(bp[(q-q0)*nr*kcb:(q-q0+2)*nr*kcb], a, kcb, dst[i0*n+j0:], n, acc)
						q++
						continue
					}
					if rows == mr && cols == nr {
						gemmTile(a, b, kcb, dst[i0*n+j0:], n, acc)
						continue
					}
					// Ragged edge: run the full tile on a scratch copy.
					for i := 0; i < rows && acc; i++ {
						copy(tile[i*nr:i*nr+cols], dst[(i0+i)*n+j0:(i0+i)*n+j0+cols])
					}
					gemmTile(a, b, kcb, tile[:], nr, acc)
					for i := 0; i < rows; i++ {
						copy(dst[(i0+i)*n+j0:(i0+i)*n+j0+cols], tile[i*nr:i*nr+cols])
					}
				}
			}
		}
		if visit != nil && !took {
			visit(q0*nr, min(q1*nr, n))
		}
	}
})

// gemmTile runs the mr×nr micro-kernel; see gemm6x16Generic.
func gemmTile(a, b []float32, kc int, c []float32, ldc int, acc bool) {
	if kc < 1 || len(a) < kc*mr || len(b) < kc*nr || ldc < nr || len(c) < (mr-1)*ldc+nr {
		panic("kernels: gemm tile out of range")
	}
	if useAVX2 {
		gemm6x16AVX2(&a[0], &b[0], kc, &c[0], ldc, acc)
		return
	}
	gemm6x16Generic(a, b, kc, c, ldc, acc)
}

// gemmTilePair runs the micro-kernel on the two adjacent panels of b
// (2·kc·nr values) into the mr×2nr tile at c: the AVX-512 kernel where it
// runs, else gemmTile twice.
func gemmTilePair(b, a []float32, kc int, c []float32, ldc int, acc bool) {
	if kc < 1 || len(a) < kc*mr || len(b) < 2*kc*nr || ldc < 2*nr || len(c) < (mr-1)*ldc+2*nr {
		panic("kernels: gemm tile pair out of range")
	}
	if useAVX512 {
		gemm6x32AVX512(&a[0], &b[0], kc, &c[0], ldc, acc)
		return
	}
	gemmTile(a, b[:kc*nr], kc, c, ldc, acc)
	gemmTile(a, b[kc*nr:], kc, c[nr:], ldc, acc)
}

// packA lays x (m×k) out as the micro-kernel reads it: for each k block
// starting at pc, panels of mr rows, each kcb steps of mr values, rows past
// m zero. The block at pc starts at pc*mpad. The k blocks are packed in
// parallel (packed row by row on the caller alone it took as long as the
// 256-wide k/v products of a 512-token prefill it fed), each from its
// first row to its last, so that stat (when not nil) sums every column's
// rows in order, statPanels panels at a time while they are in cache.
func packA(ap, x []float32, m, k, mpad int, stat *ColumnStat) {
	blocks := (k + kcBlock - 1) / kcBlock
	packAParallel.For(blocks, max(1, (1<<14)/(mpad*kcBlock)), packAArgs{ap, x, m, k, mpad, stat})
}

type packAArgs struct {
	ap, x      []float32
	m, k, mpad int
	stat       *ColumnStat
}

var packAParallel = NewParallel(func(a *packAArgs, lo, hi int) {
	ap, x, m, k, mpad, stat := a.ap, a.x, a.m, a.k, a.mpad, a.stat
	for b := lo; b < hi; b++ {
		pc := b * kcBlock
		kcb := min(kcBlock, k-pc)
		blk := ap[pc*mpad : (pc+kcb)*mpad]
		for ip0 := 0; ip0 < mpad/mr; ip0 += statPanels {
			ip1 := min(mpad/mr, ip0+statPanels)
			for ip := ip0; ip < ip1; ip++ {
				packAPanel(blk[ip*mr*kcb:(ip+1)*mr*kcb], x, ip*mr, m, k, pc, kcb)
			}
			if stat != nil {
				stat.take(x, k, ip0*mr, min(m, ip1*mr), pc, kcb)
			}
		}
	}
})

// statPanels is the panels of x packA packs before it takes their
// statistic: 48 rows of a 256-column block, 48 KiB, still in L1 or L2.
const statPanels = 8

// packAPanel packs rows [i0, i0+mr) of x, columns [pc, pc+kcb), as
// panel[p*mr+r], rows past m zero.
func packAPanel(panel, x []float32, i0, m, k, pc, kcb int) {
	if i0+mr <= m {
		r0 := x[i0*k+pc:][:kcb]
		r1 := x[(i0+1)*k+pc:][:kcb]
		r2 := x[(i0+2)*k+pc:][:kcb]
		r3 := x[(i0+3)*k+pc:][:kcb]
		r4 := x[(i0+4)*k+pc:][:kcb]
		r5 := x[(i0+5)*k+pc:][:kcb]
		for p := range r0 {
			o := panel[p*mr : p*mr+mr]
			o[0], o[1], o[2], o[3], o[4], o[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
		}
		return
	}
	for r := 0; r < mr; r++ {
		if i0+r >= m {
			for p := 0; p < kcb; p++ {
				panel[p*mr+r] = 0
			}
			continue
		}
		for p, v := range x[(i0+r)*k+pc : (i0+r)*k+pc+kcb] {
			panel[p*mr+r] = v
		}
	}
}

// packB lays weight rows [j0, j1), columns [pc, pc+kcb) out as panels of
// nr rows: bp[q*nr*kcb + p*nr + r] = w[j0+q*nr+r][pc+p], rows past j1
// zero.
func packB(bp []float32, w Weights, j0, j1, pc, kcb int) {
	es := w.Elem.Size()
	stride := w.Cols * es
	for q := 0; j0+q*nr < j1; q++ {
		j := j0 + q*nr
		packPanel(bp[q*nr*kcb:(q+1)*nr*kcb], w.Data[j*stride+pc*es:], stride, min(nr, j1-j), kcb, w.Elem)
	}
}

// packPanel stores rows ≤ nr rows of kc elements of type e, row r at
// src[r*stride:], as dst[p*nr+r], with zeros for rows past the last.
func packPanel(dst []float32, src []byte, stride, rows, kc int, e Elem) {
	es := e.Size()
	if rows < 0 || rows > nr || len(dst) < kc*nr || (rows > 0 && len(src) < (rows-1)*stride+kc*es) {
		panic("kernels: packPanel out of range")
	}
	done := 0
	if useAVX2 && rows == nr && kc >= 8 {
		done = kc &^ 7
		switch e {
		case ElemF32:
			packPanelF32AVX2(&dst[0], &src[0], stride, done)
		case ElemF16:
			packPanelF16AVX2(&dst[0], &src[0], stride, done)
		case ElemBF16:
			packPanelBF16AVX2(&dst[0], &src[0], stride, done)
		default:
			panic("kernels: packPanel unknown element type")
		}
	}
	if done < kc {
		packPanelGeneric(dst[done*nr:], src[done*es:], stride, rows, kc-done, e)
	}
}

// MatMul computes dst = x · w for a row-major k×n matrix w whose rows lie
// ldw ≥ n apart (a window of a wider matrix, such as the positions of a
// key/value cache): x is m×k row-major, dst is m×n row-major. It is MatMulT
// without the transposition, for the attention's probabilities times
// values, which a cache that stores positions as rows hands over in place.
// Below gemmMinRows activation rows each output row is a sum of scaled
// rows of w (Axpy); from gemmMinRows on, rows of w are copied into the
// packed panels of the blocked product, which need no transposition since
// a panel row is nr consecutive outputs. Accumulation is in float32.
func MatMul(dst, x []float32, m int, w []float32, k, n, ldw int) {
	if m < 0 || k < 0 || n < 0 || ldw < n || len(x) < m*k || len(dst) < m*n || (k > 0 && len(w) < (k-1)*ldw+n) {
		panic("kernels: MatMul slice too short")
	}
	switch {
	case m == 0 || n == 0:
	case k == 0:
		clear(dst[:m*n])
	case m < gemmMinRows:
		for i := 0; i < m; i++ {
			d := dst[i*n : (i+1)*n]
			clear(d)
			for p, a := range x[i*k : (i+1)*k] {
				Axpy(a, w[p*ldw:p*ldw+n], d)
			}
		}
	default:
		gemmPacked(dst, x, m, n, k, 0, blockSource{kind: fromKN, kn: w, ldw: ldw}, nil, nil, nil)
	}
}

// packAPanel's six-row loop is written for mr = 6.
var _ [mr - 6]struct{}
var _ [6 - mr]struct{}
