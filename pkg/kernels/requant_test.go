package kernels

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// specials are values the calibration kernels must treat exactly as the
// scalar code does: signed zeros, ties of the rounding, infinities.
var specials = []float32{0, float32(math.Copysign(0, -1)), 0.5, 1.5, 2.5, -2.5, -0.5, 1e-38, -1e30,
	float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32}

func TestColumnStats(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	defer func(b int) { colStatBlock = b }(colStatBlock)
	for _, sh := range []struct{ block, cols int }{
		// Several column blocks, some ragged, at small sizes.
		{32, 1}, {32, 15}, {32, 16}, {32, 17}, {32, 48}, {32, 100},
		// Blocks the AVX-512 kernel's 128 columns divide, then the AVX2
		// kernel's 16 and the scalar remainder.
		{256, 300}, {384, 400},
	} {
		colStatBlock = sh.block
		cols := sh.cols
		for _, rows := range []int{0, 1, 3, 33} {
			off := r.IntN(3)
			buf := randVec(r, off+rows*cols)
			x := buf[off:]
			for i := 0; i < len(x); i += 7 {
				x[i] = specials[r.IntN(len(specials)-3)] // finite ones
			}
			for _, abs := range []bool{false, true} {
				init := make([]float64, cols)
				for i := range init {
					init[i] = r.Float64()
				}
				// The reference: the scalar loop pkg/quant ran before.
				want := slices.Clone(init)
				for row := 0; row < rows; row++ {
					for c := 0; c < cols; c++ {
						v := float64(x[row*cols+c])
						if abs {
							want[c] += math.Abs(v)
						} else {
							want[c] += v * v
						}
					}
				}
				for _, p := range kernelPaths() {
					got := slices.Clone(init)
					withPath(p, func() {
						if abs {
							ColumnSumAbs(got, x, rows)
						} else {
							ColumnSumSq(got, x, rows)
						}
					})
					for c := range got {
						if math.Float64bits(got[c]) != math.Float64bits(want[c]) {
							t.Fatalf("%s cols=%d rows=%d abs=%v: column %d = %v, want %v bit for bit", p.name, cols, rows, abs, c, got[c], want[c])
						}
					}
				}
			}
		}
	}
}

func TestScaleMinMax(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	for _, n := range []int{1, 7, 8, 9, 64, 130} {
		for _, group := range []int{8, 13, 32, 128, n} {
			for _, scaled := range []bool{false, true} {
				for _, nanAt := range []int{-1, r.IntN(n)} {
					w0 := randVec(r, n)
					for i := 0; i < n; i += 5 {
						w0[i] = specials[r.IntN(len(specials))]
					}
					if nanAt >= 0 {
						w0[nanAt] = float32(math.NaN())
					}
					var d []float32
					if scaled {
						d = randVec(r, n)
					}
					ng := (n + group - 1) / group
					// Reference: scale, then Go's min and max per group.
					want := slices.Clone(w0)
					for i := range want {
						if d != nil {
							want[i] *= d[i]
						}
					}
					for _, p := range kernelPaths() {
						w := slices.Clone(w0)
						lo, hi := make([]float32, ng), make([]float32, ng)
						var ok bool
						withPath(p, func() { ok = ScaleMinMax(lo, hi, w, d, group) })
						if !slices.Equal(math32bits(w), math32bits(want)) {
							t.Fatalf("%s n=%d group=%d: scaled weights differ", p.name, n, group)
						}
						if ok != (nanAt < 0) {
							t.Fatalf("%s n=%d: ok = %v with a NaN at %d", p.name, n, ok, nanAt)
						}
						if !ok {
							continue
						}
						for g := 0; g < ng; g++ {
							seg := want[g*group : min((g+1)*group, n)]
							wl, wh := slices.Min(seg), slices.Max(seg)
							// Signed zeros may come out either way; nothing
							// downstream tells them apart.
							if lo[g] != wl || hi[g] != wh {
								t.Fatalf("%s n=%d group=%d: group %d range [%g, %g], want [%g, %g]", p.name, n, group, g, lo[g], hi[g], wl, wh)
							}
						}
					}
				}
			}
		}
	}
}

func math32bits(v []float32) []uint32 {
	out := make([]uint32, len(v))
	for i, x := range v {
		out[i] = math.Float32bits(x)
	}
	return out
}

func TestQuantizeGroups(t *testing.T) {
	r := rand.New(rand.NewPCG(35, 36))
	for _, n := range []int{1, 8, 15, 64, 131} {
		for _, group := range []int{8, 32, 33, n} {
			for _, maxq := range []int{3, 15, 255} {
				ng := (n + group - 1) / group
				w := randVec(r, n)
				sc := make([]float32, ng)
				zs := make([]int32, ng)
				for g := range sc {
					sc[g] = float32(0.01 + r.Float64())
					zs[g] = int32(r.IntN(maxq + 1))
				}
				sc[0] = 1 // so the ties of specials stay ties
				for i := 0; i < n; i += 3 {
					w[i] = specials[r.IntN(len(specials))]
				}
				w[r.IntN(n)] = float32(math.NaN())
				// Reference: pkg/quant's code(), written out.
				want := make([]uint8, n)
				for i, v := range w {
					q := float64(float32(math.RoundToEven(float64(v/sc[i/group]))) + float32(zs[i/group]))
					switch {
					case math.IsNaN(q) || q < 0:
						q = 0
					case q > float64(maxq):
						q = float64(maxq)
					}
					want[i] = uint8(q)
				}
				for _, p := range kernelPaths() {
					off := r.IntN(3)
					buf := make([]uint8, off+n+5)
					for i := range buf {
						buf[i] = 0xa5
					}
					got := buf[off : off+n]
					withPath(p, func() { QuantizeGroups(got, w, sc, zs, group, maxq) })
					if !bytes.Equal(got, want) {
						t.Fatalf("%s n=%d group=%d maxq=%d: codes %v, want %v", p.name, n, group, maxq, got, want)
					}
					for i, b := range buf {
						if (i < off || i >= off+n) && b != 0xa5 {
							t.Fatalf("%s: guard byte %d overwritten", p.name, i)
						}
					}
				}
			}
		}
	}
}

func TestPackCodes(t *testing.T) {
	r := rand.New(rand.NewPCG(37, 38))
	for bits := 2; bits <= 8; bits++ {
		for _, n := range []int{0, 1, 5, 31, 32, 33, 64, 100, 257} {
			codes := make([]uint8, n)
			for i := range codes {
				codes[i] = uint8(r.IntN(1 << bits))
			}
			want := refPackRow(codes, bits)
			for _, p := range kernelPaths() {
				got := make([]byte, QRowBytes(bits, n)+3)
				for i := range got {
					got[i] = 0xa5
				}
				withPath(p, func() { PackCodes(got, codes, bits) })
				if !bytes.Equal(got[:len(want)], want) || !bytes.Equal(got[len(want):], []byte{0xa5, 0xa5, 0xa5}) {
					t.Fatalf("%s int%d n=%d: packed %x, want %x", p.name, bits, n, got, want)
				}
			}
		}
	}
}
