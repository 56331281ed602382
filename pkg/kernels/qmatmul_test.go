package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// refPackRow packs codes as the format describes it, bit by bit: code c
// of a row occupies bits (c mod B)·bits … of block c div B, a block of B =
// QBlockCodes codes taking QBlockBytes bytes, least significant bit first.
// It shares no code with the kernels' decoders.
func refPackRow(codes []uint8, bits int) []byte {
	per, bb := QBlockCodes(bits), QBlockBytes(bits)
	out := make([]byte, (len(codes)+per-1)/per*bb)
	for c, q := range codes {
		base := c/per*bb*8 + c%per*bits
		for b := 0; b < bits; b++ {
			if q>>b&1 == 1 {
				pos := base + b
				out[pos/8] |= 1 << (pos % 8)
			}
		}
	}
	return out
}

// qCase is a random quantized matrix with its codes kept for the
// reference.
type qCase struct {
	w     QWeights
	codes []uint8 // Rows × Cols, natural order
}

func randQCase(r *rand.Rand, bits, group, rows, cols int, sym, inScale bool) qCase {
	w := QWeights{Bits: bits, Group: group, Rows: rows, Cols: cols}
	ng := w.NumGroups()
	maxq := 1<<bits - 1
	codes := make([]uint8, rows*cols)
	for i := range codes {
		codes[i] = uint8(r.IntN(maxq + 1))
	}
	for j := 0; j < rows; j++ {
		w.Packed = append(w.Packed, refPackRow(codes[j*cols:(j+1)*cols], bits)...)
	}
	if w.Packed == nil {
		w.Packed = []byte{}
	}
	w.Scales = make([]float32, rows*ng)
	for i := range w.Scales {
		w.Scales[i] = float32(0.01 + 0.1*r.Float64())
	}
	if !sym {
		w.Zeros = make([]uint8, rows*ng)
		for i := range w.Zeros {
			w.Zeros[i] = uint8(r.IntN(maxq + 1))
		}
	}
	if inScale {
		w.InScale = make([]float32, cols)
		for i := range w.InScale {
			w.InScale[i] = float32(0.5 + 2*r.Float64())
		}
	}
	return qCase{w, codes}
}

// refQMatMulT is the float64 definition of dst = (x ⊙ InScale)·Ŵᵀ with
// Ŵ = (q − zero)·scale, and the bound on the float32 error of each output:
// the kernels sum code·x and zero·x separately, so the magnitude is that of
// (|q| + |zero|)·|scale·x|.
func refQMatMulT(x []float32, m int, c qCase) (out, mag []float64) {
	w := c.w
	k, n, g, ng := w.Cols, w.Rows, w.GroupSize(), w.NumGroups()
	out, mag = make([]float64, m*n), make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, a float64
			for col := 0; col < k; col++ {
				gi := col / g
				z := float64(symZero(w.Bits))
				if w.Zeros != nil {
					z = float64(w.Zeros[j*ng+gi])
				}
				xv := float64(x[i*k+col])
				if w.InScale != nil {
					xv *= float64(w.InScale[col])
				}
				q := float64(c.codes[j*k+col])
				sc := float64(w.Scales[j*ng+gi])
				s += (q - z) * sc * xv
				a += (q + z) * math.Abs(sc*xv)
			}
			out[i*n+j], mag[i*n+j] = s, a
		}
	}
	return out, mag
}

func TestQPackingTable(t *testing.T) {
	// Bits per block must be whole bytes and a block at most a uint64,
	// and the chunks whole blocks.
	for bits := 2; bits <= 8; bits++ {
		per, bb := QBlockCodes(bits), QBlockBytes(bits)
		if per*bits != 8*bb || bb > 8 {
			t.Errorf("%d bits: %d codes in %d bytes", bits, per, bb)
		}
		ch := qChunks[bits]
		if ch.codes%per != 0 || ch.bytes != ch.codes/per*bb || ch.codes > 32 {
			t.Errorf("%d bits: chunk of %d codes in %d bytes", bits, ch.codes, ch.bytes)
		}
		if ch.perm != nil {
			seen := make([]bool, ch.codes)
			for _, p := range ch.perm {
				seen[p] = true
			}
			if len(ch.perm) != ch.codes || slices.Contains(seen, false) {
				t.Errorf("%d bits: chunk order %v is not a permutation", bits, ch.perm)
			}
		}
	}
	// Hand-packed: 4-bit codes 1, 2 → 0x21; 2-bit 0,1,2,3 → 0b11100100;
	// 3-bit 0…7 → 0b111110101100011010001000 = 0xFAC688 little-endian.
	for _, c := range []struct {
		bits  int
		codes []uint8
		want  []byte
	}{
		{4, []uint8{1, 2, 15}, []byte{0x21, 0x0f}},
		{2, []uint8{0, 1, 2, 3}, []byte{0xe4}},
		{3, []uint8{0, 1, 2, 3, 4, 5, 6, 7}, []byte{0x88, 0xc6, 0xfa}},
		{8, []uint8{7, 200}, []byte{7, 200}},
	} {
		if got := refPackRow(c.codes, c.bits); !slices.Equal(got, c.want) {
			t.Errorf("%d-bit %v packs to %x, want %x", c.bits, c.codes, got, c.want)
		}
		for i, q := range c.codes {
			if got := qCode(c.want, c.bits, i); got != q {
				t.Errorf("%d-bit code %d reads %d, want %d", c.bits, i, got, q)
			}
		}
	}
}

func TestDecodeChunkOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for bits := 2; bits <= 8; bits++ {
		ch := qChunks[bits]
		codes := make([]uint8, ch.codes)
		for i := range codes {
			codes[i] = uint8(r.IntN(1 << bits))
		}
		got := make([]float32, ch.codes)
		decodeChunk(got, refPackRow(codes, bits), bits)
		for i, v := range got {
			p := i
			if ch.perm != nil {
				p = int(ch.perm[i])
			}
			if v != float32(codes[p]) {
				t.Fatalf("%d bits: position %d = %g, want code %d = %d", bits, i, v, p, codes[p])
			}
		}
	}
}

func TestQWeightsValidate(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	good := randQCase(r, 4, 32, 3, 70, false, true).w
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if good.NumGroups() != 3 || good.GroupSize() != 32 {
		t.Errorf("70 columns in groups of 32: %d groups of %d", good.NumGroups(), good.GroupSize())
	}
	bad := []func(w *QWeights){
		func(w *QWeights) { w.Bits = 9 },
		func(w *QWeights) { w.Bits = 1 },
		func(w *QWeights) { w.Packed = w.Packed[1:] },
		func(w *QWeights) { w.Scales = w.Scales[1:] },
		func(w *QWeights) { w.Zeros = w.Zeros[1:] },
		func(w *QWeights) { w.Zeros = slices.Clone(w.Zeros); w.Zeros[2] = 16 },
		func(w *QWeights) { w.InScale = w.InScale[1:] },
		func(w *QWeights) { w.Rows = -1 },
	}
	for i, f := range bad {
		w := good
		f(&w)
		if w.Validate() == nil {
			t.Errorf("case %d: invalid weights accepted", i)
		}
	}
	perRow := QWeights{Bits: 3, Group: -1, Cols: 172}
	if perRow.GroupSize() != 172 || perRow.NumGroups() != 1 {
		t.Errorf("per-row: %d groups of %d", perRow.NumGroups(), perRow.GroupSize())
	}
}

// qShapes mixes the matrix-vector regime and the packed one; widths cover
// tails shorter than a chunk, ragged last groups and groups that are not
// multiples of the chunk.
var qShapes = [][3]int{
	{1, 1, 1}, {1, 5, 7}, {1, 9, 64}, {2, 4, 100}, {3, 13, 172}, {1, 7, 256}, {5, 6, 300},
	{7, 17, 129}, {8, 3, 64}, {9, 21, 200}, {13, 40, 257}, {1, 33, 520}, {20, 5, 33}, {10, 3, 900}, {2, 5, 900},
}

func TestQMatMulTAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	defer SetThreads(0)
	for _, s := range qShapes {
		m, n, k := s[0], s[1], s[2]
		for bits := 2; bits <= 8; bits++ {
			for _, group := range []int{32, 128, -1, 16, 20, 384} {
				sym, insc := r.IntN(2) == 0, r.IntN(2) == 0
				c := randQCase(r, bits, group, n, k, sym, insc)
				xoff := r.IntN(4)
				x := randVec(r, m*k+xoff)[xoff:]
				x0 := slices.Clone(x)
				want, mag := refQMatMulT(x, m, c)
				var prev []float32
				SetThreads(1 + r.IntN(3))
				for _, p := range kernelPaths() {
					what := fmt.Sprintf("%s int%d g%d sym=%v inscale=%v m=%d n=%d k=%d", p.name, bits, group, sym, insc, m, n, k)
					dst, check := guarded(t, m*n, xoff)
					withPath(p, func() { QMatMulT(dst, x, m, c.w) })
					check(what)
					if !slices.Equal(x, x0) {
						t.Fatalf("%s: x modified", what)
					}
					for i, g := range dst {
						if math.Abs(float64(g)-want[i]) > sumTol(mag[i]) {
							t.Fatalf("%s: dst[%d] = %g, want %g", what, i, g, want[i])
						}
						if prev != nil && math.Abs(float64(g-prev[i])) > 2*sumTol(mag[i]) {
							t.Fatalf("%s: dst[%d] differs between paths: %g vs %g", what, i, prev[i], g)
						}
					}
					prev = dst
				}
			}
		}
	}
}

