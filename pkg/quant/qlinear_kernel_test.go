package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestQLinearKernelPath checks the quantized kernels that Forward uses for
// contiguous groups against the layer's own dequantization and a float64
// product, over every bit width, grid and group geometry (ragged last
// groups included) for decode-sized and prefill-sized batches.
func TestQLinearKernelPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for bits := 2; bits <= 8; bits++ {
		for _, grid := range []Grid{GridMinMax, GridMinMax0, GridSym} {
			for _, group := range []int{32, 64, 128, -1} {
				for _, shape := range [][2]int{{5, 172}, {17, 64}} {
					rows, cols := shape[0], shape[1]
					w := make([]float32, rows*cols)
					for i := range w {
						w[i] = float32(rng.NormFloat64())
					}
					f := Format{Bits: bits, Group: group, Grid: grid, Scale: ScaleF32}
					q, err := Quantize(w, rows, cols, f)
					if err != nil {
						t.Fatal(err)
					}
					q.Bias = make([]float32, rows)
					for i := range q.Bias {
						q.Bias[i] = float32(i) * 0.25
					}
					if bits%2 == 0 {
						q.InScale = make([]float32, cols)
						for i := range q.InScale {
							q.InScale[i] = 0.5 + float32(i%5)*0.3
						}
					}
					if err := q.Validate(); err != nil {
						t.Fatal(err)
					}
					deq := q.Dequantize()
					for _, m := range []int{1, 3, 9} {
						x := make([]float32, m*cols)
						for i := range x {
							x[i] = float32(rng.NormFloat64())
						}
						got := make([]float32, m*rows+1)
						got[m*rows] = 42
						q.Forward(got[:m*rows], x, m)
						if got[m*rows] != 42 {
							t.Fatalf("%v: Forward wrote past its output", f)
						}
						for i := 0; i < m; i++ {
							for r := 0; r < rows; r++ {
								var s, mag float64
								for c := 0; c < cols; c++ {
									xv := float64(x[i*cols+c])
									if q.InScale != nil {
										xv *= float64(q.InScale[c])
									}
									s += xv * float64(deq[r*cols+c])
									mag += math.Abs(xv * float64(deq[r*cols+c]))
								}
								s += float64(q.Bias[r])
								if d := math.Abs(s - float64(got[i*rows+r])); d > 1e-5*mag+1e-5 {
									t.Fatalf("%v %d×%d m=%d: y[%d,%d] = %g, want %g", f, rows, cols, m, i, r, got[i*rows+r], s)
								}
							}
						}
					}
				}
			}
		}
	}
}
