package kernels

import (
	"math"
	"os"
	"strconv"
	"unsafe"
)

// The int8-activation path of the quantized matrix-vector product. Each
// activation row (scaled by InScale) is quantized per block of 32 inputs
// to int8 with one float32 scale, d = max|x|/127 (ggml's Q8_0 for
// activations), and the 4-bit codes are multiplied by the int8 values with
// integer instructions (VPMADDUBSW, VPMADDWD): 64 codes cost about ten
// instructions per row instead of about thirty for widening them to
// float32. Block sums are scaled by d in float32, groups by their weight
// scale, and the zero points enter through the per-group sums of the
// quantized activations, so the result is the exact product of Ŵ with the
// rounded activations x̂ up to float32 rounding:
//
//	|y − Ŵ·x| ≤ Σ_c |Ŵ[c]|·d_{b(c)}/2  (+ the float32 summation error)
//
// (per-element rounding |x − x̂| ≤ d/2). The path is off by default and
// selected with SetInt8Activations or TTQ_QGEMV_I8=1; it runs for 4-bit
// codes (and, with AVX-512 VNNI and VBMI, 8-bit codes) when the row length
// is a multiple of 64 and the group is 32, a multiple of 64 or the whole
// row, and the float kernels serve every other shape, the prefill (m ≥ 8
// rows) included.

// useI8Act selects the int8-activation path where it applies.
var useI8Act = i8ActFromEnv()

func i8ActFromEnv() bool {
	v, err := strconv.ParseBool(os.Getenv("TTQ_QGEMV_I8"))
	return err == nil && v
}

// SetInt8Activations switches the int8-activation matrix-vector path on or
// off (TTQ_QGEMV_I8=1 switches it on at start-up) and returns the previous
// setting. Call it before running kernels, not concurrently with them.
func SetInt8Activations(on bool) bool {
	old := useI8Act
	useI8Act = on
	return old
}

// Int8Activations reports whether the int8-activation path is selected.
func Int8Activations() bool { return useI8Act }

// i8Step is the number of codes the kernels take per step: two activation
// blocks of 32.
const i8Step = 64

// qI8Applies reports whether the int8-activation path serves w.
func qI8Applies(w QWeights) bool {
	g := w.GroupSize()
	return (w.Bits == 4 || w.Bits == 8 && useAVX512 && hasVBMI512) && w.Cols%i8Step == 0 &&
		(g == 32 || g%i8Step == 0 || w.NumGroups() == 1)
}

var qInt8Pool FreeList[[]int8]

// quantizeActs quantizes one activation row x (len k, a multiple of 64)
// for the int8 kernels: xq holds the codes in kernel order, per 64 inputs
// first the even then the odd positions of each block of 32 (the order in
// which the kernels split bytes into low and high nibbles), dx eight
// float32 per 64 inputs, the scale of the first block four times then that
// of the second, and xsum[g] the sum of the quantized values x̂ = q·d over
// group g of group inputs. A block whose maximum is not finite gets a NaN
// scale, so that the product is NaN as the float path's would be.
func quantizeActs(xq []int8, dx, xsum, x []float32, group int) {
	_ = xq[len(x)-1]
	// On the stack up to 16384 inputs (Llama 3 8B's MLP is 14336): at 128
	// blocks every down_proj of an intermediate size over 4096 allocated
	// here once a decode step (BenchmarkDecodeAllocs).
	var small [512]float32
	bsum := small[:]
	if nb := len(x) / 32; nb > len(small) {
		bsum = make([]float32, nb)
	} else {
		bsum = bsum[:nb]
	}
	if useAVX512 && len(x)%i8Step == 0 {
		quantizeActsAVX512(xq, dx, bsum, x)
	} else {
		quantizeActsGeneric(xq, dx, bsum, x)
	}
	clear(xsum)
	for b, v := range bsum {
		xsum[b*32/group] += v
	}
}

