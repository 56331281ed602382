package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/x448/float16"
)

// withI8 runs fn with the int8-activation path set to on.
func withI8(on bool, fn func()) {
	old := SetInt8Activations(on)
	defer SetInt8Activations(old)
	fn()
}

// unpermuteActs recovers x̂ = q·d in natural order from quantizeActs'
// layout, and each input's block scale.
func unpermuteActs(xq []int8, dx []float32) (xh, d []float64) {
	k := len(xq)
	xh, d = make([]float64, k), make([]float64, k)
	for c := 0; c < k; c++ {
		s0, j := c&^63, c%64
		h, jj := j/32, j%32
		q := xq[s0+(jj&1)*32+16*h+jj/2]
		d[c] = float64(dx[s0/8+4*h])
		xh[c] = float64(q) * d[c]
	}
	return xh, d
}

func TestQuantizeActs(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, k := range []int{64, 128, 448} {
		for _, group := range []int{32, 64, 128, k} {
			x := randVec(r, k)
			// A block of zeros, a block with one outlier, tiny values.
			clear(x[32:64])
			if k > 64 {
				x[70] = 1000
				for c := 96; c < 128; c++ {
					x[c] *= 1e-30
				}
			}
			ng := (k + group - 1) / group
			xq, dx, xsum := make([]int8, k), make([]float32, k/8), make([]float32, ng)
			quantizeActs(xq, dx, xsum, x, group)
			xh, d := unpermuteActs(xq, dx)
			want := make([]float64, ng)
			for c := 0; c < k; c++ {
				b := x[c&^31 : c&^31+32]
				var amax float64
				for _, v := range b {
					amax = max(amax, math.Abs(float64(v)))
				}
				if math.Abs(d[c]-amax/127) > 1e-6*amax/127 {
					t.Fatalf("k=%d: block scale of %d = %g, want max|x|/127 = %g", k, c, d[c], amax/127)
				}
				if e := math.Abs(float64(x[c]) - xh[c]); e > 0.5*d[c]*(1+1e-5) {
					t.Fatalf("k=%d: x[%d] = %g rounds to %g, error %g > d/2 = %g", k, c, x[c], xh[c], e, d[c]/2)
				}
				want[c/group] += xh[c]
			}
			for g := range want {
				if math.Abs(float64(xsum[g])-want[g]) > 1e-5*math.Abs(want[g])+1e-6 {
					t.Fatalf("k=%d group=%d: xsum[%d] = %g, want %g", k, group, g, xsum[g], want[g])
				}
			}
		}
	}
	// A non-finite block poisons its scale, so the product is NaN.
	x := make([]float32, 64)
	x[40] = float32(math.Inf(1))
	xq, dx, xsum := make([]int8, 64), make([]float32, 8), make([]float32, 1)
	quantizeActs(xq, dx, xsum, x, 64)
	if !math.IsNaN(float64(dx[4])) || math.IsNaN(float64(dx[0])) || !math.IsNaN(float64(xsum[0])) {
		t.Fatalf("infinite input: dx = %v, xsum = %v; want NaN for the second block only", dx, xsum)
	}
}

