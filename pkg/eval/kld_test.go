package eval

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
)

// Two tokens. The reference says (1/2, 1/2) everywhere, the test model
// (1/4, 3/4), and the text is all token 1:
//
//	KL = ½·ln(½ ÷ ¼) + ½·ln(½ ÷ ¾) = ½·ln(4/3)
//	top token: reference 0 (first of a tie), test 1 → never the same
//	Δp = p_test(1) − p_ref(1) = ¾ − ½ = ¼, RMS Δp = ¼
//	PPL(test) = 4/3, PPL(ref) = 2, ln(PPL ratio) = ln(2/3)
func TestKLHandDerived(t *testing.T) {
	base := unigramScorer([]float32{0, 0})
	test := unigramScorer([]float32{0, float32(math.Log(3))})
	toks := make([]int, 48)
	for i := range toks {
		toks[i] = 1
	}
	w, err := MakeWindows(toks, ProtocolGPTQ, 4, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	kl, err := KLDivergence(context.Background(), base, test, w, Options{})
	if err != nil {
		t.Fatal(err)
	}
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-7 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	k := 0.5 * math.Log(4.0/3)
	near("mean KL", kl.Mean, k)
	near("max KL", kl.Max, k)
	near("median KL", kl.Median, k)
	near("min KL", kl.Min, k)
	near("mean KL stderr", kl.MeanStdErr, 0)
	near("same top", kl.SameTop, 0)
	near("mean Δp", kl.MeanDeltaP, 0.25)
	near("RMS Δp", kl.RMSDeltaP, 0.25)
	near("base PPL", kl.BasePPL, 2)
	near("ln PPL ratio", kl.LogPPLRatio, math.Log(2.0/3))
	near("PPL ratio", kl.PPLRatio, 2.0/3)
	if kl.Tokens != 12*3 {
		t.Errorf("%d tokens", kl.Tokens)
	}
	// The perplexity run that carries the KL has the test model's PPL.
	res, _ := Perplexity(context.Background(), test, w, base, Options{})
	near("PPL", res.PPL, 4.0/3)
	// Mismatched vocabularies are refused.
	if _, err := KLDivergence(context.Background(), uniformScorer(3), test, w, Options{}); err == nil {
		t.Error("different vocabularies: no error")
	}
}

func TestPercentile(t *testing.T) {
	s := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	for _, c := range []struct{ f, want float64 }{
		{0, 0}, {1, 9}, {0.5, 4.5}, {0.999, 8.991}, {0.1, 0.9}, {-1, 0}, {2, 9},
	} {
		if got := percentile(s, c.f); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("percentile(%v) = %v, want %v", c.f, got, c.want)
		}
	}
	if percentile([]float64{1, 3, 4}, 0.5) != 3 || percentile(nil, 0.5) != 0 {
		t.Error("median of an odd count / empty")
	}
}

// naiveKL is an independent computation over the same positions: plain
// softmax probabilities and Σ p·log(p/q).
func naiveKL(t *testing.T, base, test *model.Model, w *Windows) (meanKL float64, sameTop int, pplTest, pplBase float64, kls []float64) {
	t.Helper()
	var sumNLL, sumNLLBase float64
	for i := 0; i < w.N; i++ {
		win := w.Window(i, nil)
		lt, err := test.Forward(test.NewState(w.Ctx), win, model.AllLogits)
		if err != nil {
			t.Fatal(err)
		}
		lb, err := base.Forward(base.NewState(w.Ctx), win, model.AllLogits)
		if err != nil {
			t.Fatal(err)
		}
		v := test.Config.VocabSize
		probs := func(row []float32) []float64 {
			p := make([]float64, v)
			var z float64
			for k, x := range row {
				p[k] = math.Exp(float64(x))
				z += p[k]
			}
			for k := range p {
				p[k] /= z
			}
			return p
		}
		for j := w.First; j < w.Ctx-1; j++ {
			p := probs(lb[j*v : (j+1)*v])
			q := probs(lt[j*v : (j+1)*v])
			var kl float64
			for k := range p {
				kl += p[k] * math.Log(p[k]/q[k])
			}
			kls = append(kls, kl)
			if slices.Index(p, slices.Max(p)) == slices.Index(q, slices.Max(q)) {
				sameTop++
			}
			sumNLL -= math.Log(q[win[j+1]])
			sumNLLBase -= math.Log(p[win[j+1]])
		}
	}
	n := float64(len(kls))
	for _, k := range kls {
		meanKL += k
	}
	slices.Sort(kls)
	return meanKL / n, sameTop, math.Exp(sumNLL / n), math.Exp(sumNLLBase / n), kls
}

