package main

import (
	"math"
	"testing"

	"github.com/ttqproject/ttq/pkg/model"
)

// GPTQ's arithmetic on a shape small enough to count by hand: hidden 2,
// two heads of 1 sharing one KV head (q_dim 2, kv_dim 1), intermediate 4,
// one sequence of one token.
//
//	forward: linears 2·2 + 2·1 + 2·1 + 2·2 + 2·4 + 2·4 + 4·2 = 36, attention 1·½·2·2 = 2 → 38
//	Hessians of d = 2, 2, 2, 4: 3 + 3 + 3 + 10 = 19
//	factorizations d³/3: 8/3·3 + 64/3 = 29⅓
//	updates out·in²/2: 4 + 2 + 2 + 4 + 8 + 8 + 16 = 44
//	(2·38 + 19 + 29⅓ + 44) / 38 = 168⅓ / 38
func TestGPTQArithmeticByHand(t *testing.T) {
	c := model.Config{HiddenSize: 2, NumHeads: 2, NumKVHeads: 1, HeadDim: 1, IntermediateSize: 4}
	want := (2*38 + 19 + 29 + 1.0/3 + 44) / 38
	if got := gptqArithmetic(c, 1, 1); math.Abs(got-want) > 1e-12 {
		t.Fatalf("gptqArithmetic = %.6f, want %.6f", got, want)
	}
}