func TestQGemvQuadI8Paths(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no assembly kernels in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(23, 24))
	for _, steps := range []int{1, 2, 3, 8, 9} {
		k := steps * 64
		for _, group := range []int{32, 64, 128, 192, k} {
			if group > k && group != 32 {
				continue
			}
			ng := (k + group - 1) / group
			for _, nx := range []int{0, 8, 16} {
				for _, strided := range []bool{true, false} {
					woff := r.IntN(5)
					rb := k/2 + r.IntN(3)
					w := make([]byte, woff+4*rb)
					for i := range w {
						w[i] = byte(r.Uint32())
					}
					w = w[woff:]
					ss, zs := max(ng, nx)+r.IntN(2), max(ng, nx)
					s := randVec(r, 4*ss)
					z := make([]byte, 4*zs)
					for i := range z {
						z[i] = byte(r.IntN(16))
					}
					ws, sst, zst := rb, ss, zs
					if !strided {
						ws, sst, zst = 0, 0, 0
					}
					xq := make([]int8, k)
					for i := range xq {
						xq[i] = int8(r.IntN(255) - 127)
					}
					xq[r.IntN(k)] = 127
					xq[r.IntN(k)] = -127
					dx := make([]float32, k/8)
					for i := 0; i < k/8; i += 4 {
						v := float32(r.Float64() * 0.01)
						dx[i], dx[i+1], dx[i+2], dx[i+3] = v, v, v, v
					}
					xsum := randVec(r, nx)
					var want, got [4]float32
					qgemvQuad4I8Generic(want[:], xq, dx, xsum, w, ws, s, sst, z, zst, group)
					withPath(kernelPath{"avx2", true, false}, func() {
						qgemvQuadI8(got[:], xq, dx, xsum, w, ws, s, sst, z, zst, group)
					})
					for row := range got {
						var mag float64
						for c := 0; c < k; c++ {
							mag += 15 * 127 * math.Abs(float64(dx[c/8])*float64(s[row*sst+c/group]))
						}
						for g, v := range xsum {
							mag += math.Abs(float64(v) * float64(s[row*sst+g]) * float64(z[row*zst+g]))
						}
						if math.Abs(float64(got[row]-want[row])) > 2*sumTol(mag) {
							t.Fatalf("k=%d group=%d xsum=%d strided=%v: row %d = %g, twin %g", k, group, nx, strided, row, got[row], want[row])
						}
					}
				}
			}
		}
	}
}

// i8Bound is the documented error bound of the int8 path for one output:
// Σ_c |Ŵ[c]|·d_b(c)/2 over the scaled activations, with a margin for the
// float32 rounding of x·(127/max), plus the float32 summation error.
func i8Bound(x []float32, row int, c qCase, mag float64) float64 {
	w := c.w
	k, g, ng := w.Cols, w.GroupSize(), w.NumGroups()
	xs := slices.Clone(x)
	if w.InScale != nil {
		for i := range xs {
			xs[i] *= w.InScale[i]
		}
	}
	var bound float64
	for b0 := 0; b0 < k; b0 += 32 {
		var amax float64
		for _, v := range xs[b0 : b0+32] {
			amax = max(amax, math.Abs(float64(v)))
		}
		for col := b0; col < b0+32; col++ {
			gi := col / g
			z := float64(symZero(w.Bits))
			if w.Zeros != nil {
				z = float64(w.Zeros[row*ng+gi])
			}
			wh := (float64(c.codes[row*k+col]) - z) * float64(w.Scales[row*ng+gi])
			bound += math.Abs(wh) * amax / 127 / 2 * (1 + 1e-5)
		}
	}
	return bound + 4*sumTol(mag)
}

func TestQMatMulTInt8(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	for _, p := range kernelPaths() {
		for _, k := range []int{64, 192, 512} {
			for _, group := range []int{32, 64, 128, -1} {
				for _, sym := range []bool{false, true} {
					m, n := 1+r.IntN(7), 1+r.IntN(13)
					bits := []int{4, 8}[r.IntN(2)]
					c := randQCase(r, bits, group, n, k, sym, r.IntN(2) == 0)
					x := randVec(r, m*k)
					want, mag := refQMatMulT(x, m, c)
					dst, check := guarded(t, m*n, r.IntN(3))
					withPath(p, func() { withI8(true, func() { QMatMulT(dst, x, m, c.w) }) })
					check(p.name)
					for i, v := range dst {
						b := i8Bound(x[i/n*k:(i/n+1)*k], i%n, c, mag[i])
						if e := math.Abs(float64(v) - want[i]); e > b {
							t.Fatalf("%s %d-bit k=%d g%d sym=%v: dst[%d] = %g, want %g ± %g (error %g)", p.name, bits, k, group, sym, i, v, want[i], b, e)
						}
					}
				}
			}
		}
	}
	// Shapes the path does not serve run the float kernels unchanged.
	for _, s := range []struct{ bits, group, k int }{{4, 16, 128}, {4, 32, 96}, {3, 64, 128}, {8, 16, 128}, {8, 32, 96}} {
		c := randQCase(r, s.bits, s.group, 5, s.k, false, false)
		x := randVec(r, 2*s.k)
		a, b := make([]float32, 10), make([]float32, 10)
		QMatMulT(a, x, 2, c.w)
		withI8(true, func() { QMatMulT(b, x, 2, c.w) })
		if !slices.Equal(a, b) {
			t.Fatalf("int%d g%d k=%d: int8 setting changed a shape it does not serve", s.bits, s.group, s.k)
		}
	}
}