func loadTiny(t *testing.T, name string) *model.Model {
	t.Helper()
	m, err := model.Load(filepath.Join("..", "..", "testdata", "models", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// Two different tiny random models with the same vocabulary, on both
// protocols' positions, against the naive computation.
func TestKLTwoTinyModels(t *testing.T) {
	base, test := loadTiny(t, "tiny-llama2"), loadTiny(t, "tiny-qwen2")
	toks := randomTokens(200, 256, 9)
	for _, p := range []Protocol{ProtocolGPTQ, ProtocolLlamaCpp} {
		w, err := MakeWindows(toks, p, 64, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Perplexity(context.Background(), FromModel(test), w, FromModel(base), Options{Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		kl := res.KL
		mean, same, pplT, pplB, kls := naiveKL(t, base, test, w)
		if relErr(kl.Mean, mean) > 1e-9 || kl.Tokens != len(kls) || kl.SameTop != float64(same)/float64(len(kls)) {
			t.Errorf("%s: KL %v (%d tokens, same top %v), naive %v (%d, %v)", p, kl.Mean, kl.Tokens, kl.SameTop, mean, len(kls), float64(same)/float64(len(kls)))
		}
		if relErr(kl.Max, kls[len(kls)-1]) > 1e-9 || relErr(kl.Min, kls[0]) > 1e-6 || relErr(kl.Median, percentile(kls, 0.5)) > 1e-9 {
			t.Errorf("%s: KL max/median/min %v %v %v, naive %v %v %v", p, kl.Max, kl.Median, kl.Min, kls[len(kls)-1], percentile(kls, 0.5), kls[0])
		}
		if relErr(res.PPL, pplT) > 1e-9 || relErr(kl.BasePPL, pplB) > 1e-9 || relErr(kl.PPLRatio, pplT/pplB) > 1e-9 {
			t.Errorf("%s: PPL %v base %v, naive %v %v", p, res.PPL, kl.BasePPL, pplT, pplB)
		}
		if !(kl.Min <= kl.P0_1 && kl.P0_1 <= kl.P1 && kl.P1 <= kl.P5 && kl.P5 <= kl.P10 && kl.P10 <= kl.Median &&
			kl.Median <= kl.P90 && kl.P90 <= kl.P95 && kl.P95 <= kl.P99 && kl.P99 <= kl.P99_9 && kl.P99_9 <= kl.Max) {
			t.Errorf("%s: percentiles out of order: %+v", p, kl)
		}
		if kl.MeanStdErr <= 0 || kl.LogPPLRatioStdErr <= 0 {
			t.Errorf("%s: no uncertainty: %+v", p, kl)
		}
		// Same NLLs as a plain perplexity run.
		plain, _ := Perplexity(context.Background(), FromModel(test), w, nil, Options{})
		if relErr(plain.PPL, res.PPL) > 1e-12 {
			t.Errorf("%s: PPL with KL %v, without %v", p, res.PPL, plain.PPL)
		}
	}
}

// perturbedDemo returns the demo model with its LM head's weights scaled by
// (1 + ε·noise).
func perturbedDemo(t *testing.T, eps float64) *model.Model {
	t.Helper()
	m, _, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	site := model.Site{Layer: -1, Name: "lm_head"}
	l, err := m.Linear(site)
	if err != nil {
		t.Fatal(err)
	}
	d := l.(*model.Dense)
	w := make([]float32, d.W.Rows*d.W.Cols)
	d.W.RowsTo(w, 0, d.W.Rows)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range w {
		w[i] *= float32(1 + eps*r.NormFloat64())
	}
	if err := m.SetLinear(site, &model.Dense{W: kernels.NewWeightsF32(d.W.Rows, d.W.Cols, w)}); err != nil {
		t.Fatal(err)
	}
	return m
}

// The demo against itself has KL exactly 0 and full top-token agreement;
// against perturbed copies the divergence grows with the perturbation.
func TestKLDemoPerturbed(t *testing.T) {
	base, tok, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	txt, _ := WikiText("test", ProtocolLlamaCpp)
	toks, bos, err := TokenizeText(tok, txt.Text[:20000], ProtocolLlamaCpp, BOSAuto)
	if err != nil {
		t.Fatal(err)
	}
	w, err := MakeWindows(toks, ProtocolLlamaCpp, 128, 3, bos)
	if err != nil {
		t.Fatal(err)
	}
	self, err := KLDivergence(context.Background(), FromModel(base), FromModel(base), w, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if self.Mean != 0 || self.Max != 0 || self.SameTop != 1 || self.LogPPLRatio != 0 || self.RMSDeltaP != 0 {
		t.Fatalf("model against itself: %+v", self)
	}
	prev := 0.0
	for _, eps := range []float64{0.01, 0.1, 0.5} {
		kl, err := KLDivergence(context.Background(), FromModel(base), FromModel(perturbedDemo(t, eps)), w, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !(kl.Mean > prev) || kl.SameTop > 1 || kl.Min < -1e-12 {
			t.Fatalf("ε = %v: KL %v (previous %v), same top %v", eps, kl.Mean, prev, kl.SameTop)
		}
		prev = kl.Mean
	}
}
