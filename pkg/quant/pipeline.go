package quant

import (
	"context"
	"fmt"

	"github.com/ttqproject/ttq/internal/offheap"
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
// position 0, and returns the layer's output in new memory. With attnOnly
// the MLP is skipped and the output is nil: only the taps see anything.
func runLayer(m *model.Model, layer model.Layer, xin []float32, t int, tp taps, attnOnly bool) ([]float32, error) {
	return new(layerRunner).run(m, layer, xin, t, tp, attnOnly)
}

// layerRunner is runLayer for a loop over calibration sequences: it keeps
// the forward state and the output between calls. A fresh state per call
// was most of GPTQ's garbage (its t × intermediate scratch, 20 MB a call on
// the TinyLlama shape, 0.6 GB per layer at 16 × 512 tokens), and garbage
// is what the collector's headroom multiplies.
type layerRunner struct {
	st              *model.State
	toks            []int
	oOut, dOut, out []float32
}

// advance replaces each sequence's hidden states in inps by layer's
// outputs on them, in place (the calibration activations stay one array
// outside the heap), with tp seeing every linear's inputs and outputs on
// the way.
func (r *layerRunner) advance(ctx context.Context, m *model.Model, layer model.Layer, inps [][]float32, calib [][]int, tp taps) error {
	for i, x := range inps {
		if err := ctx.Err(); err != nil {
			return err
		}
		out, err := r.run(m, layer, x, len(calib[i]), tp, false)
		if err != nil {
			return err
		}
		copy(x, out)
	}
	return nil
}

// release drops the state and buffers until the next run.
func (r *layerRunner) release() { *r = layerRunner{} }

// run is runLayer; the output it returns is overwritten by the next call.
func (r *layerRunner) run(m *model.Model, layer model.Layer, xin []float32, t int, tp taps, attnOnly bool) ([]float32, error) {
	h := m.Config.HiddenSize
	if len(xin) != t*h {
		panic("quant: runLayer hidden states of the wrong size")
	}
	r.oOut, r.dOut = r.oOut[:0], r.dOut[:0]
	for _, name := range model.LayerLinearNames {
		p := layerLinear(&layer, name)
		tl := &tapLinear{Linear: *p, in: tp.in[name], out: tp.out[name]}
		switch name {
		case "self_attn.o_proj":
			user := tl.out
			tl.out = func(y []float32, rows int) {
				r.oOut = append(r.oOut[:0], y...)
				if user != nil {
					user(y, rows)
				}
			}
		case "mlp.down_proj":
			user := tl.out
			tl.out = func(y []float32, rows int) {
				r.dOut = append(r.dOut[:0], y...)
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
	for len(r.toks) < t {
		r.toks = append(r.toks, len(r.toks))
	}
	if r.st == nil || r.st.Capacity() < t {
		r.st = view.NewState(t)
	}
	r.st.Reset()
	if _, err := view.Forward(r.st, r.toks[:t], model.LastLogits); err != nil {
		return nil, err
	}
	if attnOnly {
		return nil, nil
	}
	if len(r.oOut) != t*h || len(r.dOut) != t*h {
		return nil, fmt.Errorf("quant: layer run produced no output")
	}
	r.out = append(r.out[:0], xin...)
	kernels.Add(r.out, r.oOut)
	kernels.Add(r.out, r.dOut)
	return r.out, nil
}

// embedAll returns the embeddings of each calibration sequence, as slices
// of one array outside the Go heap (a layer's calibration activations are
// the largest long-lived allocation of a calibration; see package offheap)
// that the caller frees when the last layer is done.
func embedAll(m *model.Model, calib [][]int) ([][]float32, *offheap.Array[float32], error) {
	h := m.Config.HiddenSize
	total := 0
	for i, seq := range calib {
		if len(seq) == 0 {
			return nil, nil, fmt.Errorf("quant: calibration sequence %d is empty", i)
		}
		for _, id := range seq {
			if id < 0 || id >= m.Config.VocabSize {
				return nil, nil, fmt.Errorf("quant: calibration token %d out of range [0, %d)", id, m.Config.VocabSize)
			}
		}
		total += len(seq)
	}
	mem, err := offheap.New[float32](total * h)
	if err != nil {
		return nil, nil, fmt.Errorf("quant: calibration activations: %w", err)
	}
	out := make([][]float32, len(calib))
	off := 0
	for i, seq := range calib {
		x := mem.S[off : off+len(seq)*h : off+len(seq)*h]
		off += len(x)
		for j, id := range seq {
			m.Embed.Row(x[j*h:(j+1)*h], id)
		}
		out[i] = x
	}
	return out, mem, nil
}