// FuzzQDotI8 holds the int8-activation product to the float64 product of
// the dequantized weights within its documented bound, on every path.
func FuzzQDotI8(f *testing.F) {
	f.Add(uint8(0), uint8(1), uint8(1), uint8(4), uint8(0), uint64(1))
	f.Add(uint8(1), uint8(2), uint8(3), uint8(5), uint8(1), uint64(2))
	f.Add(uint8(2), uint8(8), uint8(7), uint8(9), uint8(2), uint64(3))
	f.Add(uint8(3), uint8(5), uint8(2), uint8(16), uint8(3), uint64(4))
	f.Add(uint8(0), uint8(3), uint8(1), uint8(6), uint8(4), uint64(5))
	f.Add(uint8(2), uint8(9), uint8(2), uint8(11), uint8(7), uint64(6))
	f.Fuzz(func(t *testing.T, g8, steps8, m8, n8, flags uint8, seed uint64) {
		group := []int{32, 64, 128, -1}[g8%4]
		k, m, n := 64*(1+int(steps8%12)), 1+int(m8%7), int(n8%20)
		r := rand.New(rand.NewPCG(seed, uint64(k*m*n)))
		bits := 4
		if flags&4 != 0 {
			bits = 8
		}
		c := randQCase(r, bits, group, n, k, flags&1 != 0, flags&2 != 0)
		x := randVec(r, m*k)
		want, mag := refQMatMulT(x, m, c)
		for _, p := range kernelPaths() {
			dst, check := guarded(t, m*n, int(seed%3))
			withPath(p, func() { withI8(true, func() { QMatMulT(dst, x, m, c.w) }) })
			check(p.name)
			for i, v := range dst {
				if e := math.Abs(float64(v) - want[i]); e > i8Bound(x[i/n*k:(i/n+1)*k], i%n, c, mag[i]) {
					t.Fatalf("%s g%d m=%d n=%d k=%d: dst[%d] = %g, want %g", p.name, group, m, n, k, i, v, want[i])
				}
			}
		}
	})
}

