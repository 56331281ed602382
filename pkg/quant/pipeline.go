package quant

import (
	"fmt"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
)

// Static calibration runs the model one decoder layer at a time over cached
// hidden states, so that only one layer's activations are in memory. The
// layer is run by the model's own Forward on a one-layer view of the model
// whose "embedding" is the cached hidden states (token i of the view is row
// i of the states): attention, RoPE, GQA, Qwen3's q/k norms and biases are
// exactly the model's code, and the layer output is rebuilt from the two
// residual branches as the model adds them.

// tapLinear shows a linear layer's input and output to callbacks.
type tapLinear struct {
	model.Linear
	in  func(x []float32, rows int)
	out func(y []float32, rows int)
}

func (t *tapLinear) Forward(dst, x []float32, rows int) {
	if t.in != nil {
		t.in(x[:rows*t.In()], rows)
	}
	t.Linear.Forward(dst, x, rows)
	if t.out != nil {
		t.out(dst[:rows*t.Out()], rows)
	}
}

// nopLinear has a shape and computes nothing: it cuts off the parts of a
// layer whose result a search does not look at.
type nopLinear struct{ in, out int }

func (n nopLinear) In() int                     { return n.in }
func (n nopLinear) Out() int                    { return n.out }
func (nopLinear) Forward(_, _ []float32, _ int) {}

// taps maps linear names ("self_attn.q_proj", ...) to input and output
// callbacks. Callbacks must copy what they keep: the buffers are reused.
type taps struct {
	in  map[string]func(x []float32, rows int)
	out map[string]func(y []float32, rows int)
}

func layerLinear(l *model.Layer, name string) *model.Linear {
	switch name {
	case "self_attn.q_proj":
		return &l.Attn.Q
	case "self_attn.k_proj":
		return &l.Attn.K
	case "self_attn.v_proj":
		return &l.Attn.V
	case "self_attn.o_proj":
		return &l.Attn.O
	case "mlp.gate_proj":
		return &l.MLP.Gate
	case "mlp.up_proj":
		return &l.MLP.Up
	case "mlp.down_proj":
		return &l.MLP.Down
	}
	panic("quant: unknown linear " + name)
}

// runLayer runs decoder layer `layer` of m (possibly a modified copy of
// m.Layers[i]) on one sequence's hidden states xin (t × hidden) from
// position 0, and returns the layer's output. With attnOnly the MLP is
// skipped and the output is nil: only the taps see anything.
func runLayer(m *model.Model, layer model.Layer, xin []float32, t int, tp taps, attnOnly bool) ([]float32, error) {
	h := m.Config.HiddenSize
	if len(xin) != t*h {
		panic("quant: runLayer hidden states of the wrong size")
	}
	var oOut, dOut []float32
	for _, name := range model.LayerLinearNames {
		p := layerLinear(&layer, name)
		tl := &tapLinear{Linear: *p, in: tp.in[name], out: tp.out[name]}
		switch name {
		case "self_attn.o_proj":
			user := tl.out
			tl.out = func(y []float32, rows int) {
				oOut = append(oOut[:0], y...)
				if user != nil {
					user(y, rows)
				}
			}
		case "mlp.down_proj":
			user := tl.out
			tl.out = func(y []float32, rows int) {
				dOut = append(dOut[:0], y...)
				if user != nil {
					user(y, rows)
				}
			}
		}
		if attnOnly && (name == "mlp.gate_proj" || name == "mlp.up_proj" || name == "mlp.down_proj") {
			*p = nopLinear{(*p).In(), (*p).Out()}
			continue
		}
		*p = tl
	}
	view := *m
	view.Layers = []model.Layer{layer}
	view.Config.NumLayers = 1
	view.Config.VocabSize = t
	view.Embed = kernels.NewWeightsF32(t, h, xin)
	view.LMHead = nopLinear{h, t}
	toks := make([]int, t)
	for i := range toks {
		toks[i] = i
	}
	if _, err := view.Forward(view.NewState(t), toks, model.LastLogits); err != nil {
		return nil, err
	}
	if attnOnly {
		return nil, nil
	}
	if len(oOut) != t*h || len(dOut) != t*h {
		return nil, fmt.Errorf("quant: layer run produced no output")
	}
	out := append([]float32(nil), xin...)
	kernels.Add(out, oOut)
	kernels.Add(out, dOut)
	return out, nil
}

// embedAll returns the embeddings of each calibration sequence.
func embedAll(m *model.Model, calib [][]int) ([][]float32, error) {
	h := m.Config.HiddenSize
	out := make([][]float32, len(calib))
	for i, seq := range calib {
		if len(seq) == 0 {
			return nil, fmt.Errorf("quant: calibration sequence %d is empty", i)
		}
		x := make([]float32, len(seq)*h)
		for j, id := range seq {
			if id < 0 || id >= m.Config.VocabSize {
				return nil, fmt.Errorf("quant: calibration token %d out of range [0, %d)", id, m.Config.VocabSize)
			}
			m.Embed.Row(x[j*h:(j+1)*h], id)
		}
		out[i] = x
	}
	return out, nil
}
