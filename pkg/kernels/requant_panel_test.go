package kernels

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// The panel re-quantization gives its twin's codes, scales and zero points
// bit for bit, from blocks packPanel laid out, for full and ragged panels,
// several batches of four groups, f16 and f32 scales, ties of the rounding
// (codes exactly half-way), constant and outlier rows; a non-finite w·d
// is reported by both.
func TestRequantPanel(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	for _, kc := range []int{128, 256, 384} {
		for _, rows := range []int{16, 11, 1} {
			const stride = 512 // the matrix has more inputs than the block
			w := make([]float32, rows*stride)
			for i := range w {
				w[i] = float32(rng.NormFloat64() * 0.02)
			}
			for c := 0; c < stride; c++ {
				w[c] = 0.25 // row 0 constant
			}
			if rows > 3 {
				w[2*stride+5] = 30
				// Row 3, group 0: 0 and 15 set the scale to 1, so the
				// halves below are rounding ties.
				for c := 0; c < 32; c++ {
					w[3*stride+c] = float32(c%15) + 0.5
				}
				w[3*stride], w[3*stride+1] = 0, 15
			}
			data := NewWeightsF32(rows, stride, w).Data
			panel := make([]float32, kc*nr)
			packPanel(panel, data, 4*stride, rows, kc, ElemF32)
			d := make([]float32, kc)
			for i := range d {
				d[i] = float32(0.5 + rng.Float64())
			}
			if rows > 3 {
				for c := 0; c < 32; c++ {
					d[c] = 1
				}
			}
			const rb, ng = stride / 2, stride / 32
			for _, f16 := range []bool{false, true} {
				what := fmt.Sprintf("kc=%d rows=%d f16=%v", kc, rows, f16)
				wantC, wantS, wantZ := make([]byte, rows*rb), make([]float32, rows*ng), make([]uint8, rows*ng)
				if !requantPanelGeneric(wantC, rb, wantS, wantZ, ng, panel, d, rows, kc, f16) {
					t.Fatalf("%s: twin refused finite weights", what)
				}
				if rows > 3 && !f16 && (wantC[3*rb] != 15<<4 || wantS[3*ng] != 1) {
					t.Fatalf("%s: the tie row came out %x, scale %g", what, wantC[3*rb:3*rb+16], wantS[3*ng])
				}
				for _, p := range kernelPaths() {
					gotC, gotS, gotZ := make([]byte, rows*rb), make([]float32, rows*ng), make([]uint8, rows*ng)
					tmp := make([]byte, requantPanelTmp)
					var ok bool
					withPath(p, func() { ok = requantPanel(gotC, rb, gotS, gotZ, ng, panel, d, rows, kc, f16, tmp) })
					if !ok {
						t.Fatalf("%s %s: refused finite weights", what, p.name)
					}
					if !bytes.Equal(gotC, wantC) || !bytes.Equal(gotZ, wantZ) || !slices.Equal(gotS, wantS) {
						t.Fatalf("%s %s: codes, zero points or scales differ from the twin", what, p.name)
					}
					for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
						pb := slices.Clone(panel)
						pb[(kc-1)*nr+rows-1] = bad
						withPath(p, func() { ok = requantPanel(gotC, rb, gotS, gotZ, ng, pb, d, rows, kc, f16, tmp) })
						if ok || requantPanelGeneric(gotC, rb, gotS, gotZ, ng, pb, d, rows, kc, f16) {
							t.Fatalf("%s %s: %g in the block not reported", what, p.name, bad)
						}
					}
				}
			}
		}
	}
}

