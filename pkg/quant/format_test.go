package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Like ggml's static_assert on block sizes: every table row fills its
// block exactly and fits one uint64.
func TestPackingTable(t *testing.T) {
	for b := 2; b <= 8; b++ {
		p := packings[b]
		if p.Bits != b || p.BlockBytes*8 != p.ValuesPerBlock*p.Bits || p.BlockBytes > 8 {
			t.Errorf("packing for %d bits is %+v", b, p)
		}
	}
}

func TestPackRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for b := 2; b <= 8; b++ {
		f := Format{Bits: b, Group: -1, Grid: GridMinMax, Scale: ScaleF32}
		for n := 0; n <= 41; n++ {
			codes := make([]uint8, n)
			for i := range codes {
				codes[i] = uint8(rng.IntN(1 << b))
			}
			rb := f.RowBytes(n)
			buf := make([]byte, rb+3)
			for i := range buf {
				buf[i] = 0xA5
			}
			packRow(buf[:rb], codes, b)
			if buf[rb] != 0xA5 || buf[rb+1] != 0xA5 {
				t.Fatalf("%d bits, n=%d: packRow wrote past its %d bytes", b, n, rb)
			}
			got := make([]uint8, n)
			unpackRow(got, buf, b)
			for i := range codes {
				if got[i] != codes[i] {
					t.Fatalf("%d bits, n=%d: code %d = %d after round trip, want %d", b, n, i, got[i], codes[i])
				}
			}
		}
	}
}

// The layout is pinned: 4-bit codes low nibble first, 3-bit codes as a
// little-endian bit stream of 8 codes per 3 bytes.
func TestPackLayout(t *testing.T) {
	b := make([]byte, 1)
	packRow(b, []uint8{0x3, 0xC}, 4)
	if b[0] != 0xC3 {
		t.Errorf("4-bit pack = %#x, want 0xc3", b[0])
	}
	b = make([]byte, 3)
	packRow(b, []uint8{1, 2, 3, 4, 5, 6, 7, 0}, 3)
	// bits: 001 010 011 100 101 110 111 000 from the lowest bit up.
	var acc uint32
	for j, v := range []uint32{1, 2, 3, 4, 5, 6, 7, 0} {
		acc |= v << (3 * j)
	}
	if b[0] != byte(acc) || b[1] != byte(acc>>8) || b[2] != byte(acc>>16) {
		t.Errorf("3-bit pack = % x, want % x", b, []byte{byte(acc), byte(acc >> 8), byte(acc >> 16)})
	}
}

func TestFormatStringRoundTrip(t *testing.T) {
	for _, f := range []Format{
		{4, 128, GridMinMax, ScaleF16}, {3, -1, GridMinMax0, ScaleF32}, {8, 32, GridSym, ScaleF16}, {2, 64, GridMinMax, ScaleF32},
	} {
		g, err := ParseFormat(f.String())
		if err != nil || g != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f.String(), g, err)
		}
	}
	for _, s := range []string{"", "int4", "int9-g128-minmax-f32", "int4-g0-minmax-f32", "int4-g128-foo-f32", "int4-g128-minmax-f8", "q4-g1-minmax-f32"} {
		if _, err := ParseFormat(s); err == nil {
			t.Errorf("ParseFormat(%q) accepted", s)
		}
	}
}

func TestEffectiveBits(t *testing.T) {
	// 4-bit g128, f16 scales, 4-bit zeros: 4 + (16 + 4)/128.
	f := Format{Bits: 4, Group: 128, Grid: GridMinMax, Scale: ScaleF16}
	if got, want := f.EffectiveBits(256, 4096), 4+20.0/128; math.Abs(got-want) > 1e-12 {
		t.Errorf("effective bits %g, want %g", got, want)
	}
	// Symmetric per-row 8-bit with f32 scales: 8 + 32/cols.
	f = Format{Bits: 8, Group: -1, Grid: GridSym, Scale: ScaleF32}
	if got, want := f.EffectiveBits(10, 64), 8+32.0/64; math.Abs(got-want) > 1e-12 {
		t.Errorf("effective bits %g, want %g", got, want)
	}
	// Ragged: 172 inputs at g32 → 6 groups (5 full + 12), 3-bit rows padded
	// to 22 blocks of 3 bytes.
	f = Format{Bits: 3, Group: 32, Grid: GridMinMax, Scale: ScaleF16}
	if f.NumGroups(172) != 6 || !f.Ragged(172) || f.RowBytes(172) != 66 {
		t.Errorf("ragged geometry: %d groups, %d row bytes", f.NumGroups(172), f.RowBytes(172))
	}
}

