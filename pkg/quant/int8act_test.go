package quant

import (
	"math"
	"testing"

	"github.com/ttqproject/ttq/pkg/eval"
	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
)

// nll is the mean negative log-likelihood of tokens[i+1] given the logits
// of position i.
func nll(lg []float32, vocab int, next []int) float64 {
	var s float64
	for i, id := range next {
		row := lg[i*vocab : (i+1)*vocab]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = max(mx, float64(v))
		}
		var z float64
		for _, v := range row {
			z += math.Exp(float64(v) - mx)
		}
		s += mx + math.Log(z) - float64(row[id])
	}
	return s / float64(len(next))
}

// TestInt8ActivationsDecodePerplexity measures what the int8-activation
// decode path costs in quality: the demo model quantized with RTN (4-bit,
// groups of 32) scores WikiText-2 token by token (m = 1, the decode
// kernels; perplexity windows are prefills and never reach them) with
// float32 and with int8 activations. The decode perplexity with float32
// activations must equal the prefill's, and int8 activations may move it by
// at most 0.5%.
func TestInt8ActivationsDecodePerplexity(t *testing.T) {
	m, tok, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	fp := loadDemo(t)
	defer fp.Close()
	o := mustDefault("rtn")
	o.Format.Group = 32
	apply(t, m, "rtn", o, nil)
	raw, err := eval.WikiTextRaw("test")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := tok.Encode(string(raw[:8000]), true)
	if err != nil {
		t.Fatal(err)
	}
	ids = ids[:min(len(ids), 300)]
	v := m.Config.VocabSize

	m.BeginRequest()
	all, err := m.Forward(m.NewState(len(ids)), ids, model.AllLogits)
	if err != nil {
		t.Fatal(err)
	}
	prefill := nll(all, v, ids[1:])
	fpAll := logits(t, fp, ids)
	full := nll(fpAll, v, ids[1:])

	decode := func(i8 bool) float64 {
		old := kernels.SetInt8Activations(i8)
		defer kernels.SetInt8Activations(old)
		st := m.NewState(len(ids))
		lg := make([]float32, 0, (len(ids)-1)*v)
		for i := 0; i < len(ids)-1; i++ {
			out, err := m.Forward(st, ids[i:i+1], model.LastLogits)
			if err != nil {
				t.Fatal(err)
			}
			lg = append(lg, out...)
		}
		return nll(lg, v, ids[1:])
	}
	f32, i8 := decode(false), decode(true)
	t.Logf("%d tokens: perplexity fp32 %.4f; RTN 4-bit g32 prefill %.4f, decode f32 %.4f, decode i8 %.4f (%+.3f%%)",
		len(ids)-1, math.Exp(full), math.Exp(prefill), math.Exp(f32), math.Exp(i8), 100*(math.Exp(i8-f32)-1))
	if math.Abs(f32-prefill) > 1e-4 {
		t.Fatalf("decode NLL %g differs from prefill NLL %g", f32, prefill)
	}
	if math.Abs(i8-f32) > math.Log(1.005) {
		t.Fatalf("int8 activations move the perplexity from %g to %g", math.Exp(f32), math.Exp(i8))
	}
	if i8 == f32 {
		t.Fatal("int8 activations did not change the decode path at all")
	}
}
