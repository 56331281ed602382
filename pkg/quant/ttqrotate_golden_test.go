package quant

import (
	"math"
	"testing"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/transform"
)

// rotateGolden holds the outputs of scripts/golden/ttq/ref_rotate.py: a
// one-layer model's weights before and after the fold and rotation, the
// rotation, and TTQ's closed form on the rotated q_proj.
type rotateGolden struct {
	Hidden, Heads, Intermediate, Vocab, Bits, Group, Tokens int
	KVHeads                                                 int `json:"kv_heads"`
	HeadDim                                                 int `json:"head_dim"`
	Alpha                                                   float64
	Lambda                                                  float64 `json:"lambda"`
	Signs                                                   []float64
	Rotation                                                []float64
	Weights, Rotated                                        map[string][]float32
	X                                                       []float32
	XRotated                                                []float32 `json:"x_rotated"`
	TTQQ                                                    []float32 `json:"ttq_q"`
}

// model builds the golden's one-layer model in memory (tied embeddings,
// o_proj and down_proj with biases).
func (g *rotateGolden) model() *model.Model {
	w := g.Weights
	h, qd, kvd := g.Hidden, g.Heads*g.HeadDim, g.KVHeads*g.HeadDim
	dense := func(name string, rows, cols int, bias string) *model.Dense {
		return denseF32(append([]float32(nil), w[name]...), rows, cols, w[bias])
	}
	embed := kernels.NewWeightsF32(g.Vocab, h, append([]float32(nil), w["embed"]...))
	return &model.Model{
		Config: model.Config{HiddenSize: h, NumHeads: g.Heads, NumKVHeads: g.KVHeads, HeadDim: g.HeadDim,
			IntermediateSize: g.Intermediate, VocabSize: g.Vocab, NumLayers: 1, TieWordEmbeddings: true},
		Embed: embed,
		Layers: []model.Layer{{
			AttnNorm: w["attn_norm"],
			Attn: model.Attention{Q: dense("q", qd, h, ""), K: dense("k", kvd, h, ""), V: dense("v", kvd, h, ""),
				O: dense("o", h, qd, "o_bias")},
			MLPNorm: w["mlp_norm"],
			MLP:     model.MLP{Gate: dense("gate", g.Intermediate, h, ""), Up: dense("up", g.Intermediate, h, ""), Down: dense("down", h, g.Intermediate, "down_bias")},
		}},
		Norm:   w["norm"],
		LMHead: &model.Dense{W: embed},
	}
}

// TestGoldenRotate checks the rotation against the numpy reference: the
// Hadamard rotation from the golden's signs, every folded and rotated
// weight and bias (float64 products stored as float32, so within a few
// float32 ulps), the untied embedding, and TTQ's closed form on the
// rotated q_proj with the rotated prompt.
func TestGoldenRotate(t *testing.T) {
	var g rotateGolden
	readTestJSON(t, "testdata/ttq_rotate.json", &g)
	q, err := transform.HadamardRotation(g.Signs)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range g.Rotation {
		if math.Abs(q[i]-v) > 1e-15 {
			t.Fatalf("rotation entry %d: %g, reference %g", i, q[i], v)
		}
	}
	m := g.model()
	if err := transform.Rotate(m, q); err != nil {
		t.Fatal(err)
	}
	l := m.Layers[0]
	weights := func(lin model.Linear) ([]float32, []float32) {
		d := lin.(*model.Dense)
		w := make([]float32, d.W.Rows*d.W.Cols)
		d.W.RowsTo(w, 0, d.W.Rows)
		return w, d.Bias
	}
	embed := make([]float32, m.Embed.Rows*m.Embed.Cols)
	m.Embed.RowsTo(embed, 0, m.Embed.Rows)
	got := map[string][]float32{"embed": embed}
	for name, lin := range map[string]model.Linear{"q": l.Attn.Q, "k": l.Attn.K, "v": l.Attn.V, "o": l.Attn.O,
		"gate": l.MLP.Gate, "up": l.MLP.Up, "down": l.MLP.Down, "lm_head": m.LMHead} {
		got[name], got[name+"_bias"] = weights(lin)
	}
	for name, want := range g.Rotated {
		compareWeights(t, name, got[name], want, 1e-6, 0)
	}
	for _, n := range [][]float32{l.AttnNorm, l.MLPNorm, m.Norm} {
		for _, v := range n {
			if v != 1 {
				t.Fatalf("a norm was not folded: %v", n)
			}
		}
	}
	// The prompt rotated in Go, then TTQ on the rotated q_proj.
	h := g.Hidden
	x := make([]float32, g.Tokens*h)
	for r := range g.Tokens {
		for j := range h {
			var s float64
			for i := range h {
				s += float64(g.X[r*h+i]) * q[i*h+j]
			}
			x[r*h+j] = float32(s)
		}
	}
	compareWeights(t, "X·Q", x, g.XRotated, 1e-6, 0)
	o := DefaultTTQOptions()
	o.Alpha, o.Lambda = g.Alpha, g.Lambda
	tl, err := NewTTQLinear(l.Attn.Q.(*model.Dense), Format{Bits: g.Bits, Group: g.Group, Grid: GridMinMax, Scale: ScaleF32}, o)
	if err != nil {
		t.Fatal(err)
	}
	compareWeights(t, "ttq q_proj", effectiveTTQ(t, tl, x, g.Tokens), g.TTQQ, 1e-6, 0)
}
