package quant

import (
	"math"
	"os"
	"testing"

	"github.com/ttqproject/ttq/internal/shareddata"
	"github.com/ttqproject/ttq/pkg/eval"
	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/llama2c"
	"github.com/ttqproject/ttq/pkg/model/tokenizer"
)

// nll is the mean negative log-likelihood of tokens[i+1] given the logits
// of position i.
func nll(lg []float32, vocab int, next []int) float64 {
	var s float64
	for i, id := range next {
		row := lg[i*vocab : (i+1)*vocab]
		s += logSumExp(row) - float64(row[id])
	}
	return s / float64(len(next))
}

// logSumExp is log Σ exp(row[i]), computed in float64 from the maximum.
func logSumExp(row []float32) float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = max(mx, float64(v))
	}
	var z float64
	for _, v := range row {
		z += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(z)
}

// klDiv is the mean over positions of KL(p ‖ q) between the softmax
// distributions of two logit matrices (rows × vocab), in nats.
func klDiv(p, q []float32, vocab int) float64 {
	rows := len(p) / vocab
	logSoftmax := func(row []float32, out []float64) {
		lz := logSumExp(row)
		for i, v := range row {
			out[i] = float64(v) - lz
		}
	}
	lp, lq := make([]float64, vocab), make([]float64, vocab)
	var s float64
	for r := 0; r < rows; r++ {
		logSoftmax(p[r*vocab:(r+1)*vocab], lp)
		logSoftmax(q[r*vocab:(r+1)*vocab], lq)
		for i := range lp {
			s += math.Exp(lp[i]) * (lp[i] - lq[i])
		}
	}
	return s / float64(rows)
}

// int8Cost is what the int8-activation decode path costs on one model:
// q (quantized with RTN 4-bit g32) scores ids token by token (m = 1, the
// decode kernels; perplexity windows are prefills and never reach them)
// with float32 and with int8 activations, against its own prefill and
// against the full-precision model fp.
type int8Cost struct {
	tokens                             int
	pplFull, pplPrefill, pplF32, pplI8 float64
	klF32, klI8                        float64 // KL(full precision ‖ decode)
	maxPrefillDiff                     float64 // max |logit| difference, f32 decode vs prefill
}

func measureInt8Cost(t *testing.T, fp, q *model.Model, ids []int) int8Cost {
	t.Helper()
	o := mustDefault("rtn")
	o.Format.Group = 32
	apply(t, q, "rtn", o, nil)
	v := q.Config.VocabSize
	next := ids[1:]
	prefillAll := logits(t, q, ids)
	fpAll := logits(t, fp, ids)
	decode := func(i8 bool) []float32 {
		old := kernels.SetInt8Activations(i8)
		defer kernels.SetInt8Activations(old)
		q.BeginRequest()
		st := q.NewState(len(ids))
		lg := make([]float32, 0, len(next)*v)
		for i := range next {
			out, err := q.Forward(st, ids[i:i+1], model.LastLogits)
			if err != nil {
				t.Fatal(err)
			}
			lg = append(lg, out...)
		}
		return lg
	}
	f32, i8 := decode(false), decode(true)
	n := len(next) * v
	c := int8Cost{tokens: len(next),
		pplFull: math.Exp(nll(fpAll, v, next)), pplPrefill: math.Exp(nll(prefillAll, v, next)),
		pplF32: math.Exp(nll(f32, v, next)), pplI8: math.Exp(nll(i8, v, next)),
		klF32: klDiv(fpAll[:n], f32, v), klI8: klDiv(fpAll[:n], i8, v)}
	for i, x := range f32 {
		c.maxPrefillDiff = max(c.maxPrefillDiff, math.Abs(float64(x-prefillAll[i])))
	}
	t.Logf("%d tokens: perplexity fp32 %.4f; RTN 4-bit g32 prefill %.4f, decode f32 %.4f, decode i8 %.4f (%+.3f%%); KL to fp32: decode f32 %.5f, i8 %.5f nats; max |decode f32 − prefill| %.2g",
		c.tokens, c.pplFull, c.pplPrefill, c.pplF32, c.pplI8, 100*(c.pplI8/c.pplF32-1), c.klF32, c.klI8, c.maxPrefillDiff)
	if c.pplI8 == c.pplF32 {
		t.Fatal("int8 activations did not change the decode path at all")
	}
	return c
}

// checkInt8Cost holds the stated tolerances (README, "Kernels"): float32
// decoding agrees with the prefill within 1e-4 NLL and 1e-3 per logit;
// int8 activations move the decode perplexity by at most 0.5 % and add at
// most 0.002 nats of KL divergence to full precision.
func checkInt8Cost(t *testing.T, c int8Cost) {
	t.Helper()
	if math.Abs(math.Log(c.pplF32/c.pplPrefill)) > 1e-4 || c.maxPrefillDiff > 1e-3 {
		t.Fatalf("decode perplexity %g / logits differ from prefill %g by up to %g", c.pplF32, c.pplPrefill, c.maxPrefillDiff)
	}
	if math.Abs(math.Log(c.pplI8/c.pplF32)) > math.Log(1.005) {
		t.Fatalf("int8 activations move the perplexity from %g to %g", c.pplF32, c.pplI8)
	}
	if c.klI8-c.klF32 > 0.002 {
		t.Fatalf("int8 activations add %.5f nats of KL divergence (f32 decode %.5f, i8 %.5f)", c.klI8-c.klF32, c.klF32, c.klI8)
	}
}

func TestInt8ActivationsDecodeCostDemo(t *testing.T) {
	q, tok, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	fp := loadDemo(t)
	defer fp.Close()
	checkInt8Cost(t, measureInt8Cost(t, fp, q, wikiTokens(t, tok, 300)))
}

// babyllama (METHODS' second real model) imported from its llama2.c file.
func TestInt8ActivationsDecodeCostBabyllama(t *testing.T) {
	load, tok := babyllama(t)
	fp, q := load(), load()
	defer fp.Close()
	defer q.Close()
	checkInt8Cost(t, measureInt8Cost(t, fp, q, wikiTokens(t, tok, min(300, q.Config.MaxPositions))))
}

// babyllama imports models/babyllama-tok105 from the shared data (skipping
// where it is absent) and returns a loader of fresh copies and the
// tokenizer.
func babyllama(t *testing.T) (func() *model.Model, *tokenizer.Tokenizer) {
	t.Helper()
	dir := t.TempDir()
	if _, err := llama2c.Convert(shareddata.Path(t, "models/babyllama-tok105/model5000.bin"), dir); err != nil {
		t.Fatal(err)
	}
	spm, err := os.ReadFile(shareddata.Path(t, "models/babyllama-tok105/tok105.model"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := tokenizer.ConvertSentencePiece(spm)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromJSON(files.TokenizerJSON, files.TokenizerConfigJSON)
	if err != nil {
		t.Fatal(err)
	}
	return func() *model.Model {
		m, err := model.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}, tok
}

func wikiTokens(t *testing.T, tok *tokenizer.Tokenizer, n int) []int {
	t.Helper()
	raw, err := eval.WikiTextRaw("test")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := tok.Encode(string(raw[:8000]), true)
	if err != nil {
		t.Fatal(err)
	}
	return ids[:min(len(ids), n)]
}
