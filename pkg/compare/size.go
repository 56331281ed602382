package compare

import (
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/quant"
)

// modelBytes is the resident size of all weights: embedding, LM head (when
// not tied), norms and every linear layer as it is now stored. fpBytes
// gives the full-precision size of layers compare cannot see inside
// (test-time layers keep their full-precision weights).
func modelBytes(m *model.Model, fpBytes map[model.Site]int64) int64 {
	n := int64(m.Embed.Bytes())
	if d, ok := m.LMHead.(*model.Dense); !ok || len(d.W.Data) == 0 || &d.W.Data[0] != &m.Embed.Data[0] {
		n += linearBytes(m.LMHead, fpBytes[model.Site{Layer: -1, Name: "lm_head"}])
	}
	n += 4 * int64(len(m.Norm))
	for i, l := range m.Layers {
		n += 4 * int64(len(l.AttnNorm)+len(l.MLPNorm)+len(l.Attn.QNorm)+len(l.Attn.KNorm))
		for _, name := range model.LayerLinearNames {
			s := model.Site{Layer: i, Name: name}
			lin, err := m.Linear(s)
			if err == nil {
				n += linearBytes(lin, fpBytes[s])
			}
		}
	}
	return n
}

func linearBytes(l model.Linear, fp int64) int64 {
	switch q := l.(type) {
	case *model.Dense:
		return int64(q.W.Bytes()) + 4*int64(len(q.Bias))
	case *quant.QLinear:
		return q.Format.StorageBytes(q.Rows, q.Cols) + 4*int64(len(q.GIdx)+len(q.InScale)+len(q.Bias))
	}
	return fp
}

func siteBytes(m *model.Model) map[model.Site]int64 {
	out := map[model.Site]int64{}
	for _, s := range m.Sites() {
		if l, err := m.Linear(s); err == nil {
			out[s] = linearBytes(l, 0)
		}
	}
	return out
}

// fpBitsPerWeight is the stored element width of the decoder's linear
// weights.
func fpBitsPerWeight(m *model.Model) float64 {
	var bits, n float64
	for i := range m.Layers {
		for _, name := range model.LayerLinearNames {
			if l, err := m.Linear(model.Site{Layer: i, Name: name}); err == nil {
				if d, ok := l.(*model.Dense); ok {
					w := float64(d.W.Rows * d.W.Cols)
					bits += 8 * float64(d.W.Elem.Size()) * w
					n += w
				}
			}
		}
	}
	if n == 0 {
		return 0
	}
	return bits / n
}