// quantizeActsGeneric is the block loop of quantizeActs: the codes and dx,
// and bsum[b] = d·Σq for each block b of 32.
func quantizeActsGeneric(xq []int8, dx, bsum, x []float32) {
	for b0 := 0; b0 < len(x); b0 += 32 {
		blk := x[b0 : b0+32]
		var amax float32
		for _, v := range blk {
			amax = max(amax, abs32(v))
		}
		var d, id float32
		switch {
		case !(amax <= math.MaxFloat32):
			d = float32(math.NaN())
		case amax > 0:
			d, id = amax/127, 127/amax
		}
		s0 := b0 &^ (i8Step - 1)
		h := (b0 % i8Step) / 32
		var qs int32
		for j, v := range blk {
			f := v * id
			var q int32
			if f >= 0 {
				q = int32(min(f+0.5, 127))
			} else if f < 0 {
				q = int32(max(f-0.5, -127))
			}
			qs += q
			xq[s0+(j&1)*32+16*h+j/2] = int8(q)
		}
		for l := 0; l < 4; l++ {
			dx[s0/8+4*h+l] = d
		}
		bsum[b0/32] = d * float32(qs)
	}
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// qMatMulRowsI8 is qMatMulRows with int8 activations; qI8Applies(w) holds.
func qMatMulRowsI8(dst, x []float32, m int, w QWeights) {
	k, n := w.Cols, w.Rows
	ng := w.NumGroups()
	group := w.GroupSize()
	if ng == 1 {
		group = k
	}

	fbuf := qFloatPool.Get(k + m*k/8 + m*ng)
	defer qFloatPool.Put(fbuf)
	xs, dx, xsum := (*fbuf)[:k], (*fbuf)[k:k+m*k/8], (*fbuf)[k+m*k/8:]
	qbuf := qInt8Pool.Get()
	defer qInt8Pool.Put(qbuf)
	if cap(*qbuf) < m*k {
		*qbuf = make([]int8, m*k)
	}
	xq := (*qbuf)[:m*k]
	for i := 0; i < m; i++ {
		xi := x[i*k : (i+1)*k]
		if w.InScale != nil {
			// Vector code: the scalar loop was TTQ's decode step's largest
			// serial part over static RTN's (#9).
			Mul(xs, xi, w.InScale)
			xi = xs
		}
		quantizeActs(xq[i*k:(i+1)*k], dx[i*k/8:(i+1)*k/8], xsum[i*ng:(i+1)*ng], xi, group)
	}

	zeros, zs := w.zeroPoints()
	grain := max(4, minTaskFlops/(2*m*k))
	qgemvI8Parallel.For((n+3)/4, (grain+3)/4, qgemvI8Args{dst, xq, dx, xsum, w, m, group, zeros, zs})
}

type qgemvI8Args struct {
	dst      []float32
	xq       []int8
	dx, xsum []float32
	w        QWeights
	m, group int
	zeros    []byte
	zs       int
}

var qgemvI8Parallel = NewParallel(func(a *qgemvI8Args, lo, hi int) {
	dst, xq, dx, xsum, w, m, group, zeros, zs := a.dst, a.xq, a.dx, a.xsum, a.w, a.m, a.group, a.zeros, a.zs
	k, n, bits := w.Cols, w.Rows, w.Bits
	ng := w.NumGroups()
	ng8 := ng &^ 7
	rb := QRowBytes(bits, k)
	block := max(4, (128<<10)/max(rb, 1)) &^ 3
	lo, hi = lo*4, min(hi*4, n)
	if m == 1 {
		// One activation row: no block to keep in L2, and the row
		// kernel's pairs (row r with row r + len/2) stream best far apart.
		block = hi - lo
	}
	var tmp [4]float32
	for j0 := lo; j0 < hi; j0 += block {
		j1 := min(j0+block, hi)
		for i := 0; i < m; i++ {
			xqi, dxi, si := xq[i*k:(i+1)*k], dx[i*k/8:(i+1)*k/8], xsum[i*ng:(i+1)*ng]
			d := dst[i*n : (i+1)*n]
			j := j0
			// 8-bit codes run here only with the AVX-512 kernel
			// (qI8Applies).
			if bits == 8 || useAVX512 && hasVNNI512 {
				var s16 []uint16
				if w.Scales16 != nil {
					s16 = w.Scales16[j0*ng:]
				}
				qgemvRowsI8(d[j0:j1], xqi, dxi, si[:ng8], w.Packed[j0*rb:], rb, w.Scales[j0*ng:], s16, ng, zeros[j0*zs:], zs, group, bits)
				j = j1
			}
			for ; j+4 <= j1; j += 4 {
				qgemvQuadI8(d[j:j+4], xqi, dxi, si[:ng8], w.Packed[j*rb:], rb, w.Scales[j*ng:], ng, zeros[j*zs:], zs, group)
			}
			for ; j < j1; j++ {
				qgemvQuadI8(tmp[:], xqi, dxi, si[:ng8], w.Packed[j*rb:], 0, w.Scales[j*ng:], 0, zeros[j*zs:], 0, group)
				d[j] = tmp[0]
			}
			if ng8 == ng {
				continue
			}
			for j := j0; j < j1; j++ {
				s, z := w.Scales[j*ng:(j+1)*ng], zeros[j*zs:]
				var extra float32
				for g := ng8; g < ng; g++ {
					extra -= s[g] * float32(z[g]) * si[g]
				}
				d[j] += extra
			}
		}
	}
})

// qgemvQuadI8 checks the bounds of a four-row int8-activation kernel call
// and dispatches it; see qgemvQuad4I8Generic.
func qgemvQuadI8(dst []float32, xq []int8, dx, xsum []float32, w []byte, wstride int, s []float32, ss int, z []byte, zs, group int) {
	k := len(xq)
	ng := (k + group - 1) / group
	if len(dst) < 4 || k%i8Step != 0 || (group != 32 && group%i8Step != 0) || len(dx) < k/8 || len(xsum)%8 != 0 ||
		len(w) < 3*wstride+k/2 || len(s) < 3*ss+max(ng, len(xsum)) || len(z) < 3*zs+len(xsum) {
		panic("kernels: qgemvQuadI8 out of range")
	}
	if useAVX2 && k > 0 {
		if group == 32 {
			qgemvQuad4I8G32AVX2(&dst[0], xq, dx, xsum, &w[0], wstride, &s[0], ss, unsafe.SliceData(z), zs, group)
		} else {
			qgemvQuad4I8AVX2(&dst[0], xq, dx, xsum, &w[0], wstride, &s[0], ss, unsafe.SliceData(z), zs, group)
		}
		return
	}
	qgemvQuad4I8Generic(dst, xq, dx, xsum, w, wstride, s, ss, z, zs, group)
}

// qgemvRowsI8 checks the bounds of a multi-row int8-activation kernel call
// for bits-bit codes, 4 or 8 (rows len(dst), row r at w[r*wstride:],
// s[r*ss:], z[r*zs:]), and dispatches it: the AVX-512 VNNI kernel where it
// runs (for 8-bit codes it needs VBMI too), else the twin on each row.
// s16, when not nil, holds the same scales in half precision (as s, ss
// apart), which the paired 8-bit kernel reads instead of s.
func qgemvRowsI8(dst []float32, xq []int8, dx, xsum []float32, w []byte, wstride int, s []float32, s16 []uint16, ss int, z []byte, zs, group, bits int) {
	k, n := len(xq), len(dst)
	ng := (k + group - 1) / group
	if n == 0 {
		return
	}
	if (bits != 4 && bits != 8) || k%i8Step != 0 || (group != 32 && group%i8Step != 0) || len(dx) < k/8 || len(xsum)%8 != 0 ||
		len(w) < (n-1)*wstride+k*bits/8 || len(s) < (n-1)*ss+max(ng, len(xsum)) || len(z) < (n-1)*zs+len(xsum) ||
		s16 != nil && len(s16) < (n-1)*ss+max(ng, len(xsum)) {
		panic("kernels: qgemvRowsI8 out of range")
	}
	eight := bits == 8
	if useAVX512 && hasVNNI512 && (!eight || hasVBMI512) && k > 0 {
		// Two rows at a time where the pair kernel takes the format (row
		// r with row r + pairs/2, bit for bit the one-row kernel's sums);
		// an odd last row, or any other format, one at a time.
		pairs := 0
		if pairsI8Apply(k, group, bits) {
			pairs = n &^ 1
		}
		if pairs > 0 {
			sp, half := unsafe.Pointer(&s[0]), eight && s16 != nil
			if half {
				sp = unsafe.Pointer(&s16[0])
			}
			qgemvPairsI8AVX512(dst[:pairs], xq, dx, xsum, &w[0], wstride, sp, ss, unsafe.SliceData(z), zs, group, eight, half)
		}
		if pairs < n {
			qgemvRowsI8AVX512(dst[pairs:], xq, dx, xsum, &w[pairs*wstride], wstride, &s[pairs*ss], ss, unsafe.SliceData(z[pairs*zs:]), zs, group, eight)
		}
		return
	}
	var out [4]float32
	for r := range dst {
		if eight {
			dst[r] = qgemvRow8I8Generic(xq, dx, xsum, w[r*wstride:], s[r*ss:], z[r*zs:], group)
			continue
		}
		qgemvQuad4I8Generic(out[:], xq, dx, xsum, w[r*wstride:], 0, s[r*ss:], 0, z[r*zs:], 0, group)
		dst[r] = out[0]
	}
}

// pairsI8Apply reports whether qgemvRowsI8 takes rows of k inputs two at a
// time (qgemvPairsI8AVX512).
func pairsI8Apply(k, group, bits int) bool {
	if !useAVX512 || !hasVNNI512 || k <= 0 {
		return false
	}
	if bits == 8 {
		return hasVBMI512 && group == 32 && k%128 == 0
	}
	return bits == 4 && (group == 32 || group == 128) && k%256 == 0
}

// qgemvRow8I8Generic is the pure-Go twin of the 8-bit rows of
// qgemvRowsI8AVX512: qgemvQuad4I8Generic's sum for one row of 8-bit codes
// (w[c] is input c's code), with activations in quantizeActs' order.
func qgemvRow8I8Generic(xq []int8, dx, xsum []float32, w []byte, s []float32, z []byte, group int) float32 {
	k := len(xq)
	var total float32
	for g, g0 := 0, 0; g0 < k; g, g0 = g+1, g0+group {
		var acc float32
		for b0 := g0; b0 < min(g0+group, k); b0 += 32 {
			s0, h := b0&^(i8Step-1), (b0%i8Step)/32
			var isum int32
			for j := 0; j < 32; j++ {
				isum += int32(w[b0+j]) * int32(xq[s0+(j&1)*32+16*h+j/2])
			}
			acc += float32(isum) * dx[s0/8+4*h]
		}
		total += s[g] * acc
	}
	for g, v := range xsum {
		total -= s[g] * float32(z[g]) * v
	}
	return total
}

// qgemvQuad4I8Generic is the pure-Go twin of the qgemvQuad4I8*AVX2
// kernels. For the four rows r < 4 whose 4-bit codes start at
// w[r*wstride:], scales at s[r*ss:] and zero points at z[r*zs:], with
// activations quantized by quantizeActs (k = len(xq) codes), it computes
//
//	dst[r] = Σ_g s[g]·Σ_{b∈g} dx_b·Σ_{c∈b} code(c)·xq(c)  −  Σ_{g<len(xsum)} s[g]·z[g]·xsum[g]
//
// with blocks b of 32 codes and groups of group codes (32 or a multiple of
// 64). The integer sums are exact; only the float32 steps round.
func qgemvQuad4I8Generic(dst []float32, xq []int8, dx, xsum []float32, w []byte, wstride int, s []float32, ss int, z []byte, zs, group int) {
	k := len(xq)
	for r := 0; r < 4; r++ {
		row, sr, zr := w[r*wstride:], s[r*ss:], z[r*zs:]
		var total float32
		for g, g0 := 0, 0; g0 < k; g, g0 = g+1, g0+group {
			var acc float32
			for b0 := g0; b0 < min(g0+group, k); b0 += 32 {
				s0, h := b0&^(i8Step-1), (b0%i8Step)/32
				var isum int32
				for j := 0; j < 16; j++ {
					byt := row[b0/2+j]
					isum += int32(byt&15)*int32(xq[s0+16*h+j]) + int32(byt>>4)*int32(xq[s0+32+16*h+j])
				}
				acc += float32(isum) * dx[s0/8+4*h]
			}
			total += sr[g] * acc
		}
		for g, v := range xsum {
			total -= sr[g] * float32(zr[g]) * v
		}
		dst[r] = total
	}
}