// The AVX-512 VNNI row kernel against its twins — for 4-bit codes row 0 of
// the four-row generic kernel on each row, for 8-bit codes (with VBMI)
// qgemvRow8I8Generic — over step counts, group sizes, zero-point sums, row
// counts and strides, codes and zero points across their whole range; and
// the 8-bit twin, which no other test covers, against the plain float64
// sum Σ_g s·Σ_c code·q·d − Σ_g s·z·xsum.
func TestQGemvRowsI8Paths(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	for _, bits := range []int{4, 8} {
		kernel := hasVNNI512 && (bits == 4 || hasVBMI512)
		if !kernel && bits == 4 {
			continue // the 4-bit twin has its own tests
		}
		maxCode := 1<<bits - 1
		for _, steps := range []int{1, 2, 3, 8, 9, 32} {
			k := steps * 64
			for _, group := range []int{32, 64, 128, 192, k} {
				if k%group != 0 && group != 32 {
					continue
				}
				ng := (k + group - 1) / group
				for _, nx := range []int{0, 8, 16, 24, ng &^ 7} { // the correction by sixteen groups and a last eight
					if nx > ng {
						continue
					}
					rows := 1 + r.IntN(5)
					rb, ss, zs := k*bits/8+r.IntN(3), ng+r.IntN(2), ng+r.IntN(2)
					woff := r.IntN(5)
					w := make([]byte, woff+rows*rb)
					for i := range w {
						w[i] = byte(r.Uint32())
					}
					w = w[woff:]
					w[r.IntN(len(w))] = 255
					s := randVec(r, rows*ss)
					z := make([]byte, rows*zs)
					for i := range z {
						z[i] = byte(r.IntN(maxCode + 1))
					}
					xq := make([]int8, k)
					for i := range xq {
						xq[i] = int8(r.IntN(255) - 127)
					}
					xq[r.IntN(k)], xq[r.IntN(k)] = 127, -127
					dx := make([]float32, k/8)
					for i := 0; i < k/8; i += 4 {
						v := float32(r.Float64() * 0.01)
						dx[i], dx[i+1], dx[i+2], dx[i+3] = v, v, v, v
					}
					xsum := randVec(r, nx)
					var got []float32
					if kernel {
						var check func(string)
						got, check = guarded(t, rows, r.IntN(3))
						withPath(kernelPath{"avx2+avx512", true, true}, func() {
							qgemvRowsI8(got, xq, dx, xsum, w, rb, s, nil, ss, z, zs, group, bits)
						})
						check("avx2+avx512")
					}
					xh, _ := unpermuteActs(xq, dx)
					for row := 0; row < rows; row++ {
						var mag float64
						for c := 0; c < k; c++ {
							mag += float64(maxCode) * 127 * math.Abs(float64(dx[c/8])*float64(s[row*ss+c/group]))
						}
						for g, v := range xsum {
							mag += math.Abs(float64(v) * float64(s[row*ss+g]) * float64(z[row*zs+g]))
						}
						var twin float32
						if bits == 4 {
							var out [4]float32
							qgemvQuad4I8Generic(out[:], xq, dx, xsum, w[row*rb:], 0, s[row*ss:], 0, z[row*zs:], 0, group)
							twin = out[0]
						} else {
							twin = qgemvRow8I8Generic(xq, dx, xsum, w[row*rb:], s[row*ss:], z[row*zs:], group)
							var want float64
							for c := 0; c < k; c++ {
								want += float64(s[row*ss+c/group]) * float64(w[row*rb+c]) * xh[c]
							}
							for g, v := range xsum {
								want -= float64(s[row*ss+g]) * float64(z[row*zs+g]) * float64(v)
							}
							if math.Abs(float64(twin)-want) > sumTol(mag) {
								t.Fatalf("k=%d group=%d: 8-bit twin row %d = %g, float64 sum %g", k, group, row, twin, want)
							}
						}
						if got != nil && math.Abs(float64(got[row]-twin)) > 2*sumTol(mag) {
							t.Fatalf("%d-bit k=%d group=%d xsum=%d: row %d = %g, twin %g", bits, k, group, nx, row, got[row], twin)
						}
					}
				}
			}
		}
	}
}

// The AVX-512 activation quantizer against its twin, bit for bit: random
// blocks, a block of zeros, ties at x·id = n + 0.5, signed zeros, tiny
// values, and blocks holding +Inf, −Inf or NaN (d = NaN, codes 0).
func TestQuantizeActsPaths(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512 kernels in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(29, 30))
	same := func(a, b float32) bool { return a == b || (a != a && b != b) }
	for _, k := range []int{64, 128, 640} {
		for trial := 0; trial < 20; trial++ {
			x := randVec(r, k)
			switch trial % 5 {
			case 1:
				clear(x[:32])
			case 2:
				// amax = 127 makes id = 1: exact ties.
				x[0], x[1], x[2], x[3], x[4] = 127, 2.5, -3.5, 0.5, float32(math.Copysign(0, -1))
			case 3:
				x[r.IntN(k)] = float32(math.Inf(1 - 2*r.IntN(2)))
				for c := 32; c < 64; c++ {
					x[c] *= 1e-38
				}
			case 4:
				x[r.IntN(k)] = float32(math.NaN())
			}
			nb := k / 32
			wq, gq := make([]int8, k), make([]int8, k)
			wdx, gdx := make([]float32, k/8), make([]float32, k/8)
			wb, gb := make([]float32, nb), make([]float32, nb)
			quantizeActsGeneric(wq, wdx, wb, x)
			quantizeActsAVX512(gq, gdx, gb, x)
			if !slices.Equal(wq, gq) {
				t.Fatalf("k=%d trial %d: codes differ", k, trial)
			}
			for i := range wdx {
				if !same(wdx[i], gdx[i]) {
					t.Fatalf("k=%d trial %d: dx[%d] = %g, twin %g", k, trial, i, gdx[i], wdx[i])
				}
			}
			for i := range wb {
				if !same(wb[i], gb[i]) {
					t.Fatalf("k=%d trial %d: bsum[%d] = %g, twin %g", k, trial, i, gb[i], wb[i])
				}
			}
		}
	}
}