// Hand-derived RTN examples (2 bits, maxq = 3, one group of 4), chosen so
// that the scales are exact and round-half-to-even matters.
func TestRTNHandExamples(t *testing.T) {
	cases := []struct {
		grid  Grid
		w     []float32
		codes []uint8
		deq   []float32
	}{
		// minmax: range [−0.5, 1] → scale 0.5, zero −round(−1) = 1;
		// 0.75/0.5 = 1.5 → 2, 0.25/0.5 = 0.5 → 0 (half-away would give 1).
		{GridMinMax, []float32{-0.5, 1.0, 0.75, 0.25}, []uint8{0, 3, 3, 1}, []float32{-0.5, 1, 1, 0}},
		// minmax on an all-positive group: range [1, 4] → scale 1, zero
		// clamp(−1) = 0, so 4 rounds to 4 and is clipped to 3 (AWQ's
		// convention loses the top of such groups); 2.5 → 2 (even).
		{GridMinMax, []float32{1, 2.5, 4, 2}, []uint8{1, 2, 3, 2}, []float32{1, 2, 3, 2}},
		// minmax0: the range is widened to include 0: [0, 3] → scale 1,
		// zero 0; 2.5 → 2 and 0.5 → 0 (half to even).
		{GridMinMax0, []float32{1, 2.5, 3, 0.5}, []uint8{1, 2, 3, 0}, []float32{1, 2, 3, 0}},
		// sym: xmax = 1.5, range [−1.5, 1.5] → scale 1, zero (3+1)/2 = 2;
		// −1.5 → −2 + 2 = 0, 1.5 → 2 + 2 = 4 → clipped to 3.
		{GridSym, []float32{-1.5, 0.75, 0.5, 1.5}, []uint8{0, 3, 2, 3}, []float32{-2, 1, 0, 1}},
		// An all-zero group: minmax0 uses the range [−1, 1].
		{GridMinMax0, []float32{0, 0, 0, 0}, []uint8{2, 2, 2, 2}, []float32{0, 0, 0, 0}},
	}
	for _, c := range cases {
		f := Format{Bits: 2, Group: 4, Grid: c.grid, Scale: ScaleF32}
		q, err := Quantize(c.w, 1, 4, f)
		if err != nil {
			t.Fatal(err)
		}
		codes := make([]uint8, 4)
		q.Codes(codes, 0)
		deq := q.Dequantize()
		for i := range c.w {
			if codes[i] != c.codes[i] || deq[i] != c.deq[i] {
				t.Errorf("%v %v: codes %v ŵ %v, want %v %v", c.grid, c.w, codes, deq, c.codes, c.deq)
				break
			}
		}
	}
}