// MatMulTRequant's product is MatMulT's bit for bit on each path; the rows it took hold
// requantPanel's output for them, and exactly the row blocks it did not
// take reach redo: the one with a non-finite weight (and no other), every block of a
// three-row product, and all of them on the paths without AVX-512.
func TestMatMulTRequant(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	const n, k = 300, 384 // a ragged last panel; k blocks of 256 and 128
	w := make([]float32, n*k)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.02)
	}
	w[17*k+300] = float32(math.Inf(1))
	bf := make([]byte, 2*len(w))
	FromFloat32(bf, w, ElemBF16)
	wt := Weights{Elem: ElemBF16, Rows: n, Cols: k, Data: bf}
	d := make([]float32, k)
	for i := range d {
		d[i] = float32(0.5 + rng.Float64())
	}
	for _, c := range []struct {
		m, statRows int // statRows < 0: no statistic asked for
		abs         bool
	}{{20, -1, false}, {3, -1, false}, {20, 13, false}, {20, 20, true}, {3, 2, true}} {
		m := c.m
		x := randVec(rng, m*k)
		for _, p := range kernelPaths() {
			want := make([]float32, m*n)
			withPath(p, func() { MatMulT(want, x, m, wt) })
			rq := Requant4G32{Codes: make([]byte, n*k/2), Scales: make([]float32, n*k/32), Zeros: make([]uint8, n*k/32), D: d, F16: true}
			ready := 0
			if c.statRows >= 0 {
				// D is made by Ready: a block re-quantized before it
				// would have codes of D = 0.
				rq.D = make([]float32, k)
				rq.Stat = &ColumnStat{Sums: make([]float64, k), Rows: c.statRows, Abs: c.abs, Ready: func() {
					ready++
					copy(rq.D, d)
				}}
			}
			got := make([]float32, m*n)
			redone := make([]int, n)
			var mu sync.Mutex
			withPath(p, func() {
				MatMulTRequant(got, x, m, wt, rq, func(j0, j1 int) {
					mu.Lock()
					defer mu.Unlock()
					for j := j0; j < j1; j++ {
						redone[j]++
					}
				})
			})
			what := fmt.Sprintf("m=%d stat rows %d %s", m, c.statRows, p.name)
			if !slices.Equal(got, want) {
				t.Fatalf("%s: product differs from MatMulT", what)
			}
			if c.statRows >= 0 {
				sums := make([]float64, k)
				colStatGeneric(sums, x, k, c.statRows, c.abs)
				if ready != 1 || !slices.Equal(rq.Stat.Sums, sums) {
					t.Fatalf("%s: Ready ran %d times; the statistic equals the scalar sum: %v", what, ready, slices.Equal(rq.Stat.Sums, sums))
				}
			}
			panelRuns := p.avx512 && m >= gemmMinRows
			row := make([]float32, k)
			panel := make([]float32, k*nr)
			for j := 0; j < n; j++ {
				if redone[j] > 1 {
					t.Fatalf("%s: row %d redone %d times", what, j, redone[j])
				}
				if !panelRuns || j == 17 {
					if redone[j] != 1 {
						t.Fatalf("%s: row %d not handed to redo", what, j)
					}
					continue
				}
				if redone[j] == 1 {
					// The block of row 17 (its bounds follow the workers'
					// split): at most ncBlock rows, contiguous with 17.
					if j-17 >= ncBlock || 17-j >= ncBlock || redone[(j+17)/2] != 1 {
						t.Fatalf("%s: row %d redone though taken", what, j)
					}
					continue
				}
				wt.Row(row, j)
				clear(panel)
				for c, v := range row {
					panel[c*nr] = v
				}
				c, s, z := make([]byte, k/2), make([]float32, k/32), make([]uint8, k/32)
				for pc := 0; pc < k; pc += 128 {
					requantPanelGeneric(c[pc/2:], 0, s[pc/32:], z[pc/32:], 0, panel[pc*nr:], d[pc:], 1, 128, true)
				}
				if !bytes.Equal(c, rq.Codes[j*k/2:(j+1)*k/2]) || !slices.Equal(s, rq.Scales[j*k/32:(j+1)*k/32]) || !bytes.Equal(z, rq.Zeros[j*k/32:(j+1)*k/32]) {
					t.Fatalf("%s: row %d's codes differ from the twin's", what, j)
				}
			}
		}
	}
}

// MatMulTRequant makes a ColumnStat Ready exactly once, with the scalar
// sums, for products it has no blocks to re-quantize in: no weight rows
// or no inputs.
func TestMatMulTRequantStatReadyWithoutBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 64))
	for _, sh := range []struct{ m, n, k int }{{20, 0, 128}, {20, 5, 0}, {3, 0, 128}} {
		for _, p := range kernelPaths() {
			x := randVec(rng, sh.m*sh.k)
			wt := Weights{Elem: ElemF32, Rows: sh.n, Cols: sh.k, Data: make([]byte, 4*sh.n*sh.k)}
			ready := 0
			st := &ColumnStat{Sums: make([]float64, sh.k), Rows: sh.m, Ready: func() { ready++ }}
			rq := Requant4G32{Codes: make([]byte, sh.n*sh.k/2), Scales: make([]float32, sh.n*sh.k/32), Zeros: make([]uint8, sh.n*sh.k/32),
				D: make([]float32, sh.k), Stat: st}
			dst := make([]float32, sh.m*sh.n)
			withPath(p, func() { MatMulTRequant(dst, x, sh.m, wt, rq, func(int, int) {}) })
			want := make([]float64, sh.k)
			colStatGeneric(want, x, sh.k, sh.m, false)
			if ready != 1 || !slices.Equal(st.Sums, want) {
				t.Fatalf("%v %s: Ready ran %d times; sums equal the scalar ones: %v", sh, p.name, ready, slices.Equal(st.Sums, want))
			}
		}
	}
}
