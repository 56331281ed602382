package quant

import (
	"math"
	"testing"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

// TestLMHeadBits: with LMHeadBits the LM head is the round-to-nearest
// quantization of its own weights (Quantize, the reference RTN), the
// decoder layers are what the method alone gives, and the checkpoint
// stores and restores the quantized head.
func TestLMHeadBits(t *testing.T) {
	for _, bits := range []int{8, 4} {
		plain, withHead := loadDemo(t), loadDemo(t)
		o := mustDefault("rtn")
		o.Format.Group = 32
		head, _ := withHead.Linear(model.Site{Layer: -1, Name: "lm_head"})
		d := head.(*model.Dense)
		w := make([]float32, d.W.Rows*d.W.Cols)
		d.W.RowsTo(w, 0, d.W.Rows)
		apply(t, plain, "rtn", o, nil)
		o.LMHeadBits = bits
		apply(t, withHead, "rtn", o, nil)

		f := o.Format
		f.Bits = bits
		want, err := Quantize(w, d.W.Rows, d.W.Cols, f)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := withHead.LMHead.(*QLinear)
		if !ok {
			t.Fatalf("%d bits: LM head is %T", bits, withHead.LMHead)
		}
		gw, ww := make([]float32, len(w)), make([]float32, len(w))
		got.DequantizeRows(gw, 0, got.Rows)
		want.DequantizeRows(ww, 0, want.Rows)
		for i := range gw {
			if gw[i] != ww[i] {
				t.Fatalf("%d bits: head weight %d = %g, Quantize gives %g", bits, i, gw[i], ww[i])
			}
		}
		if _, ok := plain.LMHead.(*model.Dense); !ok {
			t.Fatalf("without LMHeadBits the head is %T", plain.LMHead)
		}
		for l := range plain.Layers {
			for _, s := range layerSites(l) {
				a, _ := plain.Linear(s)
				b, _ := withHead.Linear(s)
				if !sameQLinear(a.(*QLinear), b.(*QLinear)) {
					t.Fatalf("%d bits: %s differs with the head quantized", bits, s)
				}
			}
		}

		toks := demoTokens(48, 3)
		ref, q := logits(t, plain, toks), logits(t, withHead, toks)
		var maxDiff float64
		for i := range ref {
			maxDiff = max(maxDiff, math.Abs(float64(ref[i]-q[i])))
		}
		if maxDiff == 0 || maxDiff > 2 {
			t.Fatalf("%d bits: quantizing the head moved logits by %g", bits, maxDiff)
		}

		dir := t.TempDir()
		if err := Save(dir, withHead, nil); err != nil {
			t.Fatal(err)
		}
		ck, err := safetensors.OpenCheckpoint(dir)
		if err != nil {
			t.Fatal(err)
		}
		back, _, err := FromCheckpoint(withHead.Config, ck)
		if err != nil {
			t.Fatal(err)
		}
		defer back.Close()
		if _, ok := back.LMHead.(*QLinear); !ok {
			t.Fatalf("%d bits: reloaded head is %T", bits, back.LMHead)
		}
		rb := logits(t, back, toks)
		for i := range rb {
			if rb[i] != q[i] {
				t.Fatalf("%d bits: reloaded logit %d = %g, before saving %g", bits, i, rb[i], q[i])
			}
		}
	}
	if _, err := New("rtn", Options{Format: mustDefault("rtn").Format, LMHeadBits: -1}); err == nil {
		t.Fatal("negative LM head bits accepted")
	}
}

func sameQLinear(a, b *QLinear) bool {
	if a.Rows != b.Rows || a.Cols != b.Cols {
		return false
	}
	x, y := make([]float32, a.Rows*a.Cols), make([]float32, b.Rows*b.Cols)
	a.DequantizeRows(x, 0, a.Rows)
	b.DequantizeRows(y, 0, b.Rows)
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}
