package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randomLayer is a rows×cols weight and a tokens×cols prompt with
// correlated channels (x = z·M), a few of them 8× larger.
func randomLayer(seed uint64, rows, cols, tokens int) (w, x []float32) {
	rng := rand.New(rand.NewPCG(seed, 11))
	w = make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.05)
	}
	mix := make([]float64, cols*cols)
	for i := range mix {
		mix[i] = rng.NormFloat64() / math.Sqrt(float64(cols))
	}
	x = make([]float32, tokens*cols)
	z := make([]float64, cols)
	for t := range tokens {
		for i := range z {
			z[i] = rng.NormFloat64()
		}
		for j := range cols {
			var s float64
			for i := range cols {
				s += z[i] * mix[i*cols+j]
			}
			if j%13 == 5 {
				s *= 8
			}
			x[t*cols+j] = float32(s)
		}
	}
	return w, x
}

// promptErr is ‖X(W − Ŵ)ᵀ‖² of the layer TTQ calibrates for x.
func promptErr(t *testing.T, w, x []float32, rows, cols, tokens int, f Format, o TTQOptions) float64 {
	t.Helper()
	tl, err := NewTTQLinear(denseF32(w, rows, cols, nil), f, o)
	if err != nil {
		t.Fatal(err)
	}
	return outputSqErr(x, tokens, w, effectiveTTQ(t, tl, x, tokens), rows, cols)
}

// Per-prompt GPTQ lowers the prompt's own output error against rounding to
// nearest, with and without D; at α = 0 it is the static routine run on
// H = 2XᵀX, code for code.
func TestTTQGPTQ(t *testing.T) {
	rows, cols, tokens := 48, 96, 200
	w, x := randomLayer(1, rows, cols, tokens)
	f := Format{Bits: 3, Group: 32, Grid: GridMinMax, Scale: ScaleF32}
	for _, alpha := range []float64{0, 0.5} {
		o := DefaultTTQOptions()
		o.Alpha = alpha
		rtn := promptErr(t, w, x, rows, cols, tokens, f, o)
		o.GPTQ = true
		gp := promptErr(t, w, x, rows, cols, tokens, f, o)
		t.Logf("α=%g: prompt output error RTN %.4g, GPTQ %.4g", alpha, rtn, gp)
		if !(gp < 0.8*rtn) {
			t.Errorf("α=%g: GPTQ's error %g not below RTN's %g", alpha, gp, rtn)
		}
	}
	o := DefaultTTQOptions()
	o.Alpha, o.GPTQ, o.Window = 0, true, 150
	tl, err := NewTTQLinear(denseF32(w, rows, cols, nil), f, o)
	if err != nil {
		t.Fatal(err)
	}
	got := tl.Calibrate(x, tokens)
	h := testHessian(cols)
	h.add(x[:150*cols], 150)
	h.n = 1
	want, err := GPTQQuantize(w, rows, cols, h.matrix(), f, DefaultGPTQOptions())
	if err != nil {
		t.Fatal(err)
	}
	a, b := got.Dequantize(), want.Dequantize()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("weight %d: TTQ GPTQ (α=0, window 150) %g, GPTQQuantize %g", i, a[i], b[i])
		}
	}
}

// GPTQ on the demo model: q/k/v and gate/up share one factor per prompt,
// requests stay isolated, and clipping is refused.
func TestTTQGPTQOnDemo(t *testing.T) {
	o, _ := DefaultOptions("ttq")
	o.Format.Bits, o.TTQ.GPTQ = 3, true
	m := loadDemo(t)
	apply(t, m, "ttq", o, nil)
	checkRequestIsolation(t, m)
	q := m.Layers[0].Attn.Q.(*TTQLinear)
	if q.shared == nil || q.shared.fac == nil {
		t.Error("q/k/v did not share the prompt's GPTQ factor")
	}
	o.TTQ.Clip = true
	c, _ := New("ttq", o)
	if err := c.Apply(t.Context(), loadDemo(t), nil, nil); err == nil {
		t.Error("GPTQ with clipping accepted")
	}
}

// The knob reaches the options, the damping only where used, and the
// closed form's record is unchanged by it.
func TestResolveTTQGPTQ(t *testing.T) {
	o := DefaultMethodOptions()
	o.Method, o.Seed, o.GPTQDamp = "ttq", 9, 0.05
	_, plain, err := o.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if plain.TTQ.GPTQ || plain.TTQ.GPTQDamp != 0 {
		t.Fatalf("defaults resolve to variants: %+v", plain.TTQ)
	}
	if r := plain.TTQ.Record(); r["gptq"] != nil {
		t.Fatalf("closed form's record has the variants: %v", r)
	}
	o.TTQGPTQ = true
	_, q, err := o.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if !q.TTQ.GPTQ || q.TTQ.GPTQDamp != 0.05 {
		t.Fatalf("--ttq-gptq: %+v", q.TTQ)
	}
	if r := q.TTQ.Record(); r["gptq_damp"] != 0.05 {
		t.Fatalf("record: %v", r)
	}
	t.Log(q.TTQ)
	p := DefaultMethodOptions()
	p.Method, p.TTQPreset = "ttq", "gptq"
	if _, q, err = p.Resolve(); err != nil || !q.TTQ.GPTQ || q.TTQ.Alpha != 0 || q.TTQ.GPTQDamp != 0.01 || q.TTQ.Clip {
		t.Fatalf("--ttq-preset gptq: %+v, %v", q.TTQ, err)
	}
	o.TTQClip = true
	if _, _, err := o.Resolve(); err == nil {
		t.Error("--ttq-gptq with --ttq-clip accepted")
	}
}