// Round-trip error bound on ggml's test signal 0.1 + 2cos(i + off): every
// group crosses zero, so minmax and minmax0 err by at most half a step and
// sym (whose top code is clipped) by at most one step; the RMSE shrinks
// with every added bit.
func TestQuantizeErrorBound(t *testing.T) {
	rows, cols := 8, 172
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(0.1 + 2*math.Cos(float64(i)+0.3))
	}
	for _, grid := range []Grid{GridMinMax, GridMinMax0, GridSym} {
		for _, group := range []int{32, 64, 128, -1} {
			for _, st := range []ScaleType{ScaleF32, ScaleF16} {
				prev := math.Inf(1)
				for bits := 2; bits <= 8; bits++ {
					f := Format{Bits: bits, Group: group, Grid: grid, Scale: st}
					q, err := Quantize(w, rows, cols, f)
					if err != nil {
						t.Fatal(err)
					}
					if err := q.Validate(); err != nil {
						t.Fatal(err)
					}
					deq := q.Dequantize()
					ng, g := f.NumGroups(cols), f.GroupSize(cols)
					var se float64
					for r := 0; r < rows; r++ {
						for c := 0; c < cols; c++ {
							s := float64(q.Scales[r*ng+c/g])
							e := math.Abs(float64(w[r*cols+c] - deq[r*cols+c]))
							bound := s/2 + 1e-6
							if grid == GridSym {
								bound = s + 1e-6
							}
							if st == ScaleF16 {
								// The f16 scale is off by ≤ 2⁻¹¹ relative, which
								// moves the grid by up to maxq such steps.
								bound += s * float64(f.MaxQ()) / 2048
							}
							if e > bound {
								t.Fatalf("%v: |w − ŵ| = %g at [%d,%d], bound %g", f, e, r, c, bound)
							}
							se += e * e
						}
					}
					rmse := math.Sqrt(se / float64(len(w)))
					if rmse >= prev {
						t.Errorf("%v: RMSE %g not below %d bits' %g", f, rmse, bits-1, prev)
					}
					prev = rmse
				}
			}
		}
	}
}

// QLinear.Forward equals x·Ŵᵀ (+ bias) computed naively, with and
// without input scales and g_idx, across the panel boundary.
func TestQLinearForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, shape := range [][2]int{{7, 172}, {33, 64}, {panelBytes/4/64 + 5, 64}} {
		rows, cols := shape[0], shape[1]
		w := make([]float32, rows*cols)
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		f := Format{Bits: 4, Group: 32, Grid: GridMinMax, Scale: ScaleF16}
		q, err := Quantize(w, rows, cols, f)
		if err != nil {
			t.Fatal(err)
		}
		q.Bias = make([]float32, rows)
		q.InScale = make([]float32, cols)
		q.GIdx = make([]int32, cols)
		for i := range q.Bias {
			q.Bias[i] = float32(i)
		}
		for i := range q.InScale {
			q.InScale[i] = 0.5 + float32(i%3)
			q.GIdx[i] = int32((cols - 1 - i) / 32 % f.NumGroups(cols))
		}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		deq := q.Dequantize()
		n := 3
		x := make([]float32, n*cols)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		got := make([]float32, n*rows)
		q.Forward(got, x, n)
		for i := 0; i < n; i++ {
			for r := 0; r < rows; r++ {
				var s float64
				for c := 0; c < cols; c++ {
					s += float64(x[i*cols+c]*q.InScale[c]) * float64(deq[r*cols+c])
				}
				s += float64(q.Bias[r])
				if math.Abs(s-float64(got[i*rows+r])) > 1e-3*(1+math.Abs(s)) {
					t.Fatalf("%d×%d: y[%d,%d] = %g, want %g", rows, cols, i, r, got[i*rows+r], s)
				}
			}
		}
	}
}

func TestQLinearValidateRejects(t *testing.T) {
	f := Format{Bits: 4, Group: 32, Grid: GridMinMax, Scale: ScaleF32}
	good := func() *QLinear { return NewQLinear(f, 4, 64) }
	bad := []func(q *QLinear){
		func(q *QLinear) { q.Q = q.Q[:len(q.Q)-1] },
		func(q *QLinear) { q.Scales = q.Scales[1:] },
		func(q *QLinear) { q.Zeros = nil },
		func(q *QLinear) { q.Zeros[0] = 16 },
		func(q *QLinear) { q.GIdx = make([]int32, 64); q.GIdx[3] = 2 },
		func(q *QLinear) { q.InScale = make([]float32, 3) },
		func(q *QLinear) { q.Bias = make([]float32, 5) },
	}
	if err := good().Validate(); err != nil {
		t.Fatal(err)
	}
	for i, b := range bad {
		q := good()
		b(q)
		if q.Validate() == nil {
			t.Errorf("case %d accepted", i)
		}
	}
}