// TestQGemvQuadPaths holds each four-row kernel to its pure-Go twin,
// including a lone row repeated by zero strides and weights at odd
// offsets.
func TestQGemvQuadPaths(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no assembly kernels in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(9, 10))
	type variant struct {
		bits int
		ch   qChunk
		path kernelPath
		rows bool // the multi-row kernel (qgemvRows8)
	}
	var variants []variant
	for _, bits := range []int{2, 3, 4, 8} {
		variants = append(variants, variant{bits, qChunks[bits], kernelPath{"avx2", true, false}, false})
	}
	if hasAVX512 {
		// The single-row kernel, run on each of the four rows in turn.
		variants = append(variants, variant{4, qChunk4x32, kernelPath{"avx2+avx512", true, true}, false})
		variants = append(variants, variant{8, qChunks[8], kernelPath{"avx2+avx512", true, true}, true})
	}
	for _, v := range variants {
		bits, ch := v.bits, v.ch
		for _, chunks := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9} {
			k := chunks * ch.codes
			for _, group := range []int{ch.codes, 2 * ch.codes, 4 * ch.codes, max(k, ch.codes)} {
				ng := (k + group - 1) / group
				for _, nx := range []int{0, 8, 16} {
					for _, strided := range []bool{true, false} {
						woff := r.IntN(5)
						rb := k/ch.codes*ch.bytes + r.IntN(3)
						w := make([]byte, woff+4*rb)
						for i := range w {
							w[i] = byte(r.Uint32())
						}
						w = w[woff:]
						ss, zs := max(ng, nx)+r.IntN(2), max(ng, nx)
						s := randVec(r, 4*ss)
						z := make([]byte, 4*zs)
						for i := range z {
							z[i] = byte(r.IntN(1 << bits))
						}
						ws, sst, zst := rb, ss, zs
						if !strided {
							ws, sst, zst = 0, 0, 0
						}
						xp, xsum := randVec(r, k), randVec(r, nx)
						var want, got [4]float32
						qgemvQuadGeneric(ch, bits, want[:], xp, xsum, w, ws, s, sst, z, zst, group)
						withPath(v.path, func() {
							if v.rows {
								qgemvRows8(got[:], xp, xsum, w, ws, s, sst, z, zst, group)
								return
							}
							if ch.codes == qChunks[bits].codes {
								qgemvQuad(ch, bits, got[:], xp, xsum, w, ws, s, sst, z, zst, group)
								return
							}
							for row := range got {
								got[row] = qgemvRow(ch, bits, xp, xsum, w[row*ws:], s[row*sst:], z[row*zst:], group)
							}
						})
						for row := range got {
							var mag float64
							for c := 0; c < k; c++ {
								mag += float64(int(1)<<bits) * math.Abs(float64(xp[c])*float64(s[row*sst+c/group]))
							}
							for g, v := range xsum {
								mag += math.Abs(float64(v) * float64(s[row*sst+g]) * float64(z[row*zst+g]))
							}
							if math.Abs(float64(got[row]-want[row])) > 2*sumTol(mag) {
								t.Fatalf("%s int%d/%d k=%d group=%d xsum=%d strided=%v: row %d = %g, twin %g", v.path.name, bits, ch.codes, k, group, nx, strided, row, got[row], want[row])
							}
						}
					}
				}
			}
		}
	}
}

// TestQDequantPaths holds each dequantization kernel to its pure-Go twin.
func TestQDequantPaths(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no assembly kernels in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(15, 16))
	for _, bits := range []int{2, 3, 4, 8} {
		ch := qChunks[bits]
		for _, chunks := range []int{1, 2, 3, 8, 9} {
			n := chunks * ch.codes
			for _, group := range []int{ch.codes, 2 * ch.codes, 3 * ch.codes, n} {
				ng := (n + group - 1) / group
				off := r.IntN(5)
				src := make([]byte, off+n/ch.codes*ch.bytes)
				for i := range src {
					src[i] = byte(r.Uint32())
				}
				src = src[off:]
				sc, of := randVec(r, ng), randVec(r, ng)
				want := make([]float32, n)
				qdequantGeneric(bits, want, src, sc, of, group)
				got, check := guarded(t, n, off)
				withPath(kernelPath{"avx2", true, false}, func() { qdequant(bits, got, src, sc, of, group) })
				check(fmt.Sprintf("int%d n=%d group=%d", bits, n, group))
				for i := range got {
					tol := 1e-6 * (float64(int(1)<<bits)*math.Abs(float64(sc[i/group])) + math.Abs(float64(of[i/group])))
					if math.Abs(float64(got[i]-want[i])) > tol {
						t.Fatalf("int%d n=%d group=%d: dst[%d] = %g, twin %g", bits, n, group, i, got[i], want[i])
					}
				}
			}
		}
	}
}