// Where qgemvRowsI8 takes rows two at a time (pairsI8Apply), each row is
// exactly what the one-row kernel gives it alone (which
// TestQGemvRowsI8Paths holds to a float64 reference), for even and odd row
// counts, strides and corrections of every kind: the pair kernel sums each
// row in the same order, so any difference is a wrong pointer or lane.
func TestQGemvPairsI8MatchesRows(t *testing.T) {
	if !pairsI8Apply(256, 32, 4) || !pairsI8Apply(256, 128, 4) {
		t.Skip("no AVX-512 VNNI")
	}
	r := rand.New(rand.NewPCG(41, 42))
	for _, c := range [][3]int{{256, 32, 4}, {512, 32, 4}, {2048, 32, 4}, {5632, 32, 4}, {256, 128, 4}, {1024, 128, 4}, {2048, 128, 4}, {5632, 128, 4},
		{128, 32, 8}, {384, 32, 8}, {2048, 32, 8}, {5632, 32, 8}} {
		k, group, bits := c[0], c[1], c[2]
		if !pairsI8Apply(k, group, bits) {
			continue // 8-bit codes need AVX-512 VBMI as well
		}
		ng := k / group
		for _, nx := range []int{0, 8, ng&^7 - 8, ng &^ 7} {
			if nx < 0 || nx > ng {
				continue
			}
			for _, sym := range []bool{false, true} {
				rows := 2 + r.IntN(11) // odd counts end on one row alone
				rb, ss, zs := k*bits/8+r.IntN(3), ng+r.IntN(2), ng+r.IntN(2)
				if sym {
					zs = 0 // one shared row of zero points, as symmetric grids pass
				}
				w := make([]byte, rows*rb)
				for i := range w {
					w[i] = byte(r.Uint32())
				}
				s := randVec(r, rows*ss)
				z := make([]byte, max(rows*zs, ng))
				for i := range z {
					z[i] = byte(r.IntN(1 << bits))
				}
				xq := make([]int8, k)
				for i := range xq {
					xq[i] = int8(r.IntN(255) - 127)
				}
				dx := make([]float32, k/8)
				for i := 0; i < k/8; i += 4 {
					v := float32(r.Float64() * 0.01)
					dx[i], dx[i+1], dx[i+2], dx[i+3] = v, v, v, v
				}
				xsum := randVec(r, nx)
				var s16 []uint16
				if bits == 8 && r.IntN(2) == 0 {
					// Half-precision scales: the paired kernel reads them,
					// the one-row kernel their float32 values.
					s16 = make([]uint16, len(s))
					for i, v := range s {
						h := float16.Fromfloat32(v)
						s16[i], s[i] = h.Bits(), h.Float32()
					}
				}
				want := make([]float32, rows)
				for i := range want { // one row a call: never paired
					qgemvRowsI8(want[i:i+1], xq, dx, xsum, w[i*rb:], rb, s[i*ss:], nil, ss, z[i*zs:], zs, group, bits)
				}
				got, check := guarded(t, rows, r.IntN(3))
				qgemvRowsI8(got, xq, dx, xsum, w, rb, s, s16, ss, z, zs, group, bits)
				check("pairs")
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%d-bit k=%d g%d rows=%d nx=%d sym=%v half=%v: row %d is %g, the one-row kernel's %g", bits, k, group, rows, nx, sym, s16 != nil, i, got[i], want[i])
					}
				}
			}
		}
	}
}
