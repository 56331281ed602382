package quant

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The kernel path of quantizeRow (vector ranges and rounding) gives the
// scalar path's codes, scales and zero points bit for bit, on every grid,
// width and group, with and without TTQ's per-input scaling.
func TestQuantizeRowKernelsMatchScalar(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, grid := range []Grid{GridMinMax, GridMinMax0, GridSym} {
		for _, bits := range []int{2, 3, 4, 8} {
			for _, group := range []int{-1, 16, 32, 100, 128} {
				for _, cols := range []int{1, 7, 64, 300} {
					for _, scale := range []ScaleType{ScaleF32, ScaleF16} {
						f := Format{Bits: bits, Group: group, Grid: grid, Scale: scale}
						w := make([]float32, cols)
						for i := range w {
							w[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(5)-2)))
						}
						if cols > 5 {
							w[3], w[5] = 0, float32(math.Copysign(0, -1))
						}
						var d []float32
						if r.IntN(2) == 0 {
							d = make([]float32, cols)
							for i := range d {
								d[i] = float32(0.1 + 3*r.Float64())
							}
						}
						ng := f.NumGroups(cols)
						want := slices.Clone(w)
						if d != nil {
							for i := range want {
								want[i] *= d[i]
							}
						}
						wc, ws, wz := make([]uint8, cols), make([]float32, ng), make([]int32, ng)
						quantizeRowScalar(wc, ws, wz, want, f)
						gc, gs, gz := make([]uint8, cols), make([]float32, ng), make([]int32, ng)
						quantizeRowScaled(gc, gs, gz, w, d, f)
						if !slices.Equal(gc, wc) || !slices.Equal(gs, ws) || !slices.Equal(gz, wz) {
							t.Fatalf("%v cols=%d scaled=%v: kernels %v %v %v, scalar %v %v %v", f, cols, d != nil, gc, gs, gz, wc, ws, wz)
						}
					}
				}
			}
		}
	}
}
