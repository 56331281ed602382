package quant

import (
	"fmt"
	"testing"
)

// ttqGPTQGolden holds the outputs of scripts/golden/ttq/ref_ttq_gptq.py: a
// numpy port of the GPTQ reference (checked there against the torch
// goldens) run on W·D with the Hessian of one prompt's inputs.
type ttqGPTQGolden struct {
	Rows, Cols, Tokens int
	Lambda             float64 `json:"lambda"`
	Damp               float64
	W, X               []float32
	Cases              []struct {
		Bits, Group int
		Alpha       float64
		D           []float64
		WHat        []float32 `json:"w_hat"`
	}
}

// TestGoldenTTQGPTQ: the layer TTQ's GPTQ variant calibrates for the
// prompt (160 inputs, so two lazy batches; 96 tokens, so a Hessian of rank
// below its size that only the damping makes definite; a dead input) is
// the reference's, at α = 0 (plain per-prompt GPTQ) and α = 0.5, grouped
// and per row. Go's Hessian sums float32 products, as gptq's torch code
// does, so a code may flip at a rounding tie.
func TestGoldenTTQGPTQ(t *testing.T) {
	var g ttqGPTQGolden
	readTestJSON(t, "testdata/ttq_gptq.json", &g)
	for _, c := range g.Cases {
		o := DefaultTTQOptions()
		o.Alpha, o.Lambda, o.GPTQ, o.GPTQDamp = c.Alpha, g.Lambda, true, g.Damp
		f := Format{Bits: c.Bits, Group: c.Group, Grid: GridMinMax, Scale: ScaleF32}
		tl, err := NewTTQLinear(denseF32(g.W, g.Rows, g.Cols, nil), f, o)
		if err != nil {
			t.Fatal(err)
		}
		d := tl.Scales(g.X, g.Tokens)
		for i, v := range c.D {
			if e := d[i] - v; e > 1e-9*v || -e > 1e-9*v {
				t.Fatalf("α=%g: D[%d] = %g, reference %g", c.Alpha, i, d[i], v)
			}
		}
		got := effectiveTTQ(t, tl, g.X, g.Tokens)
		compareWeights(t, fmt.Sprintf("%v α=%g", f, c.Alpha), got, c.WHat, 1e-5, 2)
		for r := range g.Rows {
			if got[r*g.Cols+7] != 0 {
				t.Fatalf("α=%g: the dead input's weight in row %d is %g, not 0", c.Alpha, r, got[r*g.Cols+7])
			}
		}
	}
}
