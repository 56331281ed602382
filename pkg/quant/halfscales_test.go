package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/x448/float16"

	"github.com/ttqproject/ttq/pkg/kernels"
)

// An 8-bit layer with f16 scales decodes on their half-precision bits
// (kernels.QWeights.Scales16) to exactly the products of its float32
// scales: the bits save bytes, never change a number. (Which layers hold
// them, and that a loaded layer's equal its scales: TestCheckpointRoundTrip.)
func TestHalfScalesDecodeSame(t *testing.T) {
	const rows, cols = 10, 384
	r := rand.New(rand.NewPCG(3, 4))
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	q, err := Quantize(w, rows, cols, Format{Bits: 8, Group: 32, Grid: GridSym, Scale: ScaleF16})
	if err != nil {
		t.Fatal(err)
	}
	half := *q
	half.scales16 = make([]uint16, len(q.Scales))
	for i, v := range q.Scales {
		half.scales16[i] = float16.Fromfloat32(v).Bits()
	}
	if err := half.kernelWeights().Validate(); err != nil {
		t.Fatal(err)
	}
	old := kernels.SetInt8Activations(true)
	defer kernels.SetInt8Activations(old)
	x := make([]float32, cols)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	a, b := make([]float32, rows), make([]float32, rows)
	q.Forward(a, x, 1)
	half.Forward(b, x, 1)
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("row %d: %g with float32 scales, %g with half precision", i, a[i], b[i])
		}
	}
}
