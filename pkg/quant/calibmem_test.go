package quant

import (
	"testing"

	"github.com/ttqproject/ttq/pkg/model"
)

// The calibration memory estimate on the TinyLlama-1.1B shape, derived by
// hand from the README's accounting (hidden 2048, 32 heads of 64, 4 KV
// heads, intermediate 5632).
func TestCalibrationBytesTinyLlama(t *testing.T) {
	c := model.Config{HiddenSize: 2048, NumHeads: 32, NumKVHeads: 4, HeadDim: 64, IntermediateSize: 5632}
	for _, tc := range []struct {
		method          string
		perToken, fixed int64
	}{
		// Hidden states only: 2048 × 4.
		{"rtn", 8192, 0},
		{"ttq", 8192, 0},
		// + Hessians (3·2048² + 5632²)·8 = 354,418,688 and the float64
		// copy of a 2048 × 5632 matrix, 92,274,688.
		{"gptq", 8192, 446693376},
		// + o_proj's input (2048), down_proj's input (5632) and two
		// reference outputs (2·2048), 4 bytes each; the layer's
		// 44,040,192 weights and gate+up's 23,068,672 trial weights.
		{"awq", 55296, 268435456},
	} {
		p, f := calibrationBytes(tc.method, c)
		if p != tc.perToken || f != tc.fixed {
			t.Errorf("%s: %d per token + %d, want %d + %d", tc.method, p, f, tc.perToken, tc.fixed)
		}
	}
}
